"""Enrolled households over HTTP: import existing recipients, start a region's monthly cycle, read a
household's enrolment, and (service accounts) stream a cycle's payment roll."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.intake import enrolment, registry
from services.intake.cohort import require_service
from services.intake.models import CycleSchedule, CycleStarted, ImportLine, ImportResult
from services.intake.store import exports, roster
from services.intake.store.roster import CycleView, EnrolmentView
from shared.auth import Principal, Role, require_jurisdiction, require_roles, visible_to
from shared.config import TASK_QUEUE_WORKFLOWS
from shared.infra.db import unit_of_work
from shared.policy import load_library, monthly_benefit
from workflows.benefit_cycle.inputs import REGION_PREFIX, CycleInput, cycle_id_for
from workflows.renewal.inputs import Household, cadence_of

router = APIRouter(prefix="/api/enrolments", tags=["enrolments"])

def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


def _temporal(request: Request) -> Client:
    return request.app.state.runtime.temporal


def _imported_household(line: ImportLine) -> Household:
    """The renewal workflow's view of an imported household at ``enrolled_from`` (its head first)."""
    return enrolment.household_from_registry(
        [m.model_dump() for m in line.household.members], monthly_income_fen=line.household.monthly_income_fen,
        urban=line.household.urban, extreme_poverty=line.kind == "extreme_poverty",
        income_stable=line.income_stable, on=_first_day(line.enrolled_from), remote=line.household.remote,
        categories=[str(c) for c in line.household.categories],
    ).model_copy(update={"monthly_rigid_expenditure_fen": line.monthly_rigid_expenditure_fen,
                         "single_person": line.single_person})


def _first_day(period: str) -> date:
    return date.fromisoformat(period + "-01")


def _line_level(line: ImportLine) -> tuple[int | None, str]:
    if line.level_fen is not None:
        return line.level_fen, ""
    b = monthly_benefit(load_library(), line.household.region_code, _first_day(line.enrolled_from),
                        _imported_household(line).benefit_facts())
    return (b.amount_fen, "") if b.payable else (None, b.reason)


def _first_review(line: ImportLine, cadence: str) -> str | None:
    months = enrolment.whole_figure(f"review_interval_{cadence}_months", line.household.region_code,
                                    _first_day(line.enrolled_from))
    return enrolment.add_months(line.enrolled_from, months) if months else None


class LineTooLong(Exception):
    def __init__(self, line: int, limit: int):
        super().__init__(f"line {line} is longer than {limit} bytes")
        self.line = line
        self.limit = limit


async def ndjson_lines(chunks: AsyncIterator[bytes], max_line: int) -> AsyncIterator[tuple[int, bytes]]:
    """The numbered lines of an NDJSON body as it streams in: at most one line (and one chunk) in memory;
    a line longer than ``max_line`` raises ``LineTooLong`` and nothing more is read."""
    pending, n = b"", 0
    async for chunk in chunks:
        data, start = pending + chunk, 0
        while (end := data.find(b"\n", start)) >= 0:
            n += 1
            if end - start > max_line:
                raise LineTooLong(n, max_line)
            yield n, data[start:end]
            start = end + 1
        pending = data[start:]
        if len(pending) > max_line:
            raise LineTooLong(n + 1, max_line)
    if pending.strip():
        yield n + 1, pending


def _checked_line(raw: bytes, principal: Principal) -> tuple[ImportLine, int] | list[dict[str, Any]]:
    """The line and its level, or what is wrong with it."""
    try:
        line = ImportLine.model_validate(json.loads(raw))
    except ValidationError as exc:
        return [dict(e) for e in exc.errors(include_url=False, include_input=False)]
    except ValueError as exc:
        return [{"msg": f"not JSON: {exc}"}]
    if not principal.may_see(line.household.region_code):
        return [{"loc": ["household", "region_code"], "msg": "outside your jurisdiction"}]
    level, why = _line_level(line)
    if level is None:
        return [{"loc": ["level_fen"], "msg": f"not payable: {why}"}]
    return line, level


async def _enrol(conn: asyncpg.Connection, line: ImportLine, level: int) -> bool:
    """Enrol one imported household (already registered); True when newly enrolled. The standard it is
    priced at is the one in force at enrolled_from, where the level is computed; the facts it is computed
    from are kept, so a raised standard (提标) reprices them exactly."""
    h = _imported_household(line)
    cadence = cadence_of(h)
    return await roster.enrol_imported(
        conn, household_id=line.household.household_id,
        enrolment_id=enrolment.enrolment_id_for_import(line.household.household_id), person_id=h.members[0].person_id,
        kind=line.kind, level_fen=level, cadence=cadence, rural_quarterly=line.rural_quarterly,
        next_review=line.next_review or _first_review(line, cadence), paid_through=line.paid_through,
        enrolled_from=line.enrolled_from, rigid_fen=line.monthly_rigid_expenditure_fen,
        single_person=line.single_person,
        priced=enrolment.priced_standard(line.household.region_code, line.household.urban, line.kind,
                                         line.enrolled_from),
        facts=h.benefit_facts())


@router.post("/import", response_model=ImportResult,
             summary="Import existing recipient households (NDJSON, one ImportLine per line); all or nothing; "
                     "streamed (64 MB, 64 KB a line by default: 413 beyond)")
async def import_enrolments(
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(Role.county_approver, Role.admin, Role.service))],
    pool: Annotated[asyncpg.Pool, Depends(_pool)],
) -> ImportResult:
    # An authorised roster import: it registers households with the categories that carry money. The body
    # is read line by line as it arrives and each line written at once, in one transaction rolled back if
    # any line is refused (all or nothing), so memory holds one line whatever the file's size.
    settings = request.app.state.runtime.settings
    by = registry.Registrar(subject=principal.subject, role=str(principal.role), region=principal.region,
                            roster=True)
    errors: list[dict] = []
    refused = lines = enrolled = 0
    try:
        async with unit_of_work(pool) as conn:
            async for n, raw in ndjson_lines(request.stream(), settings.max_import_line_bytes):
                if not raw.strip():
                    continue
                checked = _checked_line(raw, principal)
                if isinstance(checked, tuple):
                    line, level = checked
                    try:
                        async with conn.transaction():  # a savepoint: a refused line leaves nothing behind
                            await registry.register(conn, line.household, by)
                            enrolled += await _enrol(conn, line, level)
                        lines += 1
                        continue
                    except registry.RegistrationRefused as exc:
                        checked = [{"loc": ["household", *exc.loc[1:]], "msg": exc.msg}]
                refused += 1
                if len(errors) < 200:
                    errors.append({"line": n, "errors": checked})
            if refused:
                raise HTTPException(422, {"message": f"{refused} line(s) refused; nothing imported", "lines": errors})
    except LineTooLong as exc:
        raise HTTPException(413, f"第 {exc.line} 行超过 {exc.limit} 字节的上限，未导入任何内容"
                                 f" (line {exc.line} is longer than {exc.limit} bytes; nothing imported)",
                            headers={"connection": "close"}) from None  # the rest is never read
    return ImportResult(lines=lines, enrolled=enrolled, already_enrolled=lines - enrolled)


@router.post("/cycles", status_code=202, response_model=CycleStarted,
             summary="Start a region's monthly cycle for a period: set-based review and payment (idempotent)")
async def start_cycle(
    cycle: CycleInput,
    principal: Annotated[Principal, Depends(require_roles(Role.county_approver, Role.admin, Role.service))],
    temporal: Annotated[Client, Depends(_temporal)],
) -> CycleStarted:
    if cycle.period is None:
        raise HTTPException(422, [{"loc": ["body", "period"], "msg": "give the period (YYYY-MM)"}])
    require_jurisdiction(principal, cycle.region_prefix)
    cid = cycle_id_for(cycle.region_prefix, cycle.period)
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await temporal.start_workflow("BenefitCycle", cycle, id=cid, task_queue=TASK_QUEUE_WORKFLOWS,
                                      id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    return CycleStarted(cycle_id=cid, workflow_id=cid, region_prefix=cycle.region_prefix, period=cycle.period)


@router.put("/cycles/schedules/{region_prefix}", response_model=CycleSchedule,
            summary="Run the region's cycle every month (a Temporal Schedule: the 1st, 01:00 Beijing time)")
async def schedule_cycle(
    region_prefix: Annotated[str, Path(pattern=REGION_PREFIX)],
    principal: Annotated[Principal, Depends(require_roles(Role.county_approver, Role.admin))],
    temporal: Annotated[Client, Depends(_temporal)],
) -> CycleSchedule:
    require_jurisdiction(principal, region_prefix)
    sid, cron, tz = f"benefit-cycle-{region_prefix}", "0 1 1 * *", "Asia/Shanghai"
    created = True
    try:
        await temporal.create_schedule(sid, Schedule(
            action=ScheduleActionStartWorkflow("BenefitCycle", CycleInput(region_prefix=region_prefix),
                                               id=f"{sid}-run", task_queue=TASK_QUEUE_WORKFLOWS),
            spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=tz),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)))
    except ScheduleAlreadyRunningError:
        created = False
    return CycleSchedule(schedule_id=sid, cron=cron, timezone=tz, created=created)


@router.get("/cycles/{cycle_id}", response_model=CycleView, summary="A cycle's review figures")
async def get_cycle(
    cycle_id: str,
    principal: Annotated[Principal, Depends(require_roles(
        Role.county_approver, Role.admin, Role.auditor, Role.finance, Role.service))],
    pool: Annotated[asyncpg.Pool, Depends(_pool)],
) -> CycleView:
    return visible_to(principal, await roster.review_cycle(pool, cycle_id), lambda c: c.region_prefix,
                      f"cycle {cycle_id}", detail=f"cycle {cycle_id} not found (not reviewed yet?)")


@router.get("/rolls/{cycle_id}", summary="Stream a cycle's payment roll as CSV (service accounts only)",
            response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
async def export_roll(
    cycle_id: str,
    principal: Annotated[Principal, Depends(require_service)],
    pool: Annotated[asyncpg.Pool, Depends(_pool)],
) -> StreamingResponse:
    cycle = await roster.review_cycle(pool, cycle_id)  # written once, with its roll: read before the snapshot
    if cycle is None:
        raise HTTPException(404, f"cycle {cycle_id} has no roll yet")
    require_jurisdiction(principal, cycle.region_prefix, what=f"cycle {cycle_id}")
    count, rows = await exports.roll_export(pool, cycle_id)
    return StreamingResponse(rows, media_type="text/csv",
                             headers={"X-Roll-Count": str(count), "Cache-Control": "no-store"})


@router.get("/{household_id}", response_model=EnrolmentView,
            summary="A household's enrolment and its review history")
async def get_enrolment(
    household_id: str,
    principal: Annotated[Principal, Depends(require_roles(
        Role.clerk, Role.township_approver, Role.county_approver, Role.auditor, Role.admin, Role.service))],
    pool: Annotated[asyncpg.Pool, Depends(_pool)],
) -> EnrolmentView:
    return visible_to(principal, await roster.enrolment_view(pool, household_id), lambda e: e.region_code,
                      f"enrolment of household {household_id}", detail=f"no enrolment for household {household_id}")
