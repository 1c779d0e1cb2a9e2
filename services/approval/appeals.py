"""The office's answers to the applicant, over HTTP: the decision record and its letters (决定书, 审批表),
reconsideration (复核, decided by another official) and complaints through the supervision hotline.

``GET /api/cases/{id}/decision`` (JSON), ``…/decision-letter.pdf``, ``…/approval-form.pdf``;
``POST /api/cases/{id}/appeals`` (a clerk or caseworker registers the applicant's request),
``GET /api/cases/{id}/appeals``, ``POST /api/cases/{id}/appeals/decision`` (another official decides);
``POST /api/complaints``, ``POST /api/complaints/{id}/answer``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.approval.decision_records import PATHWAY_KEY, REGION_KEY, case_facts, decision_record
from services.approval.officials import Store, signatory_for
from services.approval.store_decisions import DecisionsStore
from shared.auth import Principal, Role, found_in_jurisdiction, require_jurisdiction, require_roles
from shared.config import TASK_QUEUE_WORKFLOWS
from shared.documents.letters import approval_form, decision_letter
from shared.documents.records import DecisionRecord, beijing_date
from shared.infra.case_updates import update_case
from shared.infra.errors import Conflict, NotFound
from shared.policy import load_library
from workflows.reconsideration.complaint import ComplaintWorkflow
from workflows.reconsideration.inputs import (
    COMPLAINT_PATHWAY,
    PATHWAY,
    AppealDecision,
    AppealView,
    ComplaintAnswer,
    ComplaintInput,
    OriginalDecision,
    ReconsiderationInput,
    appeal_id_for,
)
from workflows.reconsideration.workflow import ReconsiderationWorkflow
from workflows.renewal.inputs import RenewalInput

router = APIRouter(prefix="/api")

Reader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.committee, Role.finance, Role.auditor))]
Registrar = Annotated[Principal, Depends(require_roles(Role.clerk, Role.township_approver, Role.county_approver))]
Reviewer = Annotated[Principal, Depends(require_roles(Role.county_approver))]
Answerer = Annotated[Principal, Depends(require_roles(Role.township_approver, Role.county_approver))]
# what a reconsideration may contest (an approval at the policy's amount is not a grievance)
CONTESTABLE = ("refused", "exit", "recovery", "reduced", "good_faith_correction", "closed")


def _decisions(request: Request) -> DecisionsStore:
    store: DecisionsStore = request.app.state.decisions
    return store


def _temporal(request: Request) -> Client:
    client: Client = request.app.state.runtime.temporal
    return client


Decisions = Annotated[DecisionsStore, Depends(_decisions)]
Temporal = Annotated[Client, Depends(_temporal)]


def _days(name: str, region: str, on: date) -> int:
    fig = load_library().parameter(name, region, on)
    if fig is None or fig.value is None:
        raise Conflict(f"no policy pack sets {name} for {region}")
    return fig.as_int()


def _today() -> date:
    return beijing_date(datetime.now(UTC))


async def _visible_record(client: Client, store: DecisionsStore, case_id: str, principal: Principal) -> DecisionRecord:
    record, _ = await decision_record(client, store, case_id)
    found_in_jurisdiction(principal, record.region_code, "case")
    return record


@router.get("/cases/{case_id}/decision", response_model=DecisionRecord, summary="The case's decision record")
async def get_decision(case_id: str, principal: Reader, temporal: Temporal, store: Decisions) -> DecisionRecord:
    """决定记录: outcome, amount (fen), the rule and its seed quote, who decided, when, and the 复核 deadline."""
    return await _visible_record(temporal, store, case_id, principal)


def _pdf(body: bytes, name: str, ascii_name: str) -> Response:
    """A header holds latin-1 only: the Chinese file name goes in ``filename*`` (RFC 6266), an ASCII one beside."""
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(body, media_type="application/pdf", headers={"Content-Disposition": disposition})


@router.get("/cases/{case_id}/decision-letter.pdf", response_class=Response, summary="决定书 (PDF)",
            responses={200: {"content": {"application/pdf": {}}}})
async def get_decision_letter(case_id: str, principal: Reader, temporal: Temporal, store: Decisions) -> Response:
    return _pdf(decision_letter(await _visible_record(temporal, store, case_id, principal)), f"{case_id}-决定书.pdf",
                f"{case_id}-decision-letter.pdf")


@router.get("/cases/{case_id}/approval-form.pdf", response_class=Response, summary="审批表 (PDF)",
            responses={200: {"content": {"application/pdf": {}}}})
async def get_approval_form(case_id: str, principal: Reader, temporal: Temporal, store: Decisions) -> Response:
    return _pdf(approval_form(await _visible_record(temporal, store, case_id, principal)), f"{case_id}-审批表.pdf",
                f"{case_id}-approval-form.pdf")


# ---- reconsideration (复核) ----------------------------------------------------------------------------

class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "家中另有一名重病成员，医疗支出未计入，请求复核"},
    ]})

    reason: str = Field(min_length=1, max_length=2000, description="申请人的复核理由")


class AppealOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"appeal_id": "rc-em-7f3c2a91", "case_id": "em-7f3c2a91", "created": True, "decide_within_days": 30},
    ]})

    appeal_id: str
    case_id: str
    created: bool  # False: the case's reconsideration was asked for before (one per case)
    decide_within_days: int


async def _refused_enrolment(client: Client, case_id: str) -> RenewalInput | None:
    """The refused enrolment's own input (the household as the case knew it), from its history."""
    history = await client.get_workflow_handle(case_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [inp] = await client.data_converter.decode(started.input.payloads, [RenewalInput])
    return inp if isinstance(inp, RenewalInput) and inp.application is not None else None


@router.post("/cases/{case_id}/appeals", response_model=AppealOut, status_code=202,
             summary="Register the applicant's request for reconsideration (复核)")
async def request_appeal(case_id: str, body: AppealIn, principal: Registrar, temporal: Temporal,
                         store: Decisions, officials: Store, response: Response) -> AppealOut:
    record, facts = await decision_record(temporal, store, case_id)
    found_in_jurisdiction(principal, record.region_code, "case")
    if record.outcome not in CONTESTABLE:
        raise Conflict(f"不可申请复核：决定为{record.outcome_zh} / a decision '{record.outcome}' is not contested "
                       "by reconsideration")
    today = _today()
    if today > record.remedies.reconsideration_deadline:
        raise Conflict(f"复核申请已超过期限（{record.remedies.reconsideration_deadline.isoformat()}） / the "
                       "reconsideration period has passed")
    decider = await officials.find_official(record.decided_by) if record.decided_by != "policy" else None
    reenrol = (await _refused_enrolment(temporal, case_id)
               if facts.workflow_type == "Renewal" and record.outcome == "refused" else None)
    household = [m.person_id for m in reenrol.household.members] if reenrol else []
    days = _days("reconsideration_decision_days", record.region_code, today)
    appeal_id = appeal_id_for(case_id)
    inp = ReconsiderationInput(
        appeal_id=appeal_id, case_id=case_id, pathway=record.pathway, region_code=record.region_code,
        person_id=reenrol.person_id if reenrol else None, household_ids=household,
        requested_by=principal.subject, requested_role=str(principal.role), reason=body.reason, requested_on=today,
        decide_within_days=days, reenrol=reenrol,
        original=OriginalDecision(outcome=record.outcome, decided_by=record.decided_by,
                                  decided_by_person_id=decider.person_id if decider else None,
                                  decided_on=record.decided_on, reason=record.reason))
    created = await _start(temporal, ReconsiderationWorkflow.run, inp, appeal_id, PATHWAY, record.region_code)
    if not created:
        response.status_code = 200
    return AppealOut(appeal_id=appeal_id, case_id=case_id, created=created, decide_within_days=days)


async def _start(client: Client, run: Any, inp: BaseModel, workflow_id: str, pathway: str, region: str) -> bool:
    """Start a duty's workflow once per id (a second request is the same case)."""
    try:
        await client.start_workflow(
            run, inp, id=workflow_id, task_queue=TASK_QUEUE_WORKFLOWS,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes([SearchAttributePair(PATHWAY_KEY, pathway),
                                                     SearchAttributePair(REGION_KEY, region)]))
    except WorkflowAlreadyStartedError:
        return False
    return True


@router.get("/cases/{case_id}/appeals", response_model=AppealView, summary="The case's reconsideration")
async def get_appeal(case_id: str, principal: Reader, temporal: Temporal) -> AppealView:
    facts = await case_facts(temporal, case_id)
    found_in_jurisdiction(principal, facts.region, "case")
    try:
        return await temporal.get_workflow_handle(appeal_id_for(case_id)).query(ReconsiderationWorkflow.appeal)
    except Exception as exc:  # no reconsideration of this case
        raise NotFound(f"no reconsideration of case {case_id}") from exc


class AppealDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"outcome": "reversed", "reason": "补充材料证明重病成员医疗支出，原决定撤销"},
    ]})

    outcome: Literal["upheld", "reversed"] = Field(description="维持原决定 upheld / 撤销原决定 reversed")
    reason: str = Field(min_length=1, max_length=2000)


class AppealDecisionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"appeal_id": "rc-em-7f3c2a91", "outcome": "reversed", "by": "zhao.reviewer"},
    ]})

    appeal_id: str
    outcome: str
    by: str


@router.post("/cases/{case_id}/appeals/decision", response_model=AppealDecisionOut,
             summary="Decide a reconsideration (an official other than the original decider)")
async def decide_appeal(case_id: str, body: AppealDecisionIn, principal: Reviewer, temporal: Temporal,
                        officials: Store) -> AppealDecisionOut:
    found_in_jurisdiction(principal, (await case_facts(temporal, case_id)).region, "case")
    by = await signatory_for(officials, principal)
    appeal_id = appeal_id_for(case_id)
    outcome = await update_case(temporal, appeal_id, ReconsiderationWorkflow.decide, AppealDecision(
        official=principal.subject, role=str(principal.role), region=principal.region,
        reverse=body.outcome == "reversed", reason=body.reason, person_id=by.person_id), by=by)
    return AppealDecisionOut(appeal_id=appeal_id, outcome=outcome, by=principal.subject)


# ---- complaints (监督投诉) -------------------------------------------------------------------------------

class ComplaintIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {
            "case_id": "em-7f3c2a91", "region_code": "640104", "channel": "hotline",
            "text": "申请已超过一个月未收到答复", "request_id": "hotline-20261201-0042",
        },
    ]})

    case_id: str | None = Field(default=None, max_length=200, description="the case complained about, if any")
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$",
                                    description="the office (county code) complained about, without a case")
    channel: Literal["hotline", "window", "letter", "online"] = "hotline"
    text: str = Field(min_length=1, max_length=4000, description="投诉内容")
    request_id: str = Field(min_length=1, max_length=100,
                            description="the caller's id of this complaint: a retried request is the same complaint")


class ComplaintOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "complaint_id": "cp-5b0e1c7d9a2f4e6b8c3d1a0f", "created": True, "answer_within_days": 15,
            "due_on": "2026-12-16",
        },
    ]})

    complaint_id: str
    created: bool
    answer_within_days: int
    due_on: date


@router.post("/complaints", response_model=ComplaintOut, status_code=202, summary="Record a complaint (监督投诉)")
async def record_complaint(body: ComplaintIn, principal: Registrar, temporal: Temporal,
                           response: Response) -> ComplaintOut:
    if body.case_id is not None:
        facts = await case_facts(temporal, body.case_id)
        found_in_jurisdiction(principal, facts.region, "case")
        region = facts.region
    elif body.region_code is not None:
        require_jurisdiction(principal, body.region_code)
        region = body.region_code
    else:
        raise Conflict("case_id 或 region_code 必填其一 / name the case or the office (region_code)")
    today = _today()
    days = _days("complaint_answer_days", region, today)
    complaint_id = "cp-" + hashlib.sha256(f"{principal.subject}|{body.request_id}".encode()).hexdigest()[:24]
    inp = ComplaintInput(complaint_id=complaint_id, region_code=region, case_id=body.case_id, channel=body.channel,
                         text=body.text, received_by=principal.subject, received_on=today, answer_within_days=days)
    created = await _start(temporal, ComplaintWorkflow.run, inp, complaint_id, COMPLAINT_PATHWAY, region)
    if not created:
        response.status_code = 200
    return ComplaintOut(complaint_id=complaint_id, created=created, answer_within_days=days,
                        due_on=today + timedelta(days=days))


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"answer": "经核查，该申请已于 12 月 3 日审批并发放，已电话告知申请人"},
    ]})

    answer: str = Field(min_length=1, max_length=4000, description="答复内容")


class AnswerOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"complaint_id": "cp-5b0e1c7d9a2f4e6b8c3d1a0f", "answered": True, "by": "sun.supervisor"},
    ]})

    complaint_id: str
    answered: bool
    by: str


@router.post("/complaints/{complaint_id}/answer", response_model=AnswerOut, summary="Answer a complaint")
async def answer_complaint(complaint_id: str, body: AnswerIn, principal: Answerer, temporal: Temporal,
                           officials: Store) -> AnswerOut:
    by = await signatory_for(officials, principal)
    handle = temporal.get_workflow_handle(complaint_id)
    try:
        described = await handle.describe()
    except Exception as exc:
        raise NotFound(f"complaint {complaint_id} not found") from exc
    region = described.typed_search_attributes.get(REGION_KEY)
    found_in_jurisdiction(principal, region, "complaint")
    if described.status != WorkflowExecutionStatus.RUNNING:
        raise Conflict("this complaint is answered already")
    await update_case(temporal, complaint_id, ComplaintWorkflow.answer, ComplaintAnswer(
        official=principal.subject, role=str(principal.role), region=principal.region, answer=body.answer), by=by)
    return AnswerOut(complaint_id=complaint_id, answered=True, by=principal.subject)
