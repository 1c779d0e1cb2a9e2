from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.contracts.pathways import ONE_MATTER
from workflows.decisions import SignedAction
from workflows.staged_aid.inputs import PlannedInstallment

PATHWAY = ONE_MATTER.name  # the registry's key (shared/contracts/pathways.py)


class OneMatterInput(BaseModel):
    case_id: str
    parent_case_id: str
    parent_pathway: str
    person_id: str
    region_code: str
    business_date: date
    requested_amount_fen: int
    reason: str                     # why it came to the committee (above the cap, escalated by whom)
    dossier: dict[str, Any] = Field(default_factory=dict)
    registered_by: str = "system"
    # what the policy itself already grants (fixed, or the 不低于 floor; 0: the policy leaves it open): the
    # committee only ever raises aid, so it never decides less, and its refusal leaves this amount due
    base_entitlement_fen: int = Field(default=0, ge=0)


class Opinion(SignedAction):
    member_id: str
    vote: Literal["approve", "reject"]
    amount_fen: int | None = None
    reason: str = Field(min_length=1)


class CommitteeDecision(SignedAction):
    """The chair records the committee's decision once the quorum has given opinions."""

    member_id: str
    approve: bool
    amount_fen: int | None = None
    plan: list[PlannedInstallment] = Field(default_factory=list)  # empty: paid at once
    reason: str = Field(min_length=1)


class OneMatterResult(BaseModel):
    case_id: str
    approve: bool
    amount_fen: int = 0
    plan: list[PlannedInstallment] = Field(default_factory=list)
    reason: str = ""
    opinions: list[dict[str, Any]] = Field(default_factory=list)


class MatterView(BaseModel):
    """The committee's matter as it stands (query ``matter``): its step, quorum, deadline, the opinions given
    (without their signatures) and the members who still owe one."""

    stage: str
    quorum: int
    deadlines: list[dict[str, Any]] = Field(default_factory=list)
    opinions: list[dict[str, Any]] = Field(default_factory=list)
    owed_by: list[str] = Field(default_factory=list)
