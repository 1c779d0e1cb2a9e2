"""Approval's HTTP routes: a person's decision on a case, carried to its workflow as an update whose
validator checks the step, the role, the jurisdiction, separation of duties and conflict of interest."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.auth import Principal, Role, require_roles
from shared.contracts.money import Fen
from shared.infra.case_updates import update_case

router = APIRouter(prefix="/api")

Decider = Annotated[Principal, Depends(require_roles(
    Role.township_approver, Role.county_approver, Role.committee, Role.finance))]


class DecisionIn(BaseModel):
    """``approve``/``reject`` answer a case waiting for the county; ``recover``/``good_faith_correction``
    resolve an ineligibility finding after verification; ``county_pays_directly`` pays a case that
    waits on an empty township reserve from the county fund."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "recover", "good_faith_correction", "county_pays_directly"]
    amount_fen: Fen | None = None
    reason: str = Field(default="", max_length=2000)
    pay_from: Literal["township_reserve", "county_fund"] | None = None

    @model_validator(mode="after")
    def _fields_for_decision(self) -> DecisionIn:
        if self.decision == "approve" and not self.amount_fen:
            raise ValueError("amount_fen: an approval needs a positive amount")
        if self.decision in ("reject", "recover", "good_faith_correction") and not self.reason.strip():
            raise ValueError("reason: this decision needs a reason")
        return self


class DecisionOut(BaseModel):
    case_id: str
    decision: str
    accepted: bool
    by: str


@router.post("/cases/{case_id}/decisions", response_model=DecisionOut, summary="Decide on a case")
async def decide(case_id: str, body: DecisionIn, principal: Decider, request: Request) -> DecisionOut:
    temporal = request.app.state.runtime.temporal
    who = dict(region=principal.region, person_id=principal.person_id)
    if body.decision in ("approve", "reject"):
        await update_case(temporal, case_id, "decide", dict(
            approver=principal.subject, role=str(principal.role), approve=body.decision == "approve",
            amount_fen=body.amount_fen, reason=body.reason, pay_from=body.pay_from, **who))
    elif body.decision == "county_pays_directly":
        await update_case(temporal, case_id, "pay_from_county", dict(
            official=principal.subject, role=str(principal.role), region=principal.region, reason=body.reason))
    else:
        await update_case(temporal, case_id, "resolve_ineligible", dict(
            official=principal.subject, role=str(principal.role), action=body.decision, reason=body.reason, **who))
    return DecisionOut(case_id=case_id, decision=body.decision, accepted=True, by=principal.subject)
