"""The straight-through lane (docs/adr/0021): the cases of a storm that no person needs to touch, paid and closed
together — one call per service for all of them — and each then given its own workflow: the record of a case
the lane settled (``EmergencyReliefSettled``), or, for a case that left the straight path, its own
``EmergencyRelief`` from the start (every step the lane took for it repeats under the same key: a no-op).

The straight path is the emergency-relief workflow's own for a registered recipient entitled by status: the
policy's fixed amount, at or below the committee's threshold, approved within the township's authority, paid
at once, nothing owed afterwards. The transitions recorded are that workflow's, in the same order and words.

A lane never fails for one case, nor loses its cases: a step that fails for a case (its policy, its decision,
its payment), or a whole batch step that fails for good, hands the cases it was for over to their own
workflows, where the same step runs again under the same key and fails, if it does, visibly for that case.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.common import SERVICE_RETRY, STEP_TIMEOUT, policy_of

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_INTAKE, TASK_QUEUE_PAYMENT
    from shared.contracts import activities as act
    from shared.policy import Entitlement, ServiceLevels
    from workflows.emergency_relief.inputs import MEASURE_FOR_TRIGGER, PATHWAY, EmergencyReliefInput
    from workflows.policy import EvaluateEntitlement, ServiceLevelsQuery, evaluate_entitlement, service_levels

WORKFLOW = "EmergencyReliefLane"
# the steps recorded and the cases started in one call to intake (they were two: one workflow task and one
# activity less per lane)
SETTLE_IN_ONE_CALL = "lane-settles-in-one-call"
BATCH_TIMEOUT = timedelta(seconds=60)
# a local activity that fails for good (a policy the packs cannot answer) raises its ApplicationError itself
# on this SDK, not wrapped in an ActivityError as an activity's failure is
LOCAL_FAILURES = (ActivityError, ApplicationError)


class LaneInput(BaseModel):
    cases: list[EmergencyReliefInput] = Field(min_length=1)


class LaneResult(BaseModel):
    settled: list[str]
    handed_over: list[str]


def lane_id(case_ids: list[str]) -> str:
    """The lane's workflow id: from its cases (the same gathering started twice is one lane)."""
    return "lane-" + hashlib.sha256("\n".join(sorted(case_ids)).encode()).hexdigest()[:24]


class _Case:
    """One case on its way through the lane."""

    def __init__(self, inp: EmergencyReliefInput):
        self.inp = inp
        self.entitlement: Entitlement | None = None
        self.approval: act.ApprovalOutcome | None = None
        self.payment: act.Disbursement | None = None

    @property
    def case_id(self) -> str:
        return self.inp.case_id


@workflow.defn(name=WORKFLOW, sandboxed=False)
class EmergencyReliefLaneWorkflow:
    @workflow.run
    async def run(self, inp: LaneInput) -> LaneResult:
        # one per case id: a case gathered twice is still paid, recorded and started once here
        cases = list({c.case_id: _Case(c) for c in inp.cases}.values())
        straight = await self._assessed(cases)
        straight = await self._approved(straight)
        straight = await self._paid(straight)
        if workflow.patched(SETTLE_IN_ONE_CALL):
            straight = await self._settled(straight, cases)
        else:  # lanes started before: the steps recorded, then the cases started, in two calls
            straight = await self._recorded(straight)
            await self._started(straight, cases)
        settled = {c.case_id for c in straight}
        return LaneResult(settled=sorted(settled), handed_over=[c.case_id for c in cases if c.case_id not in settled])

    async def _assessed(self, cases: list[_Case]) -> list[_Case]:
        """The policy for each (local activities, in one workflow task); the straight path only for a case
        whose registry facts came with it and that no disaster report raises (the workflow looks the facts up,
        and raises the aid for the losses), and an entitlement by status of a fixed amount within the
        committee's threshold. A case the policy cannot answer is handed over (its own workflow fails on it)."""
        cases = [c for c in cases if c.inp.facts is not None and c.inp.disaster is None]
        levels: dict[tuple[str, object], ServiceLevels | None] = {}
        for c in cases:
            key = (c.inp.region_code, c.inp.business_date)
            if key not in levels:
                try:
                    levels[key] = await workflow.execute_local_activity(
                        service_levels, ServiceLevelsQuery(region_code=key[0], on=c.inp.business_date),
                        start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
                except LOCAL_FAILURES:
                    workflow.logger.warning("lane: no service levels for %s; its cases are handed over", key[0])
                    levels[key] = None

        async def assess(c: _Case) -> None:
            assert c.inp.facts is not None  # filtered above
            try:
                c.entitlement = await workflow.execute_local_activity(
                    evaluate_entitlement,
                    EvaluateEntitlement(measure=c.inp.measure or MEASURE_FOR_TRIGGER[c.inp.trigger],
                                        region_code=c.inp.region_code, on=c.inp.business_date,
                                        profile=c.inp.facts.profile(),
                                        requested_amount_fen=c.inp.requested_amount_fen),
                    start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
            except LOCAL_FAILURES:
                workflow.logger.warning("lane: the policy of %s failed; handed over", c.case_id)

        await asyncio.gather(*(assess(c) for c in cases
                               if levels[(c.inp.region_code, c.inp.business_date)] is not None))
        straight = []
        for c in cases:
            lv = levels[(c.inp.region_code, c.inp.business_date)]
            if c.entitlement is not None and lv is not None and _straight(c.entitlement, lv):
                straight.append(c)
        return straight

    async def _approved(self, cases: list[_Case]) -> list[_Case]:
        if not cases:
            return []
        try:
            answer = await workflow.execute_activity(
                act.DECIDE_WITHIN_AUTHORITY_MANY,
                act.ApprovalRequests(requests=[_approval_request(c) for c in cases]),
                task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=BATCH_TIMEOUT, retry_policy=SERVICE_RETRY,
                result_type=act.ApprovalOutcomes)
        except ActivityError:
            return _handed_over(act.DECIDE_WITHIN_AUTHORITY_MANY, cases)
        for c, outcome in zip(cases, answer.outcomes, strict=True):
            c.approval = outcome
        return [c for c in cases if c.approval is not None and c.approval.decision == "approved"]

    async def _paid(self, cases: list[_Case]) -> list[_Case]:
        if not cases:
            return []
        try:
            answer = await workflow.execute_activity(
                act.DISBURSE_MANY, act.DisbursementRequests(requests=[_disbursement(c) for c in cases]),
                task_queue=TASK_QUEUE_PAYMENT, start_to_close_timeout=BATCH_TIMEOUT, retry_policy=SERVICE_RETRY,
                result_type=act.Disbursements)
        except ActivityError:  # some may be paid: their own workflows get the payment back under its key
            return _handed_over(act.DISBURSE_MANY, cases)
        for c, payment in zip(cases, answer.results, strict=True):
            c.payment = payment
        return [c for c in cases if c.payment is not None and c.payment.status == "paid"]

    async def _settled(self, straight: list[_Case], cases: list[_Case]) -> list[_Case]:
        """One call to intake: the straight cases' steps recorded, then every case's own workflow started. If it
        fails for good, every case is handed over (some may have been recorded and started: their records stay,
        and the second start of an id is a no-op)."""
        try:
            await workflow.execute_activity(
                act.SETTLE_LANE_CASES,
                act.LaneSettlement(recorded=[_transitions(c) for c in straight], starts=_starts(straight, cases)),
                task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=BATCH_TIMEOUT, retry_policy=SERVICE_RETRY)
        except ActivityError:
            straight = _handed_over(act.SETTLE_LANE_CASES, straight)
            await self._started(straight, cases)
        return straight

    async def _started(self, straight: list[_Case], cases: list[_Case]) -> None:
        await workflow.execute_activity(
            act.START_LANE_CASES, act.LaneCaseStarts(cases=_starts(straight, cases)),
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=BATCH_TIMEOUT, retry_policy=SERVICE_RETRY)

    async def _recorded(self, cases: list[_Case]) -> list[_Case]:
        if not cases:
            return []
        try:
            await workflow.execute_activity(
                act.RECORD_CASES_TRANSITIONS, act.CasesTransitions(cases=[_transitions(c) for c in cases]),
                task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=BATCH_TIMEOUT, retry_policy=SERVICE_RETRY)
        except ActivityError:  # some may be recorded: their own workflows record the same steps again
            return _handed_over(act.RECORD_CASES_TRANSITIONS, cases)
        return cases


def _handed_over(step: str, cases: list[_Case]) -> list[_Case]:
    """A batch step failed for good (its retries cannot cure it): none of its cases goes on in the lane, and
    the lane still starts each case's own workflow."""
    workflow.logger.warning("lane: %s failed for good; its %d cases are handed over", step, len(cases))
    return []


def _straight(e: Entitlement, levels: ServiceLevels) -> bool:
    return (e.payable and not e.needs_assessment and not e.economic_check_required and not e.amount_open
            and not e.amount_is_minimum and e.floor_fen is None and not e.installments
            and 0 < e.amount_fen <= levels.committee_threshold_fen)


def _approval_request(c: _Case) -> act.ApprovalRequest:
    e = c.entitlement
    assert e is not None
    return act.ApprovalRequest(case_id=c.case_id, pathway=PATHWAY, measure=e.measure, region_code=c.inp.region_code,
                               business_date=c.inp.business_date, amount_fen=e.amount_fen,
                               direct_payment=e.direct_payment, requires_application=e.requires_application,
                               economic_check_required=e.economic_check_required, registered_by=c.inp.opened_by)


def _disbursement(c: _Case) -> act.DisbursementRequest:
    e, a, facts = c.entitlement, c.approval, c.inp.facts
    assert e is not None and a is not None and facts is not None
    source = (act.account(act.TOWNSHIP_RESERVE, c.inp.region_code) if a.pay_from == "township_reserve"
              else act.account(act.COUNTY_FUND, c.inp.region_code[:6]))
    return act.DisbursementRequest(
        idempotency_key=f"{c.case_id}:1", case_id=c.case_id, pathway=PATHWAY, person_id=c.inp.person_id,
        household_id=facts.household_id, region_code=c.inp.region_code, amount_fen=a.amount_fen, installment=1,
        account=source, cause_event_id=c.inp.cause_event_id, measure=e.measure)


def _transitions(c: _Case) -> act.CaseTransitions:
    """The emergency-relief workflow's own four steps of a case paid at once and closed."""
    e, a, p = c.entitlement, c.approval, c.payment
    assert e is not None and a is not None and p is not None
    policy, amount, now = policy_of(e), a.amount_fen, workflow.now()

    def step(seq: int, status: str, stage: str, note: str, amount_fen: int, **closing: object) -> act.CaseTransition:
        return act.CaseTransition(case_id=c.case_id, pathway=PATHWAY, seq=seq, status=status, stage=stage, note=note,
                                  policy=policy, approved_amount_fen=amount_fen, at=now, flags=[], deadlines=[],
                                  **closing)

    return act.CaseTransitions(transitions=[
        step(1, "open", "assessed", e.reason, e.amount_fen),
        step(2, "open", "approved", a.reason, amount),
        step(3, "paid", "paid", f"paid {amount} fen, payment {p.payment_id}", amount),
        step(4, "closed", "closed", "paid under assist-first", amount, closed=True, outcome="paid"),
    ])


def _starts(straight: list[_Case], cases: list[_Case]) -> list[act.LaneCaseStart]:
    """Each case's own workflow: the record of a straight case, or the case handed over from the start."""
    settled = {c.case_id for c in straight}
    return [*(_settled_start(c) for c in straight),
            *(act.LaneCaseStart(case_id=c.case_id, settled=False) for c in cases if c.case_id not in settled)]


def _settled_start(c: _Case) -> act.LaneCaseStart:
    e, a, p = c.entitlement, c.approval, c.payment
    assert e is not None and a is not None and p is not None
    result = {"case_id": c.case_id, "outcome": "paid", "amount_fen": a.amount_fen, "payment_id": p.payment_id,
              "reason": e.reason, "policy": policy_of(e)}
    return act.LaneCaseStart(case_id=c.case_id, settled=True, result=result)
