"""Visits to dispersed 特困 persons (分散供养特困人员探视巡访): a schedule per person by care level, visit
records, overdue visits on the attention list, and replacing a caregiver as a recorded decision.

Seeds: 001 「严格落实分散供养特困人员探视巡访制度，加大探访频次…对履职不到位的照料服务人及时更换」; 003
「加强对分散供养特困人员定期探访和照料服务」; 002 names who to visit (「对分散供养特困人员、低保及低保边缘家庭中的
老年人、未成年人、重度残疾人等特殊困难群众，加大探访频次」).

- ``PUT /api/care-recipients/{person_id}``: a dispersed 特困 person's care level and caregiver (照料服务人):
  a member of a household the registry holds as 特困 (its categories or its enrolment), in the county;
  the cadence is the pack's ``care_visit_days_<level>`` (LOCAL PRACTICE in the national pack: full care 7,
  partial care 15, self-care 30 days; a region's pack overrides).
- ``GET /api/care-recipients?region=&overdue=``, ``GET /api/care-recipients/{person_id}`` (visits and
  caregiver changes).
- ``POST /api/care-visits``: a visit (idempotent by ``visit_id``); the next is due a cadence after it.
- ``POST /api/care-recipients/{person_id}/caregiver``: the township or county replaces the caregiver, with
  the reason (and the visit that found the caregiver not doing the job): a recorded decision.
- Overdue visits are listed by ``GET /api/stats/attention`` (``care_visits``).

Set-based, not a workflow per person: a province has hundreds of thousands of dispersed 特困 persons, each
visited for years; one row with its next due date is the whole state, "overdue" is one indexed comparison
with the clock at query time, a changed cadence (a new pack, a new care level) is one UPDATE, and nothing
must stay running (or be continued-as-new for years) for a visit to fall overdue.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.operations import duty_events
from services.operations import store_care as sql
from services.operations.records_client import RecordsClient
from services.operations.store import OperationsStore
from shared.auth import Principal, Role, found_in_jurisdiction, require_jurisdiction, require_roles
from shared.contracts.identity import NationalId
from shared.policy import load_library

router = APIRouter(prefix="/api", tags=["care visits"])

CareLevel = Literal["full_care", "partial_care", "self_care"]
LEVEL_ZH = {"full_care": "全护理", "partial_care": "半护理", "self_care": "全自理"}

Visitor = Annotated[Principal, Depends(require_roles(Role.clerk, Role.township_approver, Role.county_approver))]
Decider = Annotated[Principal, Depends(require_roles(Role.township_approver, Role.county_approver))]
Reader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.auditor))]
PersonId = Annotated[str, Path(min_length=18, max_length=18, pattern=r"^\d{17}[\dX]$")]


class CareRecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "region_code": "640324101", "name": "马某", "care_level": "full_care", "caregiver": "马某某",
        "caregiver_phone": "13900000000"}]})

    region_code: str = Field(pattern=r"^\d{6,9}$", description="where the person lives (county or township)")
    household_id: str | None = Field(default=None, max_length=100,
                                     description="not needed: the registry's household is recorded")
    name: str | None = Field(default=None, max_length=100, description="used only where the registry has no name")
    care_level: CareLevel = Field(description="全护理 full_care, 半护理 partial_care, 全自理 self_care")
    caregiver: str = Field(min_length=1, max_length=100, description="照料服务人")
    caregiver_phone: str | None = Field(default=None, max_length=30)


# the example the OpenAPI document shows (validated against the model by tests/unit/test_openapi_examples.py)
_CARE_EXAMPLE: dict[str, Any] = {
    "person_id": "640324195001010016", "region_code": "640324101", "household_id": "hh-640324-000071", "name": "马某",
    "care_level": "full_care", "caregiver": "马某某", "caregiver_phone": "13900000000", "visit_every_days": 7,
    "cadence_rule": ("care_visit_days_full_care = 7 (003_6315efd14f4b4bc1.txt: "
                     "「加强对分散供养特困人员定期探访和照料服务」)"),
    "registered_by": "zhou.township", "registered_at": "2026-12-01T08:30:00+08:00",
    "last_visited_at": "2026-12-01T08:30:04+08:00", "next_visit_due": "2026-12-08T08:30:04+08:00", "overdue": False,
}


_CAREGIVER_CHANGE_EXAMPLE: dict[str, Any] = {
    "change_id": "cg-640324195001010016-1", "previous_caregiver": "马某某", "new_caregiver": "李某某",
    "reason": "探访发现照料服务人长期外出，未履行照料义务", "visit_id": "visit-640324195001010016-20261201",
    "decided_by": "zhou.township", "role": "township_approver", "decided_at": "2026-12-01T08:30:04+08:00",
}


class CareRecipient(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CARE_EXAMPLE]})

    person_id: str
    region_code: str
    household_id: str | None
    name: str | None
    care_level: CareLevel
    caregiver: str
    caregiver_phone: str | None
    visit_every_days: int = Field(description="the cadence in days (the pack's care_visit_days_<level>)")
    cadence_rule: str = Field(description="the pack figure and its seed citation")
    registered_by: str
    registered_at: datetime
    last_visited_at: datetime | None
    next_visit_due: datetime
    overdue: bool


class CareVisit(BaseModel):
    visit_id: str
    visited_at: datetime
    visited_by: str
    caregiver: str
    caregiver_performing: bool
    findings: str


class CaregiverChange(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CAREGIVER_CHANGE_EXAMPLE]})

    change_id: str
    previous_caregiver: str
    new_caregiver: str
    reason: str
    visit_id: str | None
    decided_by: str
    role: str
    decided_at: datetime


class CareRecipientFile(CareRecipient):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            **_CARE_EXAMPLE,
            "visits": [
                {
                    "visit_id": "visit-640324195001010016-20261201", "visited_at": "2026-12-01T08:30:04+08:00",
                    "visited_by": "zhou.township", "caregiver": "马某某", "caregiver_performing": True,
                    "findings": "照料到位，居室整洁，药品按时服用",
                },
            ],
            "caregiver_changes": [_CAREGIVER_CHANGE_EXAMPLE],
        },
    ]})

    visits: list[CareVisit]
    caregiver_changes: list[CaregiverChange]


class CareRecipientList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_CARE_EXAMPLE], "total": 1}]})

    items: list[CareRecipient]
    total: int


class CareVisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "person_id": "640324195001010016", "visited_at": "2026-12-01T10:00:00+08:00", "caregiver_performing": False,
        "findings": "照料服务人未按协议送餐，老人独自在家"}]})

    visit_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,100}$",
                                 description="the visit's own id (a retry of the same visit records it once); "
                                 "default: the person and the time of the visit")
    person_id: NationalId
    visited_at: datetime = Field(description="when the visit took place (with its offset; not in the future)")
    caregiver_performing: bool = Field(description="照料服务人是否履职到位")
    findings: str = Field(min_length=1, max_length=4000, description="探访情况")


class CareVisitOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "visit_id": "visit-640324195001010016-20261201", "recorded": True,
            "next_visit_due": "2026-12-08T08:30:04+08:00",
        },
    ]})

    visit_id: str
    recorded: bool = Field(description="False: the same visit was recorded before")
    next_visit_due: datetime


class CaregiverIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "caregiver": "李某某", "caregiver_phone": "13800000000", "reason": "原照料服务人履职不到位，及时更换",
        "visit_id": "visit-1"}]})

    caregiver: str = Field(min_length=1, max_length=100, description="the new 照料服务人")
    caregiver_phone: str | None = Field(default=None, max_length=30)
    reason: str = Field(min_length=1, max_length=2000, description="why (e.g. 履职不到位)")
    visit_id: str | None = Field(default=None, max_length=100, description="the visit that found it, if any")


def _ops(request: Request) -> OperationsStore:
    return request.app.state.ops


def cadence(region_code: str, level: CareLevel, on: date) -> tuple[int, str]:
    """The pack's visit cadence for the care level: (days, "figure: citation")."""
    name = f"care_visit_days_{level}"
    fig = load_library().parameter(name, region_code, on)
    if fig is None or not isinstance(fig.value, int) or isinstance(fig.value, bool):
        raise HTTPException(422, f"no policy pack in force for {region_code} sets {name}")
    return fig.value, f"{name} = {fig.value} ({fig.cite()})"


async def extreme_poverty_member(request: Request, principal: Principal, person_id: str,
                                 region_code: str) -> tuple[str, str | None]:
    """The person's household id and name as the registry knows them (intake, read with the caller's
    jurisdiction): a member of a 特困 household living in ``region_code``'s county; else 422 naming why."""
    records: RecordsClient = request.app.state.records
    hits = await records.get_json(f"{records.intake_url}/api/registry/search", principal,
                                  "户籍登记 / the household registry", params={"q": person_id})
    hit = next((h for h in hits if any(m["person_id"] == person_id for m in h["members"])), None)
    if hit is None:
        raise HTTPException(422, "person_id: 户籍登记中没有该人员 (not in the household registry)")
    if "extreme_poverty" not in hit["categories"] and hit.get("enrolment_kind") != "extreme_poverty":
        raise HTTPException(422, "person_id: 该人员不是特困供养人员 (not an extreme-poverty (特困) recipient)")
    if hit["region_code"][:6] != region_code[:6]:
        raise HTTPException(422, f"region_code: 与户籍登记的 {hit['region_code']} 不在同一县 "
                                 "(not the county the registry has)")
    name = next((m.get("name") for m in hit["members"] if m["person_id"] == person_id), None)
    return hit["household_id"], name


@router.put("/care-recipients/{person_id}", response_model=CareRecipient,
            summary="A dispersed 特困 person's care level and caregiver (the visit schedule follows)")
async def register(person_id: PersonId, body: CareRecipientIn, principal: Visitor, request: Request) -> CareRecipient:
    require_jurisdiction(principal, body.region_code)
    async with _ops(request).read() as conn:
        known = await sql.recipient(conn, person_id)
    if known is not None:  # no taking over another jurisdiction's person
        require_jurisdiction(principal, known["region_code"], what=f"person {person_id[:6]}")
    household_id, name = await extreme_poverty_member(request, principal, person_id, body.region_code)
    days, rule = cadence(body.region_code, body.care_level, datetime.now(UTC).date())
    async with _ops(request).transaction() as conn:
        known = await sql.recipient_for_update(conn, person_id)
        if known is not None:  # and still so under the row's lock
            require_jurisdiction(principal, known["region_code"], what=f"person {person_id[:6]}")
        row = await sql.register(conn, sql.Recipient(
            person_id=person_id, region_code=body.region_code, household_id=household_id, name=name or body.name,
            care_level=body.care_level, caregiver=body.caregiver if known is None else known["caregiver"],
            caregiver_phone=body.caregiver_phone, visit_every_days=days, cadence_rule=rule,
            registered_by=principal.subject))
    return CareRecipient(**dict(row))


@router.get("/care-recipients", response_model=CareRecipientList,
            summary="Dispersed 特困 persons and their visit schedule, the longest overdue first")
async def list_recipients(
    principal: Reader, request: Request,
    region: Annotated[str, Query(pattern=r"^\d{2,9}$")],
    overdue: Annotated[bool, Query(description="only those whose visit is overdue")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> CareRecipientList:
    found_in_jurisdiction(principal, region if principal.may_see(region) else None, f"region {region}")
    async with _ops(request).read() as conn:
        rows, total = await sql.recipients(conn, region_prefix=region, overdue_only=overdue, limit=limit,
                                           offset=offset)
    return CareRecipientList(items=[CareRecipient(**r) for r in rows], total=total)


@router.get("/care-recipients/{person_id}", response_model=CareRecipientFile,
            summary="A dispersed 特困 person: schedule, visits, caregiver changes")
async def recipient_file(person_id: PersonId, principal: Reader, request: Request) -> CareRecipientFile:
    async with _ops(request).read() as conn:
        row = await sql.recipient(conn, person_id)
        found_in_jurisdiction(principal, row["region_code"] if row else None, "care recipient")
        visits = await sql.visits(conn, person_id)
        changes = await sql.caregiver_changes(conn, person_id)
    assert row is not None
    return CareRecipientFile(**dict(row), visits=[CareVisit(**v) for v in visits],
                             caregiver_changes=[CaregiverChange(**c) for c in changes])


@router.post("/care-visits", response_model=CareVisitOut, summary="A visit to a dispersed 特困 person (探访)")
async def record_visit(body: CareVisitIn, principal: Visitor, request: Request) -> CareVisitOut:
    if body.visited_at.tzinfo is None:
        raise HTTPException(422, "visited_at: 需带时区 (an offset such as +08:00)")
    if body.visited_at > datetime.now(UTC):
        raise HTTPException(422, "visited_at: 探访时间不能晚于当前时间 (a visit cannot be in the future)")
    visit_id = body.visit_id or f"visit-{body.person_id}-{int(body.visited_at.timestamp())}"
    async with _ops(request).transaction() as conn:
        row = await sql.recipient_for_update(conn, body.person_id)
        found_in_jurisdiction(principal, row["region_code"] if row else None, "care recipient")
        assert row is not None
        recorded = await sql.record_visit(conn, visit_id=visit_id, person_id=body.person_id,
                                          visited_at=body.visited_at, visited_by=principal.subject,
                                          caregiver=row["caregiver"], performing=body.caregiver_performing,
                                          findings=body.findings)
        after = await sql.recipient(conn, body.person_id)
        assert after is not None
        if recorded:
            await duty_events.visit_recorded(conn, visit_id, after, performing=body.caregiver_performing,
                                             findings=body.findings)
    return CareVisitOut(visit_id=visit_id, recorded=recorded, next_visit_due=after["next_visit_due"])


@router.post("/care-recipients/{person_id}/caregiver", response_model=CaregiverChange,
             summary="Replace the caregiver (及时更换照料服务人): a recorded decision")
async def replace_caregiver(person_id: PersonId, body: CaregiverIn, principal: Decider,
                            request: Request) -> CaregiverChange:
    async with _ops(request).transaction() as conn:
        row = await sql.recipient_for_update(conn, person_id)
        found_in_jurisdiction(principal, row["region_code"] if row else None, "care recipient")
        assert row is not None
        if body.caregiver == row["caregiver"]:
            done = [c for c in await sql.caregiver_changes(conn, person_id) if c["new_caregiver"] == body.caregiver]
            if done:  # the same decision again (a retry): answered as recorded, once
                return CaregiverChange(**done[-1])
            raise HTTPException(422, f"caregiver: {body.caregiver} 已是该人员的照料服务人 (already the caregiver)")
        if body.visit_id is not None:
            visit = await sql.visit(conn, body.visit_id)
            if visit is None or visit["person_id"] != person_id:
                raise HTTPException(422, f"visit_id: 未找到该人员的探访记录 {body.visit_id} "
                                         "(no such visit of this person)")
        # the decision's id from its cause: the same request again records it once
        cause = f"{person_id}|{row['caregiver']}|{body.caregiver}"
        change_id = "cg-" + hashlib.sha256(cause.encode()).hexdigest()[:24]
        if await sql.replace_caregiver(conn, change_id=change_id, person_id=person_id, previous=row["caregiver"],
                                       new=body.caregiver, phone=body.caregiver_phone, reason=body.reason,
                                       visit_id=body.visit_id, by=principal.subject, role=str(principal.role)):
            await duty_events.caregiver_replaced(conn, change_id, row, new=body.caregiver, reason=body.reason)
        changes = await sql.caregiver_changes(conn, person_id)
    return CaregiverChange(**next(c for c in changes if c["change_id"] == change_id))
