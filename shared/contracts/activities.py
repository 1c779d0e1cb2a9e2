"""The contracts between workflows and the services' activities: one input model per activity.

Workflows call activities by name on the owning service's task queue, so a workflow never imports
service code (or an I/O library) into its sandbox; fields can be added without breaking callers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from shared.contracts.authority import AuthorityLimits
from shared.policy.benefit import BenefitHousehold
from shared.policy.models import HouseholdProfile

# intake
LOOKUP_RECIPIENT = "intake.lookup_recipient"
RECORD_CASE_TRANSITION = "intake.record_case_transition"
# two or more steps that follow at once (paid, then closed): one call, one transaction, in order
RECORD_CASE_TRANSITIONS = "intake.record_case_transitions"
OPEN_CASE = "intake.open_case"
SETTLE_ENROLMENT = "intake.settle_enrolment"
REVIEW_COHORT = "intake.review_cohort"
START_REVIEW_CASES = "intake.start_review_cases"
# the straight-through lane (docs/adr/0021): one call per service for a lane's cases
RECORD_CASES_TRANSITIONS = "intake.record_cases_transitions"
START_LANE_CASES = "intake.start_lane_cases"
# both at once: the settled cases' steps recorded, then every case's own workflow started (one call, not two)
SETTLE_LANE_CASES = "intake.settle_lane_cases"
DECIDE_WITHIN_AUTHORITY_MANY = "approval.decide_within_authority_many"
DISBURSE_MANY = "payment.disburse_many"
# approval
DECIDE_WITHIN_AUTHORITY = "approval.decide_within_authority"
# payment
DISBURSE = "payment.disburse"
OPEN_RECOVERY = "payment.open_recovery"
PAY_PERIOD_ROLL = "payment.pay_period_roll"
# verification
CHECK_ECONOMIC_STATUS = "verification.check_economic_status"
CONFIRM_EVENT = "verification.confirm_event"
# approval
RECORD_DECISION = "approval.record_decision"
OPEN_TASK = "approval.open_task"
COMMITTEE_ROSTER = "approval.committee_roster"
RECORD_MINUTES = "approval.record_minutes"
CLOSE_TASK = "approval.close_task"

# Signals services send to a case's workflow (workflow id = case id).
SIGNAL_RESERVE_AVAILABLE = "reserve_available"

# Where money comes from (ledger accounts).
TOWNSHIP_RESERVE = "township-reserve"   # 乡镇临时救助备用金, per township region code
COUNTY_FUND = "county-fund"             # 县级救助资金, per county code


def account(kind: str, region_code: str) -> str:
    return f"{kind}:{region_code}"


class LookupRecipient(BaseModel):
    person_id: str
    on: date


class RecipientFacts(BaseModel):
    """What the registry knows of a person and their household at the business date."""

    found: bool
    person_id: str
    household_id: str | None = None
    region_code: str | None = None
    urban: bool = True
    categories: list[str] = Field(default_factory=list)
    household_size: int = 0
    monthly_income_fen: int = 0
    deceased: bool = False
    member_ids: list[str] = Field(default_factory=list)

    def profile(self, **extra: Any) -> HouseholdProfile:
        """The facts the policy consults (one place: routing and every pathway build it so); a person
        not found or deceased holds no category. ``extra``: the application's own facts."""
        held = self.categories if self.found and not self.deceased else ()
        return HouseholdProfile(categories=frozenset(held), urban=self.urban,
                                household_size=max(self.household_size, 1),
                                monthly_income_fen=self.monthly_income_fen, **extra)


class CaseTransition(BaseModel):
    """One step of a case, published as ``doudi.case.updated`` (or ``closed``) exactly once per seq."""

    case_id: str
    pathway: str
    seq: int
    status: Literal["open", "awaiting_decision", "paid", "closed"]
    stage: str
    note: str = ""
    closed: bool = False
    outcome: str | None = None
    policy: dict[str, Any] | None = None
    approved_amount_fen: int | None = None
    at: datetime
    escalated: bool = False         # published as doudi.case.escalated
    escalated_to: str | None = None  # county | prefecture | committee
    flags: list[str] = Field(default_factory=list)          # e.g. documents_overdue
    deadlines: list[dict[str, Any]] | None = None           # the case's open deadlines after this step


class CaseTransitions(BaseModel):
    """Steps of one case that follow one another at once, recorded together in their order (each published
    as its own event, exactly once per seq, as ``CaseTransition`` is)."""

    transitions: list[CaseTransition] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_case_in_order(self) -> CaseTransitions:
        ids = {t.case_id for t in self.transitions}
        seqs = [t.seq for t in self.transitions]
        if len(ids) != 1 or seqs != sorted(set(seqs)):
            raise ValueError("transitions must be of one case, in increasing seq")
        return self


class ApprovalRequest(BaseModel):
    case_id: str
    pathway: str
    measure: str
    region_code: str
    business_date: date
    amount_fen: int
    direct_payment: bool = False
    requires_application: bool = False
    application_received: bool = False
    economic_check_required: bool = True
    registered_by: str = "system"


class ApprovalOutcome(BaseModel):
    case_id: str
    decision: Literal["approved", "needs_county", "rejected"]
    tier: Literal["township", "county", "committee"]
    decided_by: str
    amount_fen: int
    reason: str
    township_limit_fen: int | None = None
    # Township-approved temporary assistance is paid first from the township reserve (seed 000);
    # status entitlements and county decisions from the county fund.
    pay_from: Literal["township_reserve", "county_fund"] = "county_fund"
    # every tier's cap of a person's decision on this case (None: an outcome recorded before caps existed)
    limits: AuthorityLimits | None = None


class DecisionRecord(BaseModel):
    """A human decision the workflow accepted (update), recorded in approval's store for audit."""

    case_id: str
    step: str                      # county | committee | recovery | correction ...
    decision: Literal["approved", "rejected", "recover", "good_faith_correction"]
    tier: str
    amount_fen: int = 0
    decided_by: str
    role: str
    reason: str
    region_code: str
    measure: str = ""
    at: datetime


class DisbursementRequest(BaseModel):
    """Idempotency key = the cause: one case, one installment."""

    idempotency_key: str
    case_id: str
    pathway: str
    person_id: str
    household_id: str | None = None
    region_code: str
    amount_fen: int = Field(gt=0)
    installment: int = 1
    account: str
    cause_event_id: str | None = None
    measure: str


class Disbursement(BaseModel):
    """``paid``: the ledger row exists. ``waiting_for_reserve``: the township reserve cannot cover it
    yet; nothing was written to the ledger, a replenishment request is open, and the payment service
    signals ``reserve_available`` to the case's workflow when the reserve is credited."""

    payment_id: str
    idempotency_key: str
    amount_fen: int
    status: Literal["paid", "waiting_for_reserve"] = "paid"
    paid_at: datetime | None = None
    duplicate: bool = False
    replenishment_request_id: str | None = None


class RecoveryRequest(BaseModel):
    """Open a recovery claim (追回) for aid paid to someone found ineligible; idempotent per case."""

    case_id: str
    pathway: str
    person_id: str
    region_code: str
    amount_fen: int = Field(gt=0)
    original_payment_id: str
    reason: str
    decided_by: str


class RecoveryClaim(BaseModel):
    claim_id: str
    case_id: str
    amount_fen: int
    opened_at: datetime
    duplicate: bool = False


class EconomicCheckRequest(BaseModel):
    """家庭经济状况核对: query every department source about the household; idempotent per check_id."""

    check_id: str                  # derived by the caller: "<case_id>:<n>"
    case_id: str
    person_id: str
    household_id: str | None = None
    member_ids: list[str] = Field(default_factory=list)
    region_code: str
    business_date: date
    urban: bool = True
    household_size: int = 1
    declared_monthly_income_fen: int = 0
    # the household's verified rigid expenditure, deducted before the comparison (the caller's policy
    # evaluation says a pack in force allows it: seeds 002/003/004)
    rigid_expenditure_fen: int = Field(default=0, ge=0)
    # False for a single-person inclusion (单人保): the household is above the standard by definition; the
    # policy compares its income with the low-income line, the check looks at income and assets
    compare_income: bool = True
    # the line income is compared with (the measure's economic_test): the dibao standard; the low-income
    # line (marginal_line_multiple x the standard: one-off aid to people 生活困难); or the expenditure test
    # (支出型: income after rigid_expenditure_fen under the standard)
    income_test: Literal["dibao_standard", "low_income_line", "expenditure"] = "dibao_standard"


class EventCheckRequest(BaseModel):
    """急难: verify afterwards that the sudden event happened (seeds 003/004 define 急难 by the event), from
    the agency's own report that opened the case or the documents filed after an assist-first payment."""

    check_id: str                  # "<case_id>:event"
    case_id: str
    person_id: str
    region_code: str
    trigger: Literal["quarantine", "covid_diagnosis", "disaster", "application"]
    incident_date: date
    cause_event_id: str | None = None      # an agency's event that opened the case
    document_kinds: list[str] = Field(default_factory=list)
    explanation: str = ""


class EventCheckResult(BaseModel):
    check_id: str
    outcome: Literal["confirmed", "not_confirmed"]
    reasons: list[str]


class EconomicCheckResult(BaseModel):
    check_id: str
    outcome: Literal["eligible", "ineligible"]
    per_capita_income_fen: int
    household_income_fen: int | None = None  # counted: the larger of declared and verified, before deductions
    limit_fen_per_capita: int | None
    reasons: list[str]
    evidence: list[dict[str, Any]]
    sources: list[str]


class TaskOpen(BaseModel):
    """A step that waits for a person appears in the inbox of the role that may act on it."""

    case_id: str
    pathway: str
    kind: Literal["county_decision", "approval", "resolve_ineligible", "documents", "outreach", "committee",
                  "assessment", "home_visit", "democratic_appraisal", "reconsideration", "complaint"]
    role: str
    region_code: str
    amount_fen: int | None = None
    summary: str = ""
    due_at: datetime | None = None
    # a step a case may take again (a re-check after an objection, workflows/enrolment_duties): its round,
    # so that each round is a task of its own (None: the step's only round)
    round: int | None = Field(default=None, ge=2)


class TaskClose(BaseModel):
    case_id: str
    kind: str
    closed_by: str
    outcome: str
    round: int | None = Field(default=None, ge=2)  # as TaskOpen's


class CaseOpen(BaseModel):
    """A workflow opens a related case of its own (a committee matter, a staged plan); idempotent."""

    case_id: str
    pathway: str
    trigger: str
    person_id: str | None
    region_code: str
    business_date: date
    parent_case_id: str | None = None
    cause_event_id: str | None = None
    workflow_type: str
    workflow_input: dict[str, Any]
    note: str = ""


class CommitteeMember(BaseModel):
    member_id: str
    name: str
    department: str
    chair: bool = False


class RosterRequest(BaseModel):
    region_code: str  # the county (XPCC: the regiment) whose coordination committee decides


class Roster(BaseModel):
    county_code: str
    members: list[CommitteeMember]


class Minutes(BaseModel):
    """The minutes of one matter, one discussion: every opinion, the decision, who decided."""

    case_id: str
    parent_case_id: str | None
    county_code: str
    opinions: list[dict[str, Any]]
    decision: dict[str, Any]
    quorum: int
    recorded_at: datetime


# -- enrolled households: the roster and the monthly cycle (pathway 4) ------------------------------

class EnrolmentSettlement(BaseModel):
    """A renewal case writes what it decided into the roster: at enrolment (the case carries the
    household, ``managed_by='case'``), when it hands the household back to the region's monthly cycle
    (``managed_by='cycle'``), or when the benefit ends (``status='terminated'``). Idempotent: a repeat
    writes the same row; a case that no longer carries the household changes nothing."""

    case_id: str
    household_id: str
    person_id: str
    region_code: str
    kind: Literal["dibao", "extreme_poverty"]
    status: Literal["active", "gradual_exit", "exit_suspended", "terminated"]
    level_fen: int = Field(ge=0)
    cadence: Literal["stable", "unstable"]
    rural_quarterly: bool = False
    next_review: str | None = None  # None: no pack in force sets a review interval (reviews on changes only)
    paid_through: str | None = None
    managed_by: Literal["case", "cycle"]
    enrolled_from: str
    monthly_rigid_expenditure_fen: int = Field(default=0, ge=0)
    single_person: bool = False
    note: str = ""
    # the period of the review that set level_fen: the level is priced at the standard in force then
    # (the cycle reprices from it when a newer standard takes effect, 提标); None: paid_through
    priced_at: str | None = None
    # the facts level_fen was computed from: 提标 reprices them exactly (monthly_benefit under the new
    # standard); None (a case of an older worker): the registry's facts
    facts: BenefitHousehold | None = None


class ReviewCohort(BaseModel):
    cycle_id: str
    region_prefix: str
    period: str  # YYYY-MM


class CohortReviewed(BaseModel):
    cycle_id: str
    enrolled: int  # households carried by the cycle before the review
    due: int  # of them, due for their scheduled review this period
    continued: int  # due, data unchanged: continue at the same level (seed 004 「没有明显变化的，不再调整」)
    cases_opened: int  # data changed, a person needed: an individual review case each
    on_roll: int  # households paid for the period by the cycle
    roll_fen: int
    already_done: bool = False
    reviewed: int = 0  # data changed, the policy decides: reviewed as a set (issue 18)
    exits_ended: int = 0  # gradual exits (roster state) whose months are over: ended by the cycle


class StartReviewCases(BaseModel):
    cycle_id: str


class PayPeriodRoll(BaseModel):
    cycle_id: str
    period: str
    chunk_size: int = Field(default=20_000, ge=100, le=100_000)


class PeriodRollPaid(BaseModel):
    cycle_id: str
    paid_count: int
    paid_fen: int
    seconds: float = 0.0


# -- the straight-through lane (docs/adr/0021): each service's single step, for a lane's cases in one call ----


class ApprovalRequests(BaseModel):
    requests: list[ApprovalRequest] = Field(min_length=1)


class ApprovalOutcomes(BaseModel):
    """In the requests' order; None where that case's decision failed (the lane hands the case over)."""

    outcomes: list[ApprovalOutcome | None]


class DisbursementRequests(BaseModel):
    requests: list[DisbursementRequest] = Field(min_length=1)


class Disbursements(BaseModel):
    """In the requests' order; None where that case's payment failed (the lane hands the case over)."""

    results: list[Disbursement | None]


class CasesTransitions(BaseModel):
    """Each case's transitions, one transaction per case (``CaseTransitions``)."""

    cases: list[CaseTransitions] = Field(min_length=1)


class LaneCaseStart(BaseModel):
    """A case of a lane whose own workflow starts now: ``settled`` (the lane paid and closed it; the
    workflow is its record) or handed over (the case goes on on its own from the start)."""

    case_id: str
    settled: bool
    result: dict[str, Any] | None = None   # the settled case's result (EmergencyReliefResult's JSON)


class LaneCaseStarts(BaseModel):
    cases: list[LaneCaseStart] = Field(min_length=1)


class LaneSettlement(BaseModel):
    """The end of a lane (``SETTLE_LANE_CASES``): the steps of each case it paid and closed, recorded as
    ``CasesTransitions`` records them (one transaction per case); then every case's own workflow started, as
    ``LaneCaseStarts`` starts them. A case's steps are recorded before its record starts."""

    recorded: list[CaseTransitions] = Field(default_factory=list)
    starts: list[LaneCaseStart] = Field(min_length=1)

    @model_validator(mode="after")
    def _recorded_only_for_settled_cases(self) -> LaneSettlement:
        settled = {s.case_id for s in self.starts if s.settled}
        recorded = [c.transitions[0].case_id for c in self.recorded]
        if len(set(recorded)) != len(recorded) or not set(recorded) <= settled:
            raise ValueError("steps are recorded once, and only for a case the lane settled")
        return self
