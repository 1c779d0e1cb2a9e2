"""Approval's HTTP routes: a person's decision on a case, carried to its workflow as an update whose
validator checks the step, the role, the jurisdiction, separation of duties and conflict of interest."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.auth import Principal, Role, current_principal, require_roles
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


class TaskView(BaseModel):
    task_id: str
    case_id: str
    pathway: str
    kind: str
    role: str
    region_code: str
    amount_fen: int | None
    summary: str
    due_at: datetime | None
    opened_at: datetime
    overdue: bool


@router.get("/tasks", response_model=list[TaskView], summary="Your inbox: open steps waiting for your role")
async def inbox(principal: Annotated[Principal, Depends(current_principal)], request: Request,
                kind: str | None = None) -> list[TaskView]:
    """Open tasks for the caller's role inside the caller's jurisdiction (admins see every role's)."""
    pool = request.app.state.runtime.pool
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT *, (due_at IS NOT NULL AND due_at < now()) AS overdue FROM tasks
            WHERE closed_at IS NULL AND region_code LIKE $1 || '%' AND ($2::text IS NULL OR role = $2)
              AND ($3::text IS NULL OR kind = $3)
            ORDER BY due_at NULLS LAST, opened_at
            """,
            principal.region, None if principal.role == Role.admin else str(principal.role), kind,
        )
    return [TaskView(**{k: r[k] for k in TaskView.model_fields}) for r in rows]
