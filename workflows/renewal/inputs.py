"""Inputs, reported changes and carried state of the renewal workflow (pathway 4).

Seeds: 004 (XPCC: differential dibao, add-ons, review cadence 「每年核查一次」/「每半年核查一次」,
「没有明显变化的，不再调整救助水平」, recipients report changes), 002 (Ningxia: standards, gradual exit
6-18 months, 「疫情防控期间暂停低保退出」), 001 (Jiangxi: 30% employment-cost deduction, gradual exit of
at least 6 months), 003 (national: rural dibao paid quarterly is paid in the quarter's first month).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.assertions import Assertion
from shared.contracts.pathways import RENEWAL
from shared.policy.benefit import BenefitHousehold, WorkPlace
from workflows.decisions import TierDecision

PATHWAY = RENEWAL.name  # the registry's key (shared/contracts/pathways.py)
PERIOD = r"^\d{4}-(0[1-9]|1[0-2])$"


class Member(BaseModel):
    person_id: str
    working_age: bool = False  # 有劳动能力: makes the review half-yearly (seed 004)
    working: bool = False  # in employment: the employment-cost deduction applies (seed 001)
    special: bool = False  # minor, elderly, severely disabled or seriously ill: add-on (seed 004)
    severely_disabled_or_ill: bool = False  # 重残人员、重病患者: may be enrolled alone (单人保, seed 002)
    work_place: WorkPlace | None = None  # 务工地 when working away from home (employment-cost deduction, seed 001)
    full_care: bool = False  # an extreme-poverty person needing full care (照料护理, seeds 003/004)


class IncomeChange(BaseModel):
    """A reported income change (recipients must report changes, seed 004): an off-cycle review at the
    first period starting on or after ``effective_on``."""

    monthly_income_fen: int = Field(ge=0)  # the household's new monthly total
    reason: Literal["employment", "other"]
    effective_on: date
    working_person_ids: list[str] | None = None  # who now works (None: unchanged)
    income_stable: bool | None = None  # None: unchanged
    reported_by: str = "recipient"
    assertion: Assertion | None = None  # the service that sends it, signed (shared/assertions.py); not kept


class MemberDeath(BaseModel):
    person_id: str
    died_on: date
    monthly_income_fen: int | None = Field(default=None, ge=0)  # the household's income after, if known
    reported_by: str = "registry"
    assertion: Assertion | None = None  # the service that sends it, signed (shared/assertions.py); not kept


class Household(BaseModel):
    members: list[Member] = Field(min_length=1)
    monthly_income_fen: int = Field(default=0, ge=0)
    urban: bool = True
    extreme_poverty: bool = False
    income_stable: bool = True  # 收入来源固定 (seed 004)
    remote: bool = False
    registry_version: int | None = None  # the registry's version this view was read at
    monthly_rigid_expenditure_fen: int = Field(default=0, ge=0)  # deducted where a pack says so (seeds 002/003/004)
    single_person: bool = False  # 单人保: the applicant alone is enrolled (seeds 002/003/004)
    marginal: bool = False  # a recognised 低保边缘 household (低收入人口数据库): 单人保 needs it (seed 002)
    orphan: Literal["institutional", "dispersed"] | None = None  # the enrolled persons are orphans (seed 002)

    def benefit_facts(self) -> BenefitHousehold:
        """What the monthly benefit depends on (shared/policy/benefit.py). The first member is the
        applicant (the one a 单人保 enrolment enrols alone)."""
        m = self.members
        return BenefitHousehold(size=len(m), monthly_income_fen=self.monthly_income_fen, urban=self.urban,
                                extreme_poverty=self.extreme_poverty, remote=self.remote,
                                working_members=sum(x.working for x in m), special_members=sum(x.special for x in m),
                                monthly_rigid_expenditure_fen=self.monthly_rigid_expenditure_fen,
                                single_person=self.single_person, marginal=self.marginal,
                                applicant_severely_disabled_or_ill=m[0].severely_disabled_or_ill,
                                work_places=tuple(x.work_place for x in m if x.working and x.work_place),
                                full_care_persons=sum(x.full_care for x in m) if self.extreme_poverty else 0,
                                orphan=self.orphan)


def cadence_of(h: Household) -> Literal["stable", "unstable"]:
    """Seed 004: yearly reviews for extreme-poverty households and households with stable income and no
    working-age member (「每年核查一次」); half-yearly for unstable income or working-age members
    (「每半年核查一次」)."""
    if not h.extreme_poverty and (not h.income_stable or any(m.working_age for m in h.members)):
        return "unstable"
    return "stable"


def add_months(period: str, n: int) -> str:
    y, m = (int(x) for x in period.split("-"))
    i = y * 12 + m - 1 + n
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


class EnrolmentApplication(BaseModel):
    """A dibao application at the one window: the economic status check, then the county's decision
    (审核确认, seed 003), before the first period is reviewed and paid."""

    application_id: str
    registered_by: str
    role: str
    region: str = ""
    consent: bool


class EnrolmentDecision(TierDecision):
    """The confirmation (审核确认) of a dibao enrolment at the policy's level, or its refusal (update
    ``decide``)."""


class PendingChange(BaseModel):
    kind: Literal["income_changed", "member_deceased"]
    effective_on: date
    income: IncomeChange | None = None
    death: MemberDeath | None = None


class RenewalState(BaseModel):
    """Everything a continued-as-new run carries over."""

    period: str = Field(pattern=PERIOD)  # the next period to process
    index: int = 0  # periods since the first one (0-based), for the due time and installment number
    household: Household
    status: Literal["active", "gradual_exit", "exit_suspended", "terminated"] = "active"
    level_fen: int = 0  # the benefit level currently paid per month
    kind: Literal["dibao", "extreme_poverty"] = "dibao"
    next_review: str | None = None  # the period of the next scheduled review
    exit_months_left: int = 0
    exit_reason: str = ""
    last_income_reason: Literal["employment", "other"] | None = None
    pending: list[PendingChange] = Field(default_factory=list)
    paid_fen: int = 0
    paid_periods: int = 0
    reviews: list[dict[str, str | int]] = Field(default_factory=list)  # the latest outcomes (bounded)
    seq: int = 0  # the case-transition sequence (published once per seq: never restart it)
    runs: int = 1
    paid_through: str | None = None  # the last period this case paid (a quarter's payment: its last month)
    # the standards-register entry level_fen is priced at (提标: a newer one reprices the level and
    # back-pays the months already paid at it); None: not known yet (set at the next period)
    priced_from: date | None = None
    priced_version: str | None = None


class RenewalInput(BaseModel):
    case_id: str
    person_id: str  # the applicant / head of household
    household_id: str | None = None
    region_code: str
    household: Household
    first_period: str = Field(pattern=PERIOD)  # YYYY-MM, the first benefit month
    # When the first period falls due on the clock; period k falls due k calendar months later.
    # Default: the first day of first_period, 00:00 UTC. A household migrated from an earlier system
    # (or a backdated enrolment) sets it to when this workflow takes over.
    first_due_at: datetime | None = None
    rural_quarterly: bool = False  # the region pays rural dibao quarterly (seed 003)
    periods_per_run: int = Field(default=12, ge=1)  # continue-as-new after this many periods
    state: RenewalState | None = None  # set only by continue-as-new
    # --- a case carried for the roster (services/intake/enrolment.py) ---
    # hand the household back to the region's monthly cycle once a review settles it at an active level
    hand_back: bool = False
    application: EnrolmentApplication | None = None  # an enrolment: check and decision first
    review_reason: str | None = None  # a review case: why it was opened (reviewed at its first period)
    enrolment_id: str | None = None
    enrolled_from: str | None = None
    opening_state: RenewalState | None = None  # a review case starts from the roster's state
    # a refusal reversed on reconsideration (workflows/reconsideration/): the case pays every month from the
    # month of application through this one (back pay) before handing the household to the cycle
    back_pay_through: str | None = Field(default=None, pattern=PERIOD)


class RenewalResult(BaseModel):
    case_id: str
    outcome: Literal["terminated", "handed_back", "rejected"]
    reason: str
    last_period: str
    paid_fen: int  # in the last run's carried total (all runs)
    paid_periods: int
    runs: int
