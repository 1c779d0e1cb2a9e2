"""家庭档案 (the household file) on the front door: find a household by name, national ID or household id,
and read everything doudi holds about it in one answer.

- ``GET /api/household-files?q=``: households in the caller's jurisdiction whose id is ``q``, with a
  member whose national ID is ``q``, or with a member whose name starts with ``q`` (intake's registry);
- ``GET /api/household-files/{household_id}``: its members and categories (intake's registry), its
  enrolment, reviews and level history with 提标 back-pay (intake's roster), every case with pathway,
  stage, status and amounts (the operations read model), and every ledger row (payment's ledger).

Intake and payment are asked over HTTP with a service token carrying the caller's own jurisdiction
(``records_client.py``); a household outside it is unknown (404). National IDs are masked for the roles
that must not see them by the front door's masking middleware (``shared/auth.py``), like every answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.operations import store_files
from services.operations.records_client import RecordsClient
from services.operations.records_format import LEDGER_KIND_ZH, beijing_text, measure_zh, pathway_zh, yuan_text
from services.operations.store import OperationsStore
from shared.auth import Principal, Role, require_roles
from shared.contracts.records import HitMember
from shared.contracts.records import HouseholdHit as RegistryHit
from shared.regions import region_name

router = APIRouter(prefix="/api/household-files", tags=["household files"])

FileReader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.committee, Role.finance, Role.auditor))]
HouseholdId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                  description="the household id as registered")]


# ---- what intake and payment answer (the fields the file shows) ---------------------------------------

class FileMember(HitMember):
    birth_date: date
    flags: list[str]
    deceased_on: date | None = None


class _Household(BaseModel):
    household_id: str
    region_code: str
    urban: bool
    categories: list[str]
    monthly_income_fen: int
    version: int
    updated_at: datetime
    members: list[FileMember]


class FileReview(BaseModel):
    period: str = Field(description="YYYY-MM reviewed")
    kind: str = Field(description="scheduled | off-cycle | enrolment")
    outcome: str
    level_fen: int = Field(description="the monthly benefit after the review, fen")
    case_id: str | None
    cycle_id: str | None


class FileBackPay(BaseModel):
    """提标补发: months paid at the old standard, topped up when the standard rose."""

    period: str = Field(description="first month back-paid")
    last_period: str
    months: int
    standard_version: str
    old_fen: int = Field(description="per person per month as paid")
    per_person_fen: int = Field(description="per person owed over the months")
    persons: int
    amount_fen: int
    amount_yuan: str = ""
    cycle_id: str
    old_level_fen: int | None = None
    new_level_fen: int | None = None


class FileEnrolment(BaseModel):
    enrolment_id: str
    kind: str = Field(description="dibao | extreme_poverty")
    status: str
    level_fen: int = Field(description="the monthly benefit paid now, fen")
    cadence: str
    enrolled_from: str
    paid_through: str | None
    next_review: str | None
    managed_by: str
    source: str
    standard_fen: int | None = None
    standard_version: str | None = None


class _Enrolment(FileEnrolment):
    reviews: list[FileReview]
    back_pay: list[FileBackPay]


class FilePayment(BaseModel):
    """One ledger row (家庭收支台账): a disbursement or a recovery claim."""

    entry_seq: int
    payment_id: str
    kind: str = Field(description="disbursement | recovery_claim")
    kind_zh: str = ""
    case_id: str | None
    pathway: str | None
    measure: str | None
    measure_zh: str = ""
    person_id: str | None
    region_code: str
    amount_fen: int
    amount_yuan: str = ""
    installment: int
    note: str | None = None
    created_at: datetime = Field(description="when the money moved (UTC)")
    created_at_beijing: str = ""


# ---- the file -----------------------------------------------------------------------------------------

class FileCasePayment(BaseModel):
    payment_id: str
    amount_fen: int
    amount_yuan: str
    status: str
    installment: int
    paid_at: datetime | None
    paid_at_beijing: str


class FileCase(BaseModel):
    case_id: str
    pathway: str
    pathway_zh: str
    stage: str
    status: str
    outcome: str | None
    reason: str | None
    person_id: str | None
    region_code: str | None
    stalled: bool
    approved_amount_fen: int | None = Field(description="核准金额: null until an official approved")
    paid_fen: int = Field(description="the case's projected payments, summed")
    paid_yuan: str
    opened_at: datetime | None
    updated_at: datetime
    payments: list[FileCasePayment]


class LevelStep(BaseModel):
    """The monthly benefit from a period on, and why it changed (the enrolment, a review, 提标)."""

    period: str
    level_fen: int
    level_yuan: str
    change_fen: int = Field(description="against the step before; the first step's is its level")
    why: str = Field(description="enrolment | review:<outcome> | back_pay:<standard version> | current (the "
                                 "roster's level, changed by a step that keeps no per-household record)")


class FileTotals(BaseModel):
    cases: int
    open_cases: int
    disbursed_fen: int = Field(description="every disbursement of the ledger, summed")
    disbursed_yuan: str
    recovery_claimed_fen: int
    recovery_claimed_yuan: str


class HouseholdFile(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "household_id": "hh-640104-000123", "region_code": "640104",
            "region_name": "宁夏回族自治区银川市兴庆区", "urban": True, "categories": ["dibao"],
            "monthly_income_fen": 0, "version": 1, "updated_at": "2026-12-01T08:30:00+08:00",
            "members": [
                {
                    "person_id": "640104198003151020", "name": "马建国", "relation": "本人",
                    "birth_date": "1980-03-15", "flags": [],
                },
                {
                    "person_id": "640104195207082019", "name": "马秀兰", "relation": "母亲",
                    "birth_date": "1952-07-08", "flags": ["seriously_ill"],
                },
            ],
            "enrolment": {
                "enrolment_id": "enr-hh-640104-000123-dibao", "kind": "dibao", "status": "active",
                "level_fen": 130000, "cadence": "stable", "enrolled_from": "2026-06", "paid_through": "2026-11",
                "next_review": "2027-06", "managed_by": "cycle", "source": "application", "standard_fen": 65000,
                "standard_version": "640104-2022",
            },
            "cases": [
                {
                    "case_id": "em-7f3c2a91", "pathway": "emergency_relief", "pathway_zh": "急难救助（先行救助）",
                    "stage": "closed", "status": "closed", "outcome": "paid", "reason": None,
                    "person_id": "640104198003151020", "region_code": "640104", "stalled": False,
                    "approved_amount_fen": 195000, "paid_fen": 195000, "paid_yuan": "1950.00",
                    "opened_at": "2026-12-01T08:30:00+08:00", "updated_at": "2026-12-01T08:30:04+08:00",
                    "payments": [],
                },
            ],
            "payments": [
                {
                    "entry_seq": 312, "payment_id": "pay-em-7f3c2a91-1", "kind": "disbursement", "kind_zh": "发放",
                    "case_id": "em-7f3c2a91", "pathway": "emergency_relief", "measure": "quarantine",
                    "measure_zh": "临时救助（隔离收治）", "person_id": "640104198003151020", "region_code": "640104",
                    "amount_fen": 195000, "amount_yuan": "1950.00", "installment": 1, "note": None,
                    "created_at": "2026-12-01T08:30:04+08:00", "created_at_beijing": "2026-12-01 08:30:04",
                },
            ],
            "reviews": [
                {
                    "period": "2026-12", "kind": "scheduled", "outcome": "continue", "level_fen": 130000,
                    "case_id": None, "cycle_id": "cycle-6401-2026-12",
                },
            ],
            "back_pay": [],
            "level_history": [
                {
                    "period": "2026-06", "level_fen": 130000, "level_yuan": "1300.00", "change_fen": 130000,
                    "why": "enrolment",
                },
            ],
            "totals": {
                "cases": 1, "open_cases": 0, "disbursed_fen": 195000, "disbursed_yuan": "1950.00",
                "recovery_claimed_fen": 0, "recovery_claimed_yuan": "0.00",
            },
        },
    ]})

    household_id: str
    region_code: str
    region_name: str | None = Field(description="GB/T 2260 name of the region (shared/regions)")
    urban: bool
    categories: list[str]
    monthly_income_fen: int
    version: int
    updated_at: datetime
    members: list[FileMember]
    enrolment: FileEnrolment | None = Field(description="on the roster (低保/特困) or null")
    cases: list[FileCase]
    payments: list[FilePayment] = Field(description="the ledger, oldest first")
    reviews: list[FileReview]
    back_pay: list[FileBackPay]
    level_history: list[LevelStep]
    totals: FileTotals


class HouseholdFileHit(RegistryHit):
    """A search hit as intake's registry answers it, with its region's name and the file's address."""

    region_name: str | None = None
    file_url: str = ""


class HouseholdSearch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "items": [
                {
                    "household_id": "hh-640104-000123", "region_code": "640104",
                    "region_name": "宁夏回族自治区银川市兴庆区", "urban": True,
                    "categories": ["dibao"], "matched_by": "name", "enrolment_kind": "dibao",
                    "enrolment_status": "active",
                    "members": [{"person_id": "640104198003151020", "name": "马建国", "relation": "本人"}],
                    "file_url": "/api/household-files/hh-640104-000123",
                },
            ],
            "total": 1,
        },
    ]})

    items: list[HouseholdFileHit] = Field(description="at most 50, the household-id match first; the query is not "
                                              "echoed (an answer names nothing the jurisdiction does not hold)")
    total: int


def _client(request: Request) -> RecordsClient:
    client: RecordsClient = request.app.state.records  # set by main.build
    return client


def _ops(request: Request) -> OperationsStore:
    ops: OperationsStore = request.app.state.ops
    return ops


Client = Annotated[RecordsClient, Depends(_client)]
Ops = Annotated[OperationsStore, Depends(_ops)]


@router.get("", response_model=HouseholdSearch,
            summary="Find households by name, national ID or household id (家庭档案检索)")
async def search(principal: FileReader, client: Client,
                 q: Annotated[str, Query(min_length=1, max_length=64,
                                         description="a name (or its start), an ID number, a household id")]
                 ) -> HouseholdSearch:
    hits = await client.typed_list(HouseholdFileHit, f"{client.intake_url}/api/registry/search", principal,
                                   "户籍登记 / the registry", params={"q": q.strip() or q})
    for hit in hits:
        hit.file_url = f"/api/household-files/{hit.household_id}"
        hit.region_name = region_name(hit.region_code)
    return HouseholdSearch(items=hits, total=len(hits))


@router.get("/{household_id}", response_model=HouseholdFile,
            summary="A household's file: members, categories, cases, payments, reviews, level history")
async def household_file(household_id: HouseholdId, principal: FileReader, client: Client,
                         ops: Ops) -> HouseholdFile:
    household = await client.typed(_Household, client.household_url(household_id), principal,
                                   "户籍登记 / the registry")
    if household is None:  # unknown and outside the jurisdiction alike: no existence leak
        raise HTTPException(404, f"未找到户 {household_id} / household {household_id} not found")
    person_ids = [m.person_id for m in household.members]
    enrolment = await client.typed(_Enrolment, client.enrolment_url(household_id), principal,
                                   "低保特困名册 / the roster")
    ledger = await client.typed_list(FilePayment, client.ledger_url(household_id), principal,
                                     "支付台账 / the ledger", params={"person_id": person_ids})
    async with ops.read() as conn:
        cases, case_payments = await store_files.household_cases(conn, household_id, person_ids,
                                                                  jurisdiction=principal.region)
    return HouseholdFile(
        **household.model_dump(), region_name=region_name(household.region_code),
        enrolment=FileEnrolment(**enrolment.model_dump()) if enrolment else None,
        cases=_cases(cases, case_payments), payments=[_shown(p) for p in ledger],
        reviews=enrolment.reviews if enrolment else [],
        back_pay=[b.model_copy(update={"amount_yuan": yuan_text(b.amount_fen)})
                  for b in (enrolment.back_pay if enrolment else [])],
        level_history=level_history(enrolment) if enrolment else [],
        totals=_totals(cases, ledger))


def _shown(p: FilePayment) -> FilePayment:
    return p.model_copy(update={"kind_zh": LEDGER_KIND_ZH.get(p.kind, p.kind),
                                "measure_zh": measure_zh(p.measure), "amount_yuan": yuan_text(p.amount_fen),
                                "created_at_beijing": beijing_text(p.created_at)})


def _cases(cases: list[store_files.CaseRow], payments: list[store_files.CasePaymentRow]) -> list[FileCase]:
    paid: dict[str, list[FileCasePayment]] = {}
    for p in payments:
        paid.setdefault(p.case_id, []).append(FileCasePayment(
            payment_id=p.payment_id, amount_fen=p.amount_fen, amount_yuan=yuan_text(p.amount_fen),
            status=p.status, installment=p.installment, paid_at=p.paid_at, paid_at_beijing=beijing_text(p.paid_at)))
    out = []
    for c in cases:
        mine = paid.get(c.case_id, [])
        total = sum(p.amount_fen for p in mine)
        out.append(FileCase(**c.model_dump(exclude={"household_id"}), pathway_zh=pathway_zh(c.pathway),
                            paid_fen=total, paid_yuan=yuan_text(total), payments=mine))
    return out


def level_history(enrolment: _Enrolment) -> list[LevelStep]:
    """The monthly benefit over time: each review that set a level different from the one before, and each
    提标 back-pay (its new level where recorded), in period order."""
    events: list[tuple[str, int, str]] = [(r.period, r.level_fen, "enrolment" if r.kind == "enrolment"
                                           else f"review:{r.outcome}") for r in enrolment.reviews]
    events += [(b.period, b.new_level_fen, f"back_pay:{b.standard_version}") for b in enrolment.back_pay
               if b.new_level_fen is not None]
    steps: list[LevelStep] = []
    for period, level, why in sorted(events, key=lambda e: e[0]):
        before = steps[-1].level_fen if steps else 0
        if steps and level == before:
            continue
        steps.append(LevelStep(period=period, level_fen=level, level_yuan=yuan_text(level),
                               change_fen=level - before, why=why))
    if not steps:  # never reviewed nor re-priced since it was enrolled: its level since then
        return [LevelStep(period=enrolment.enrolled_from, level_fen=enrolment.level_fen,
                          level_yuan=yuan_text(enrolment.level_fen), change_fen=enrolment.level_fen, why="enrolment")]
    if steps[-1].level_fen != enrolment.level_fen:  # changed by a step that keeps no per-household record
        steps.append(LevelStep(period=enrolment.paid_through or steps[-1].period, level_fen=enrolment.level_fen,
                               level_yuan=yuan_text(enrolment.level_fen),
                               change_fen=enrolment.level_fen - steps[-1].level_fen, why="current"))
    return steps


def _totals(cases: list[store_files.CaseRow], ledger: list[FilePayment]) -> FileTotals:
    disbursed = sum(p.amount_fen for p in ledger if p.kind == "disbursement")
    claimed = sum(p.amount_fen for p in ledger if p.kind == "recovery_claim")
    return FileTotals(cases=len(cases), open_cases=sum(1 for c in cases if c.status != "closed"),
                      disbursed_fen=disbursed, disbursed_yuan=yuan_text(disbursed),
                      recovery_claimed_fen=claimed, recovery_claimed_yuan=yuan_text(claimed))
