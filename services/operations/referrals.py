"""Referrals (转介) and charity linkage: a case refused, or closed with hardship left, is referred by its
caseworker to another department or to social forces, and tracked to an outcome or an overdue flag.

Seeds: 001 「鼓励、支持慈善组织、志愿者、专业社会工作者等社会力量积极参与社会救助」; 002 「各市、县（区）
民政部门要积极组织动员村（居）委会、驻村干部、社会救助协理员、社会工作者、志愿者」; 004 「街面协同巡查和转介处置，
公安机关和民政部门协同做好流浪乞讨人员的身份查询和寻亲服务工作」.

Set-based, not a workflow per referral: a referral is one row with a due date and one outcome, no money and
no chain of human steps; "overdue" is a fact of the clock read at query time (the attention list), and the
stalled-case sweep notes it once on the case's timeline (``note_overdue``). Nothing has to stay running for
a referral to fall overdue, and a crash loses none (the row is the state).

The due date is the pack's ``referral_response_days`` (LOCAL PRACTICE in the national pack: no seed fixes a
period; a region's pack overrides it)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.operations import duty_events, store, store_timeline
from services.operations import store_referrals as sql
from services.operations.store import OperationsStore
from shared.auth import Principal, Role, found_in_jurisdiction, require_roles
from shared.policy import load_library

router = APIRouter(prefix="/api", tags=["referrals"])

DEADLINE_FIGURE = "referral_response_days"
BEIJING = timedelta(hours=8)

Caseworker = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.service))]
Reader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.auditor, Role.service))]
CaseId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
ReferralId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^ref-[0-9a-f]{24}$")]

ToKind = Literal["department", "charity_organisation", "social_worker", "volunteer"]
Service = Literal["charity_aid", "social_work", "volunteer_service", "identity_and_family_tracing",
                  "medical_aid", "education_aid", "housing_aid", "employment_service", "other"]
Outcome = Literal["helped", "declined", "unreachable", "family_found", "transferred"]

OUTCOME_ZH: dict[str, str] = {"helped": "已帮扶", "declined": "对方未接收", "unreachable": "无法联系",
                              "family_found": "寻亲成功", "transferred": "已转其他机构"}


class ReferralIn(BaseModel):
    """转介: to whom, for what, and why (the hardship left)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "to_kind": "charity_organisation", "to_name": "宁夏慈善总会", "service": "charity_aid",
        "reason": "低保申请未获批准，家庭仍有重度残疾人照料困难"}]})

    to_kind: ToKind = Field(description="department (e.g. 公安机关 for 身份查询和寻亲), charity_organisation, "
                                        "social_worker, volunteer")
    to_name: str = Field(min_length=1, max_length=200, description="the receiving department or organisation")
    service: Service = Field(description="what is asked of it")
    reason: str = Field(min_length=1, max_length=2000, description="the hardship left (转介原因)")


class OutcomeIn(BaseModel):
    """What the receiving department or organisation did (recorded once)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "outcome": "helped", "note": "慈善总会发放慰问金并安排志愿者每周探访"}]})

    outcome: Outcome
    note: str = Field(min_length=1, max_length=2000)


class DeadlineRule(BaseModel):
    figure: str
    days: int
    seed: str
    quote: str
    local_practice: bool = Field(description="the seeds fix no period: a labelled local-practice default")


# the example the OpenAPI document shows (validated against the model by tests/unit/test_openapi_examples.py)
_REFERRAL_EXAMPLE: dict[str, Any] = {
    "referral_id": "ref-em-7f3c2a91-1", "case_id": "em-7f3c2a91", "region_code": "640104",
    "to_kind": "charity_organisation", "to_name": "银川市慈善总会", "service": "charity_aid",
    "reason": "超出临时救助标准的医疗费用缺口", "referred_by": "li.caseworker",
    "referred_at": "2026-12-01T08:30:00+08:00", "due_at": "2026-12-16T08:30:00+08:00",
    "deadline_rule": {
        "figure": "referral_response_days", "days": 15, "seed": "001_e4998f21954ea220.txt",
        "quote": "鼓励、支持慈善组织、志愿者、专业社会工作者等社会力量积极参与社会救助", "local_practice": True,
    },
    "status": "open", "outcome": None, "outcome_note": None, "outcome_by": None, "outcome_at": None,
}


class ReferralView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_REFERRAL_EXAMPLE]})

    referral_id: str
    case_id: str
    region_code: str
    to_kind: ToKind
    to_name: str
    service: Service
    reason: str
    referred_by: str
    referred_at: datetime
    due_at: datetime
    deadline_rule: DeadlineRule
    status: Literal["open", "overdue", "closed"]
    outcome: Outcome | None = None
    outcome_note: str | None = None
    outcome_by: str | None = None
    outcome_at: datetime | None = None


class ReferralList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_REFERRAL_EXAMPLE], "total": 1}]})

    items: list[ReferralView]
    total: int


def referral_id(case_id: str, body: ReferralIn) -> str:
    """From the cause (the case, to whom, for what): the same referral asked twice is one referral."""
    cause = "|".join((case_id, body.to_kind, body.to_name.strip(), body.service))
    return "ref-" + hashlib.sha256(cause.encode()).hexdigest()[:24]


def deadline_rule(region_code: str, on: date) -> DeadlineRule:
    fig = load_library().parameter(DEADLINE_FIGURE, region_code, on)
    if fig is None or not isinstance(fig.value, int):  # the national pack sets it: a broken deployment
        raise RuntimeError(f"no pack in force sets {DEADLINE_FIGURE} for {region_code} on {on}")
    return DeadlineRule(figure=DEADLINE_FIGURE, days=fig.value, seed=fig.seed, quote=fig.quote,
                        local_practice="LOCAL-PRACTICE" in (fig.note or ""))


def view(row: asyncpg.Record) -> ReferralView:
    status = "closed" if row["outcome"] is not None else "overdue" if row["overdue"] else "open"
    return ReferralView(
        referral_id=row["referral_id"], case_id=row["case_id"], region_code=row["region_code"],
        to_kind=row["to_kind"], to_name=row["to_name"], service=row["service"], reason=row["reason"],
        referred_by=row["referred_by"], referred_at=row["referred_at"], due_at=row["due_at"],
        deadline_rule=DeadlineRule.model_validate(row["deadline_rule"]),  # the pool's jsonb codec decodes
        status=status, outcome=row["outcome"], outcome_note=row["outcome_note"], outcome_by=row["outcome_by"],
        outcome_at=row["outcome_at"])


def _ops(request: Request) -> OperationsStore:
    return request.app.state.ops


Ops = Annotated[OperationsStore, Depends(_ops)]


@router.post("/cases/{case_id}/referrals", status_code=201, response_model=ReferralView,
             summary="Refer a case to another department or a charity organisation (转介); the same referral "
                     "again answers 200 with the one made",
             responses={200: {"description": "this referral was made before (same case, receiver, service)"},
                        404: {"description": "no such case in your jurisdiction"}})
async def refer(case_id: CaseId, body: ReferralIn, principal: Caseworker, ops: Ops) -> ReferralView | JSONResponse:
    async with ops.transaction() as conn:
        region = await store.case_region(conn, case_id)
        found_in_jurisdiction(principal, region, f"case {case_id}")
        assert region is not None
        now = datetime.now(UTC)
        rule = deadline_rule(region, (now + BEIJING).date())
        row, created = await sql.add_referral(conn, sql.NewReferral(
            referral_id=referral_id(case_id, body), case_id=case_id, region_code=region, to_kind=body.to_kind,
            to_name=body.to_name.strip(), service=body.service, reason=body.reason, referred_by=principal.subject,
            due_at=now + timedelta(days=rule.days), deadline_rule=rule.model_dump()))
        if created:
            await _timeline(conn, row, "created", row["referred_at"],
                            f"referred to {body.to_kind} {row['to_name']} ({body.service}); outcome due "
                            f"{row['due_at'].isoformat()} ({rule.days} days, local practice)",
                            reason=body.reason, days=rule.days)
            await duty_events.referral(conn, row, "created", row["referred_at"], body.reason)
    out = view(row)
    return out if created else JSONResponse(out.model_dump(mode="json"), status_code=200)


@router.get("/cases/{case_id}/referrals", response_model=ReferralList, summary="A case's referrals")
async def case_referrals(case_id: CaseId, principal: Reader, ops: Ops) -> ReferralList:
    async with ops.read() as conn:
        found_in_jurisdiction(principal, await store.case_region(conn, case_id), f"case {case_id}")
        rows = await sql.case_referrals(conn, case_id)
    return ReferralList(items=[view(r) for r in rows], total=len(rows))


@router.get("/referrals", response_model=ReferralList,
            summary="Referrals in your jurisdiction: open, overdue (past due without an outcome) or closed")
async def list_referrals(
    principal: Reader, ops: Ops,
    status: Literal["open", "overdue", "closed"] | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,9}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ReferralList:
    async with ops.read() as conn:
        rows, total = await sql.referrals_in(conn, jurisdiction=principal.region, region_code=region_code,
                                             status=status, limit=limit, offset=offset)
    return ReferralList(items=[view(r) for r in rows], total=total)


@router.post("/referrals/{referral_id}/outcome", response_model=ReferralView,
             summary="Record what the receiving department or organisation did (once; the same outcome again "
                     "is answered as recorded, a different one 409)",
             responses={404: {"description": "no such referral in your jurisdiction"},
                        409: {"description": "another outcome was recorded before"}})
async def record_outcome(referral_id: ReferralId, body: OutcomeIn, principal: Caseworker, ops: Ops) -> ReferralView:
    async with ops.transaction() as conn:
        row = await sql.referral(conn, referral_id)
        found_in_jurisdiction(principal, row["region_code"] if row is not None else None,
                              f"referral {referral_id}")
        assert row is not None
        recorded = await sql.record_outcome(conn, referral_id, outcome=body.outcome, note=body.note,
                                            by=principal.subject)
        row = await sql.referral(conn, referral_id)  # as it is now (another may have recorded it meanwhile)
        assert row is not None
        if recorded:
            await _timeline(conn, row, "outcome", row["outcome_at"],
                            f"referral outcome from {row['to_name']}: {body.outcome}", note=body.note)
            await duty_events.referral(conn, row, "outcome", row["outcome_at"], body.note)
        elif (row["outcome"], row["outcome_note"]) != (body.outcome, body.note):
            raise HTTPException(409, f"转介 {referral_id} 已记录结果「{OUTCOME_ZH[row['outcome']]}」，不能更改 / "
                                     f"an outcome ({row['outcome']}) was recorded before")
    return view(row)


async def note_overdue(conn: store.Conn) -> list[str]:
    """The sweep's part: each referral newly past due without an outcome, once on its case's timeline and
    once on the bus (``doudi.case.referral.overdue``).
    Returns the referral ids noted."""
    noted = []
    for r in await sql.newly_overdue(conn):
        now = datetime.now(UTC)
        await _timeline(conn, r, "overdue", now, f"referral to {r['to_name']} overdue since {r['due_at'].isoformat()}")
        await duty_events.referral(conn, r, "overdue", now, f"no outcome by {r['due_at'].isoformat()}")
        noted.append(r["referral_id"])
    return noted


async def _timeline(conn: store.Conn, row: Any, what: str, at: datetime, text: str, **extra: Any) -> None:
    """One entry on the case's timeline, code ``referral.<what>``, in words by timeline_text.py."""
    params = {k: row[k] for k in ("referral_id", "to_kind", "to_name", "service", "outcome")
              if k in row.keys() and row[k] is not None}
    await store_timeline.add_entry(conn, event_id=f"{row['referral_id']}:{what}", case_id=row["case_id"], at=at,
                                   event=f"referral.{what}", status=None, stage=None, note=text,
                                   code=f"referral.{what}", params={**params, "due_at": row["due_at"].isoformat(),
                                                                    **extra})
