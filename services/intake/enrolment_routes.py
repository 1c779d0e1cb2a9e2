"""Enrolled households over HTTP: import existing recipients, start a region's monthly cycle, read a
household's enrolment, and (service accounts) stream a cycle's payment roll."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import StreamingResponse
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

from services.intake import registry, roster_import
from services.intake.cohort import require_service
from services.intake.models import CycleSchedule, CycleStarted, ImportResult
from services.intake.roster_import import LineTooLong
from services.intake.roster_service import Roster
from services.intake.store.roster import CycleView, EnrolmentView
from shared.auth import Principal, Role, require_jurisdiction, require_roles, visible_to
from shared.config import TASK_QUEUE_WORKFLOWS
from shared.contracts.pathways import BENEFIT_CYCLE
from workflows.benefit_cycle.inputs import REGION_PREFIX, CycleInput, cycle_id_for
from workflows.registry import bound

router = APIRouter(prefix="/api/enrolments", tags=["enrolments"])


def _temporal(request: Request) -> Client:
    return request.app.state.runtime.temporal


@router.post("/import", response_model=ImportResult,
             summary="Import existing recipient households (NDJSON, one ImportLine per line); all or "
                     "nothing; streamed (64 MB, 64 KB a line by default: 413 beyond)")
async def import_enrolments(
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(Role.county_approver, Role.admin, Role.service))],
    roster: Roster,
) -> ImportResult:
    # An authorised roster import: it registers households with the categories that carry money; all or
    # nothing, read line by line as the body streams in (services/intake/roster_import.py).
    by = registry.Registrar(subject=principal.subject, role=str(principal.role), region=principal.region,
                            roster=True)
    try:
        return await roster.import_roster(request.stream(), by, principal.may_see,
                                                 max_line=request.app.state.runtime.settings.max_import_line_bytes)
    except roster_import.ImportRefused as exc:
        raise HTTPException(422, {"message": f"{exc.refused} line(s) refused; nothing imported",
                                  "lines": exc.lines}) from None
    except LineTooLong as exc:
        raise HTTPException(413, f"第 {exc.line} 行超过 {exc.limit} 字节的上限，未导入任何内容"
                                 f" (line {exc.line} is longer than {exc.limit} bytes; nothing imported)",
                            headers={"connection": "close"}) from None  # the rest is never read


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
        await temporal.start_workflow(bound(BENEFIT_CYCLE.name).workflow_type, cycle, id=cid,
                                      task_queue=TASK_QUEUE_WORKFLOWS,
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
            action=ScheduleActionStartWorkflow(bound(BENEFIT_CYCLE.name).workflow_type,
                                               CycleInput(region_prefix=region_prefix),
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
    roster: Roster,
) -> CycleView:
    return visible_to(principal, await roster.cycle(cycle_id), lambda c: c.region_prefix,
                      f"cycle {cycle_id}", detail=f"cycle {cycle_id} not found (not reviewed yet?)")


@router.get("/rolls/{cycle_id}", summary="Stream a cycle's payment roll as CSV (service accounts only)",
            response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
async def export_roll(
    cycle_id: str,
    principal: Annotated[Principal, Depends(require_service)],
    roster: Roster,
) -> StreamingResponse:
    cycle = await roster.cycle(cycle_id)  # written once, with its roll: read before the snapshot
    if cycle is None:
        raise HTTPException(404, f"cycle {cycle_id} has no roll yet")
    require_jurisdiction(principal, cycle.region_prefix, what=f"cycle {cycle_id}")
    count, rows = await roster.roll_export(cycle_id)
    return StreamingResponse(rows, media_type="text/csv",
                             headers={"X-Roll-Count": str(count), "Cache-Control": "no-store"})


@router.get("/{household_id}", response_model=EnrolmentView,
            summary="A household's enrolment and its review history")
async def get_enrolment(
    household_id: str,
    principal: Annotated[Principal, Depends(require_roles(
        Role.clerk, Role.township_approver, Role.county_approver, Role.auditor, Role.admin, Role.service))],
    roster: Roster,
) -> EnrolmentView:
    return visible_to(principal, await roster.enrolment(household_id), lambda e: e.region_code,
                      f"enrolment of household {household_id}",
                      detail=f"no enrolment for household {household_id}")
