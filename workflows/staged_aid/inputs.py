from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from shared.contracts.pathways import STAGED_AID
from workflows.decisions import SignedAction

PATHWAY = STAGED_AID.name  # the registry's key (shared/contracts/pathways.py)


class PlannedInstallment(BaseModel):
    number: int = Field(ge=1)
    due_on: date
    amount_fen: int = Field(gt=0)


class StagedAidInput(BaseModel):
    """Either an explicit ``plan`` (a committee's staged decision) or a ``measure`` whose policy fixes
    the installments (e.g. Ningxia's one-time living subsidy, 3 x 200 yuan)."""

    case_id: str
    person_id: str
    region_code: str
    business_date: date
    measure: str
    plan: list[PlannedInstallment] = Field(default_factory=list)
    # who stays eligible: the categories the person must still hold at each installment
    required_categories: list[str] = Field(default_factory=list)
    cause_event_id: str | None = None
    opened_by: str = "system"
    parent_case_id: str | None = None  # the case whose decision set up this plan


class PlanChange(SignedAction):
    """pause | resume | cancel | adjust (new amounts for installments not yet paid)."""

    official: str
    action: Literal["pause", "resume", "cancel", "adjust"]
    reason: str = Field(min_length=1)
    amounts: dict[int, int] = Field(default_factory=dict)  # installment number -> new amount (adjust)


class StagedAidResult(BaseModel):
    case_id: str
    outcome: Literal["completed", "cancelled", "stopped_ineligible", "not_payable"]
    paid_fen: int
    paid_installments: list[int]
    reason: str = ""


class PlanView(BaseModel):
    """A staged plan as it stands (query ``plan``, and what a change answers): the installments, what was
    paid per installment number, whether it is paused or cancelled, and the plan's total."""

    plan: list[PlannedInstallment]
    paid: dict[int, int]
    paused: bool
    cancelled: bool
    plan_total_fen: int
