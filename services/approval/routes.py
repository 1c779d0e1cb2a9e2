"""Approval's HTTP routes: a person's decision on a case, carried to its workflow as an update whose
validator checks the step, the role, the jurisdiction, separation of duties and conflict of interest."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.approval.officials import Store, signatory_for
from services.approval.store import MinutesRow, OpenMatterRow, TaskRow
from shared.auth import Principal, Role, current_principal, found_in_jurisdiction, require_roles
from shared.contracts.activities import CommitteeMember
from shared.contracts.authority import above_authority_message
from shared.contracts.money import PositiveCaseFen
from shared.infra.case_updates import update_case
from shared.infra.errors import Conflict, NotFound
from workflows.decisions import Escalation
from workflows.emergency_relief.inputs import CountyDecision, CountyPayment, IneligibleResolution
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
from workflows.escalation import CommitteeEscalation
from workflows.one_matter.inputs import CommitteeDecision, Opinion
from workflows.one_matter.workflow import OneMatterWorkflow
from workflows.staged_aid.inputs import PlannedInstallment
from workflows.updates import authority_of, decide_on_case

router = APIRouter(prefix="/api")

Decider = Annotated[Principal, Depends(require_roles(
    Role.township_approver, Role.county_approver, Role.committee, Role.finance))]
Escalator = Annotated[Principal, Depends(require_roles(Role.township_approver, Role.county_approver))]


class DecisionIn(BaseModel):
    """``approve``/``reject`` answer a case waiting for the county; ``recover``/``good_faith_correction``
    resolve an ineligibility finding after verification; ``county_pays_directly`` pays a case that
    waits on an empty township reserve from the county fund."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {
            "decision": "approve", "amount_fen": 195000, "reason": "材料齐全，符合宁夏 20 条第 2 条",
            "pay_from": "county_fund",
        },
    ]})

    decision: Literal["approve", "reject", "recover", "good_faith_correction", "county_pays_directly",
                      "opinion", "committee_decision"]
    amount_fen: PositiveCaseFen | None = None
    reason: str = Field(default="", max_length=2000)
    pay_from: Literal["township_reserve", "county_fund"] | None = None
    vote: Literal["approve", "reject"] | None = Field(default=None, description="opinion: a member's vote")
    approve: bool | None = Field(default=None,
                                 description="committee_decision: the chair records the outcome")
    plan: list[PlannedInstallment] = Field(default_factory=list,
                                           description="committee_decision: staged plan")

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
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"case_id": "em-7f3c2a91", "decision": "approve", "accepted": True, "by": "wang.fang"},
    ]})

    case_id: str
    decision: str
    accepted: bool
    by: str


async def _above_authority(temporal: Any, case_id: str, amount_fen: int) -> tuple[str, bool] | None:
    """(why, the case can go up to the committee) when ``amount_fen`` is above the awaited tier's limit.
    A case that cannot say (another pathway, closed, recorded before limits) is left to its validator."""
    view = await authority_of(temporal, case_id)  # None: the workflow's validator still refuses what it must
    if view is None or not view.awaiting or view.limits is None:
        return None
    cap = view.limits.cap(view.awaiting)
    if cap is not None and cap.allows(amount_fen):
        return None
    return above_authority_message(view.awaiting, amount_fen, cap), view.escalable


async def _refuse_above_authority(temporal: Any, case_id: str, body: DecisionIn, principal: Principal,
                                  by: Any) -> None:
    """A decision above the official's delegated limit is refused (409, in Chinese and English) and the
    case goes up a tier: an emergency case to the county coordination committee (一事一议). Nothing is
    paid."""
    if body.decision != "approve" or body.amount_fen is None:
        return
    above = await _above_authority(temporal, case_id, body.amount_fen)
    if above is None:
        return
    message, escalable = above
    if escalable:
        try:
            await update_case(temporal, case_id, CommitteeEscalation.escalate, Escalation(
                official=principal.subject, role=str(principal.role), region=principal.region,
                reason=f"decision above the delegated limit: {message}"), by=by)
            message += (" — 已报县级困难群众基本生活保障工作协调机制（一事一议） / escalated to the county"
                        " coordination committee")
        except (Conflict, NotFound):
            pass  # the case cannot go up (not escalable now): refused all the same
    raise HTTPException(409, message)


@router.post("/cases/{case_id}/decisions", response_model=DecisionOut, summary="Decide on a case")
async def decide(case_id: str, body: DecisionIn, principal: Decider, store: Store,
                 request: Request) -> DecisionOut:
    temporal = request.app.state.runtime.temporal
    # the update is signed for the workflow (shared/assertions.py) with the registered person id, if any
    by = await signatory_for(store, principal)
    if body.decision in ("approve", "reject"):
        await _refuse_above_authority(temporal, case_id, body, principal, by)
        await decide_on_case(temporal, case_id, CountyDecision(
            approver=principal.subject, role=str(principal.role), approve=body.decision == "approve",
            amount_fen=body.amount_fen, reason=body.reason, pay_from=body.pay_from, region=principal.region,
            person_id=by.person_id), by=by)
    elif body.decision == "opinion":
        assert body.vote is not None  # the body's validator requires it for an opinion
        await update_case(temporal, case_id, OneMatterWorkflow.opinion, Opinion(
            member_id=principal.subject, role=str(principal.role), region=principal.region, vote=body.vote,
            amount_fen=body.amount_fen, reason=body.reason), by=by)
    elif body.decision == "committee_decision":
        assert body.approve is not None  # the body's validator requires it for the committee's decision
        await update_case(temporal, case_id, OneMatterWorkflow.decide, CommitteeDecision(
            member_id=principal.subject, role=str(principal.role), region=principal.region,
            approve=body.approve, amount_fen=body.amount_fen, plan=body.plan, reason=body.reason), by=by)
    elif body.decision == "county_pays_directly":
        await update_case(temporal, case_id, EmergencyReliefWorkflow.pay_from_county, CountyPayment(
            official=principal.subject, role=str(principal.role), region=principal.region,
            reason=body.reason), by=by)
    else:
        action: Literal["recover", "good_faith_correction"] = (
            "recover" if body.decision == "recover" else "good_faith_correction")
        await update_case(temporal, case_id, EmergencyReliefWorkflow.resolve_ineligible, IneligibleResolution(
            official=principal.subject, role=str(principal.role), action=action, reason=body.reason,
            region=principal.region, person_id=by.person_id), by=by)
    return DecisionOut(case_id=case_id, decision=body.decision, accepted=True, by=principal.subject)


TaskView = TaskRow  # an open step as the inbox shows it


@router.get("/tasks", response_model=list[TaskView], summary="Your inbox: open steps waiting for your role")
async def inbox(principal: Annotated[Principal, Depends(current_principal)], store: Store,
                kind: str | None = None) -> list[TaskView]:
    """Open tasks for the caller's role inside the caller's jurisdiction (admins see every role's)."""
    return await store.open_tasks(principal.region,
                                  None if principal.role == Role.admin else str(principal.role), kind)


class EscalationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "超出县级审批额度，提交一事一议"},
    ]})

    reason: str = Field(min_length=1, max_length=2000)


@router.post("/cases/{case_id}/escalate", response_model=DecisionOut,
             summary="Raise a case waiting for the county to one matter, one discussion (一事一议)")
async def escalate(case_id: str, body: EscalationIn, principal: Escalator, store: Store,
                   request: Request) -> DecisionOut:
    by = await signatory_for(store, principal)
    await update_case(request.app.state.runtime.temporal, case_id, CommitteeEscalation.escalate, Escalation(
        official=principal.subject, role=str(principal.role), region=principal.region,
        reason=body.reason), by=by)
    return DecisionOut(case_id=case_id, decision="escalate", accepted=True, by=principal.subject)


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "张丽", "department": "县民政局", "chair": True, "active": True},
    ]})

    name: str = Field(min_length=1, max_length=100)
    department: str = Field(min_length=1, max_length=100,
                            description="e.g. 民政, 财政, 人社, 医保, 卫健, 教育")
    chair: bool = False
    active: bool = True


class MemberOut(MemberIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "name": "张丽", "department": "县民政局", "chair": True, "active": True, "county_code": "640104",
            "member_id": "m-zhangli",
        },
    ]})

    county_code: str
    member_id: str


@router.put("/committees/{county_code}/members/{member_id}", response_model=MemberOut,
            summary="Appoint or update a committee member")
async def put_member(county_code: Annotated[str, Path(pattern=r"^\d{6}$")], member_id: str, body: MemberIn,
                     principal: Annotated[Principal, Depends(require_roles())],
                     store: Store) -> MemberOut:
    found_in_jurisdiction(principal, county_code, f"committee {county_code}")
    await store.put_committee_member(county_code, member_id, name=body.name,
                                     department=body.department, chair=body.chair, active=body.active)
    return MemberOut(county_code=county_code, member_id=member_id, **body.model_dump())


class OpenMatter(OpenMatterRow):
    """A matter before the committee, with its live state (None when its workflow is gone)."""

    owed_by: list[str] | None = None
    opinions: list[dict[str, Any]] | None = None
    quorum: int | None = None


class CommitteeView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "county_code": "640104",
            "members": [
                {"member_id": "m-zhangli", "name": "张丽", "department": "县民政局", "chair": True},
                {"member_id": "m-liuqiang", "name": "刘强", "department": "县财政局", "chair": False},
            ],
            "open_matters": [
                {
                    "case_id": "om-5d1e", "summary": "一事一议：重病家庭医疗支出 6 万元", "amount_fen": 6000000,
                    "due_at": "2026-12-08T17:00:00+08:00", "opened_at": "2026-12-01T08:30:00+08:00",
                    "owed_by": ["m-liuqiang"], "opinions": [{"member_id": "m-zhangli", "vote": "approve"}],
                    "quorum": 2,
                },
            ],
            "minutes": [],
        },
    ]})

    county_code: str
    members: list[CommitteeMember]
    open_matters: list[OpenMatter]
    minutes: list[MinutesRow]


async def _live(temporal: Any, matter: OpenMatterRow) -> OpenMatter:
    try:
        state = await temporal.get_workflow_handle(matter.case_id).query(OneMatterWorkflow.matter)
    except Exception:  # a matter whose workflow is gone still shows, without the live state
        return OpenMatter(**matter.model_dump())
    return OpenMatter(**matter.model_dump(), owed_by=state.owed_by, opinions=state.opinions, quorum=state.quorum)


@router.get("/committees/{county_code}", response_model=CommitteeView,
            summary="The committee's own view: members, open matters, minutes")
async def committee_view(county_code: str, principal: Annotated[Principal, Depends(require_roles(
        Role.committee, Role.county_approver, Role.auditor))], store: Store,
                         request: Request) -> CommitteeView:
    found_in_jurisdiction(principal, county_code, f"committee {county_code}")
    temporal = request.app.state.runtime.temporal
    return CommitteeView(
        county_code=county_code, members=await store.committee_members(county_code),
        open_matters=[await _live(temporal, m)
                      for m in await store.open_committee_matters(county_code)],
        minutes=await store.recent_minutes(county_code))
