"""The contracts between workflows and the services' activities: one input model per activity.

Workflows call activities by name on the owning service's task queue, so a workflow never imports
service code (or an I/O library) into its sandbox; fields can be added without breaking callers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

# intake
LOOKUP_RECIPIENT = "intake.lookup_recipient"
RECORD_CASE_TRANSITION = "intake.record_case_transition"
# approval
DECIDE_WITHIN_AUTHORITY = "approval.decide_within_authority"
# payment
DISBURSE = "payment.disburse"


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


class ApprovalRequest(BaseModel):
    case_id: str
    pathway: str
    measure: str
    region_code: str
    business_date: date
    amount_fen: int
    direct_payment: bool = False
    requires_application: bool = False
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
    payment_id: str
    idempotency_key: str
    amount_fen: int
    paid_at: datetime
    duplicate: bool = False
