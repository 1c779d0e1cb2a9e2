"""Outbound domain events (docs/contracts.md, "Outbound domain events").

CloudEvents on ``doudi.case.*`` and ``doudi.payment.*``. Every one carries ``case_id`` and
``pathway``; payment events also ``payment_id``, ``amount_fen``, ``person_id`` and the inbound
event that caused them as ``cause_event_id``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CASE_OPENED = "doudi.case.opened"
CASE_UPDATED = "doudi.case.updated"
CASE_ESCALATED = "doudi.case.escalated"
CASE_STALLED = "doudi.case.stalled"
CASE_CLOSED = "doudi.case.closed"
PAYMENT_DISBURSED = "doudi.payment.disbursed"
PAYMENT_RECOVERY_OPENED = "doudi.payment.recovery_opened"
# One per chunk of a batch subsidy (case_id = the batch id).
PAYMENT_BATCH_PROGRESS = "doudi.payment.batch_progress"
# The office's set-based duties (operations: referrals.py, care_visits.py), one event per cause. They ride the
# case stream (doudi.case.>) beside the case events; the read model takes them as timeline facts only.
# Reconsideration, complaints and 公示 are cases of their own and publish the case events above (stages in
# docs/contracts.md).
REFERRAL_OPENED = "doudi.case.referral.opened"
REFERRAL_OUTCOME_RECORDED = "doudi.case.referral.outcome_recorded"
REFERRAL_OVERDUE = "doudi.case.referral.overdue"
CARE_VISIT_RECORDED = "doudi.case.care_visit.recorded"
CARE_VISIT_OVERDUE = "doudi.case.care_visit.overdue"
CAREGIVER_REPLACED = "doudi.case.care_visit.caregiver_replaced"
DUTY_SUBJECTS = (REFERRAL_OPENED, REFERRAL_OUTCOME_RECORDED, REFERRAL_OVERDUE,
                 CARE_VISIT_RECORDED, CARE_VISIT_OVERDUE, CAREGIVER_REPLACED)

DOMAIN_SUBJECTS = (
    CASE_OPENED, CASE_UPDATED, CASE_ESCALATED, CASE_STALLED, CASE_CLOSED,
    PAYMENT_DISBURSED, PAYMENT_RECOVERY_OPENED, PAYMENT_BATCH_PROGRESS, *DUTY_SUBJECTS,
)


class CaseEventData(BaseModel):
    model_config = ConfigDict(extra="allow")

    case_id: str
    pathway: str
    status: str
    stage: str
    person_id: str | None = None
    household_id: str | None = None
    region_code: str | None = None
    cause_event_id: str | None = None
    note: str = ""
    policy: dict[str, Any] | None = None
    approved_amount_fen: int | None = None
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    filed_where: FiledWhere | None = None  # case.opened: applied where the person lives or works


class FiledWhere(BaseModel):
    """On ``doudi.case.opened`` of a case applied for where the person lives or works, not where their
    household is registered: the registration office is informed (issue 17 item 5)."""

    basis: str                    # habitual_residence | work_place | emergency_place
    deciding_region_code: str     # the office that decides and pays (the case's region)
    registered_region_code: str   # where the household is registered


class PaymentEventData(BaseModel):
    model_config = ConfigDict(extra="allow")

    case_id: str
    pathway: str
    payment_id: str
    amount_fen: int
    person_id: str
    installment: int = 1
    source_account: str = ""
    cause_event_id: str | None = None
    paid_at: datetime


class BatchProgressData(BaseModel):
    """``doudi.payment.batch_progress``: one per chunk paid and per status change of a batch subsidy; it
    carries ``case_id`` (= the batch id) and ``pathway`` like every domain event, so the read model's
    timeline takes it as it is. A status change adds the installment it concerns."""

    model_config = ConfigDict(extra="allow")

    case_id: str
    pathway: str
    batch_id: str
    kind: str  # chunk | status
    measure: str
    region_code: str
    status: str
    stage: str
    note: str = ""
    paid_count: int
    paid_fen: int
    chunks_done: int
    expected_payments: int | None = None
    cause_event_id: str | None = None
    occurred_at: datetime


class ReferralEventData(BaseModel):
    """``doudi.case.referral.*``: a referral (转介) opened, its outcome recorded, or past due without one
    (once). ``case_id`` is the referred case; ``outcome`` only once recorded."""

    model_config = ConfigDict(extra="allow")

    case_id: str
    referral_id: str
    region_code: str
    to_kind: str
    to_name: str
    service: str
    due_at: datetime
    outcome: str | None = None
    note: str = ""
    occurred_at: datetime


class CareVisitEventData(BaseModel):
    """``doudi.case.care_visit.recorded`` / ``.overdue`` / ``.caregiver_replaced``: a dispersed 特困 person's
    visit (探访) recorded, the next one past due (once per due date), or the caregiver replaced (a recorded
    decision). Not a case: ``case_id`` is None and the CloudEvents ``subject`` is the person's id."""

    model_config = ConfigDict(extra="allow")

    case_id: None = None
    person_id: str
    region_code: str
    care_level: str
    caregiver: str
    next_visit_due: datetime | None = None
    visit_id: str | None = None          # recorded
    change_id: str | None = None         # caregiver_replaced
    previous_caregiver: str | None = None
    note: str = ""
    occurred_at: datetime


def domain_cloudevent(
    subject: str, event_id: str, data: BaseModel, *, source: str, time: datetime | None = None
) -> dict[str, Any]:
    """The CloudEvents envelope for an outbound domain event; type is ``<subject>.v1``."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": f"{subject}.v1",
        "subject": getattr(data, "case_id", None) or getattr(data, "person_id", None),
        "time": (time or datetime.now(UTC)).isoformat(),
        "datacontenttype": "application/json",
        "data": data.model_dump(mode="json"),
    }

