"""The models of a person's decision that several pathways share the shape of. Each update still has a
model of its own (``CountyDecision``, ``ApproverDecision``, ``EnrolmentDecision`` derive from
``TierDecision``); the JSON on the wire is the fields below, as recorded histories carry it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from shared.assertions import Assertion
from shared.contracts.authority import AmountRule, AuthorityLimits


class SignedAction(BaseModel):
    """What every person's (or service's) update carries besides its own fields: the sender's role and
    jurisdiction (a region prefix; "" = the province), and the front door's signed assertion of both
    (shared/assertions.py), which the workflow's validator verifies."""

    role: str
    region: str = ""
    assertion: Assertion | None = None


class TierDecision(SignedAction):
    """An approver's decision at a tier of authority: approve an amount, or refuse with a reason."""

    approver: str
    approve: bool
    amount_fen: int | None = None
    reason: str = ""
    person_id: str | None = None         # the approver's registered national ID, for conflict-of-interest checks


class Escalation(SignedAction):
    """An approver or administrator raises a case waiting for a decision to one matter, one discussion
    (一事一议): a decision above the awaited tier's authority sends it up (services/approval/routes.py)."""

    official: str
    reason: str = Field(min_length=1)


class RetryRequest(SignedAction):
    """An administrator re-runs a step that failed after its retries (after the cause was fixed)."""

    official: str
    reason: str = Field(min_length=1)


class StallMark(BaseModel):
    """The stalled-case sweep marks (or clears) a case the operators must look at, and why."""

    stalled: bool
    reason: str = ""


class AssessmentSubmitted(SignedAction):
    """The caseworker's assessed amount (核定救助金额) and why."""

    official: str                 # the caseworker who assesses
    amount_fen: int
    reason: str = Field(min_length=1)


Closing = TypeVar("Closing", bound=str)


@dataclass(frozen=True)
class Decided(Generic[Closing]):
    """What the approval tiers (or the committee) decided: pay ``amount`` (from ``pay_from``) with ``reason``
    recorded on the case, or close the case (``closing``: the pathway's outcome, e.g. refused)."""

    amount: int = 0
    pay_from: str | None = None
    reason: str = ""
    closing: Closing | None = None


class AuthorityView(BaseModel):
    """Who may decide how much on a case now (query ``authority``): the tier awaited (None: no decision
    is awaited, or the case went up to the committee), every tier's cap, the policy's rule of the amount,
    and whether a decision above the cap sends the case up to the committee."""

    awaiting: str | None = None
    limits: AuthorityLimits | None = None
    rule: AmountRule | None = None
    escalable: bool = False


class CaseStateView(BaseModel):
    """A case's step, its open deadlines and its flags (query ``state``)."""

    stage: str
    deadlines: list[dict[str, Any]] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)


class CaseResult(BaseModel):
    """How a one-time case ended (each pathway's result adds its own ``outcome``): what was paid, by which
    payment, why, under which policy."""

    case_id: str
    amount_fen: int = 0
    payment_id: str | None = None
    reason: str = ""
    policy: dict[str, str | None] | None = None
