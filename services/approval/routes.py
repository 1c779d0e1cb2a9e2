"""Approval's HTTP routes: a person's decision on a case, carried to its workflow as an update whose
validator checks the step, the role, the jurisdiction, separation of duties and conflict of interest."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.approval.officials import signatory_for
from shared.auth import Principal, Role, current_principal, require_roles
from shared.contracts.authority import AuthorityLimits, above_authority_message
from shared.contracts.money import PositiveCaseFen
from shared.infra.case_updates import update_case
from workflows.staged_aid.inputs import PlannedInstallment

router = APIRouter(prefix="/api")

Decider = Annotated[Principal, Depends(require_roles(
    Role.township_approver, Role.county_approver, Role.committee, Role.finance))]
Escalator = Annotated[Principal, Depends(require_roles(Role.township_approver, Role.county_approver))]


class DecisionIn(BaseModel):
    """``approve``/``reject`` answer a case waiting for the county; ``recover``/``good_faith_correction``
    resolve an ineligibility finding after verification; ``county_pays_directly`` pays a case that
    waits on an empty township reserve from the county fund."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "recover", "good_faith_correction", "county_pays_directly",
                      "opinion", "committee_decision"]
    amount_fen: PositiveCaseFen | None = None
    reason: str = Field(default="", max_length=2000)
    pay_from: Literal["township_reserve", "county_fund"] | None = None
    vote: Literal["approve", "reject"] | None = Field(default=None, description="opinion: a member's vote")
    approve: bool | None = Field(default=None, description="committee_decision: the chair records the outcome")
    plan: list[PlannedInstallment] = Field(default_factory=list, description="committee_decision: staged plan")

    @model_validator(mode="after")
    def _fields_for_decision(self) -> DecisionIn:
        if self.decision == "approve" and not self.amount_fen:
            raise ValueError("amount_fen: an approval needs a positive amount")
        if self.decision in ("reject", "recover", "good_faith_correction", "opinion", "committee_decision") \
                and not self.reason.strip():
            raise ValueError("reason: this decision needs a reason")
        if self.decision == "opinion" and self.vote is None:
            raise ValueError("vote: an opinion votes approve or reject")
        if self.decision == "committee_decision" and self.approve is None:
            raise ValueError("approve: the committee's decision approves or refuses")
        return self


class DecisionOut(BaseModel):
    case_id: str
    decision: str
    accepted: bool
    by: str


async def _above_authority(temporal: Any, case_id: str, amount_fen: int) -> tuple[str, bool] | None:
    """(why, the case can go up to the committee) when ``amount_fen`` is above the awaited tier's limit.
    A case that cannot say (another pathway, closed, recorded before limits) is left to its validator."""
    try:
        view = await temporal.get_workflow_handle(case_id).query("authority")
    except Exception:  # no such query or case: the workflow's validator still refuses what it must
        return None
    tier, limits = view.get("awaiting"), view.get("limits")
    if not tier or not limits:
        return None
    cap = AuthorityLimits.model_validate(limits).cap(tier)
    if cap is not None and cap.allows(amount_fen):
        return None
    return above_authority_message(tier, amount_fen, cap), bool(view.get("escalable"))


async def _refuse_above_authority(temporal: Any, case_id: str, body: DecisionIn, principal: Principal,
                                  by: Any) -> None:
    """A decision above the official's delegated limit is refused (409, in Chinese and English) and the
    case goes up a tier: an emergency case to the county coordination committee (一事一议). Nothing is paid."""
    if body.decision != "approve" or body.amount_fen is None:
        return
    above = await _above_authority(temporal, case_id, body.amount_fen)
    if above is None:
        return
    message, escalable = above
    if escalable:
        try:
            await update_case(temporal, case_id, "escalate", dict(
                official=principal.subject, role=str(principal.role), region=principal.region,
                reason=f"decision above the delegated limit: {message}"), by=by)
            message += " — 已报县级困难群众基本生活保障工作协调机制（一事一议） / escalated to the county coordination committee"
        except HTTPException:
            pass  # the case cannot go up (not escalable now): refused all the same
    raise HTTPException(409, message)


@router.post("/cases/{case_id}/decisions", response_model=DecisionOut, summary="Decide on a case")
async def decide(case_id: str, body: DecisionIn, principal: Decider, request: Request) -> DecisionOut:
    temporal = request.app.state.runtime.temporal
    # the update is signed for the workflow (shared/assertions.py) with the registered person id, if any
    by = await signatory_for(request.app.state.runtime.pool, principal)
    who = dict(region=principal.region, person_id=by.person_id)
    if body.decision in ("approve", "reject"):
        await _refuse_above_authority(temporal, case_id, body, principal, by)
        await update_case(temporal, case_id, "decide", dict(
            approver=principal.subject, role=str(principal.role), approve=body.decision == "approve",
            amount_fen=body.amount_fen, reason=body.reason, pay_from=body.pay_from, **who), by=by)
    elif body.decision == "opinion":
        await update_case(temporal, case_id, "opinion", dict(
            member_id=principal.subject, role=str(principal.role), region=principal.region, vote=body.vote,
            amount_fen=body.amount_fen, reason=body.reason), by=by)
    elif body.decision == "committee_decision":
        await update_case(temporal, case_id, "decide", dict(
            member_id=principal.subject, role=str(principal.role), region=principal.region, approve=body.approve,
            amount_fen=body.amount_fen, plan=[i.model_dump(mode="json") for i in body.plan], reason=body.reason),
            by=by)
    elif body.decision == "county_pays_directly":
        await update_case(temporal, case_id, "pay_from_county", dict(
            official=principal.subject, role=str(principal.role), region=principal.region, reason=body.reason), by=by)
    else:
        await update_case(temporal, case_id, "resolve_ineligible", dict(
            official=principal.subject, role=str(principal.role), action=body.decision, reason=body.reason, **who),
            by=by)
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
            WHERE closed_at IS NULL AND starts_with(region_code, $1) AND ($2::text IS NULL OR role = $2)
              AND ($3::text IS NULL OR kind = $3)
            ORDER BY due_at NULLS LAST, opened_at
            """,
            principal.region, None if principal.role == Role.admin else str(principal.role), kind,
        )
    return [TaskView(**{k: r[k] for k in TaskView.model_fields}) for r in rows]


class EscalationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


@router.post("/cases/{case_id}/escalate", response_model=DecisionOut,
             summary="Raise a case waiting for the county to one matter, one discussion (一事一议)")
async def escalate(case_id: str, body: EscalationIn, principal: Escalator, request: Request) -> DecisionOut:
    by = await signatory_for(request.app.state.runtime.pool, principal)
    await update_case(request.app.state.runtime.temporal, case_id, "escalate", dict(
        official=principal.subject, role=str(principal.role), region=principal.region, reason=body.reason), by=by)
    return DecisionOut(case_id=case_id, decision="escalate", accepted=True, by=principal.subject)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    department: str = Field(min_length=1, max_length=100, description="e.g. 民政, 财政, 人社, 医保, 卫健, 教育")
    chair: bool = False
    active: bool = True


@router.put("/committees/{county_code}/members/{member_id}", summary="Appoint or update a committee member")
async def put_member(county_code: Annotated[str, Path(pattern=r"^\d{6}$")], member_id: str, body: MemberIn,
                     principal: Annotated[Principal, Depends(require_roles())], request: Request) -> dict:
    if not principal.may_see(county_code):
        raise HTTPException(404, f"committee {county_code} not found")
    pool = request.app.state.runtime.pool
    async with pool.acquire() as conn, conn.transaction():
        if body.chair:
            await conn.execute("UPDATE committee_members SET chair = false WHERE county_code = $1 AND member_id <> $2",
                               county_code, member_id)
        await conn.execute(
            """
            INSERT INTO committee_members (county_code, member_id, name, department, chair, active)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (county_code, member_id) DO UPDATE SET name = EXCLUDED.name, department = EXCLUDED.department,
                chair = EXCLUDED.chair, active = EXCLUDED.active, updated_at = now()
            """, county_code, member_id, body.name, body.department, body.chair, body.active)
    return {"county_code": county_code, "member_id": member_id, **body.model_dump()}


@router.get("/committees/{county_code}", summary="The committee's own view: members, open matters, minutes")
async def committee_view(county_code: str, principal: Annotated[Principal, Depends(require_roles(
        Role.committee, Role.county_approver, Role.auditor))], request: Request) -> dict:
    if not principal.may_see(county_code):
        raise HTTPException(404, f"committee {county_code} not found")
    rt = request.app.state.runtime
    async with rt.pool.acquire() as conn:
        members = await conn.fetch("SELECT member_id, name, department, chair FROM committee_members"
                                   " WHERE county_code = $1 AND active ORDER BY member_id", county_code)
        open_matters = await conn.fetch("SELECT case_id, summary, amount_fen, due_at, opened_at FROM tasks"
                                        " WHERE kind = 'committee' AND closed_at IS NULL AND starts_with(region_code, $1)"
                                        " ORDER BY due_at", county_code)
        minutes = await conn.fetch("SELECT case_id, parent_case_id, decision, opinions, recorded_at FROM minutes"
                                   " WHERE county_code = $1 ORDER BY recorded_at DESC LIMIT 50", county_code)
    matters = []
    for m in open_matters:
        try:
            state = await rt.temporal.get_workflow_handle(m["case_id"]).query("matter")
        except Exception:  # a matter whose workflow is gone still shows, without the live state
            state = {}
        matters.append({**dict(m), "owed_by": state.get("owed_by"), "opinions": state.get("opinions"),
                        "quorum": state.get("quorum")})
    return {"county_code": county_code, "members": [dict(r) for r in members], "open_matters": matters,
            "minutes": [dict(r) for r in minutes]}
