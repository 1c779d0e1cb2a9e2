"""Reconsideration (复核): the applicant contests a decision; an official other than the original decider
decides it within the deadline (local practice, ``reconsideration_decision_days``), past which the case
is escalated. Upheld: the decision letter stands. Reversed: a refused dibao enrolment is enrolled from
the month of application, the months owed paid at the policy's level (a renewal case of its own, keyed
``dibao:<household>:<period>`` like every roster payment, so a retried reversal pays nothing twice).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from temporalio import workflow

from workflows.common import SERVICE_RETRY, STEP_TIMEOUT, check_official, verified_principal
from workflows.reconsideration.steps import DutySteps

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_APPROVAL
    from shared.contracts import activities as act
    from workflows.reconsideration.inputs import (
        DECIDERS,
        PATHWAY,
        AppealDecision,
        AppealView,
        ReconsiderationInput,
        ReconsiderationResult,
    )
    from workflows.renewal.inputs import RenewalInput
    from workflows.renewal.workflow import RenewalWorkflow

RENEWAL_PATHWAY = "renewal"


def beijing_month(at: datetime) -> str:
    b = at + timedelta(hours=8)
    return f"{b.year:04d}-{b.month:02d}"


@workflow.defn(name="Reconsideration")
class ReconsiderationWorkflow(DutySteps):
    @workflow.init
    def __init__(self, inp: ReconsiderationInput) -> None:
        self._init_steps(inp.appeal_id, inp.region_code, PATHWAY)
        self._inp = inp
        self._decision: AppealDecision | None = None
        self._awaiting = False
        self._reenrolment: str | None = None

    @workflow.query
    def appeal(self) -> AppealView:
        d = self._decision
        return AppealView(appeal_id=self._inp.appeal_id, case_id=self._inp.case_id, stage=self._stage,
                          due=self._deadlines[0]["due"] if self._deadlines else None,
                          outcome=None if d is None else "reversed" if d.reverse else "upheld",
                          decided_by=d.official if d else None, reason=d.reason if d else None,
                          reenrolment_case_id=self._reenrolment, flags=list(self._flags))

    @workflow.update
    async def decide(self, decision: AppealDecision) -> str:
        self._decision = decision
        return "reversed" if decision.reverse else "upheld"

    @decide.validator
    def _validate_decision(self, decision: AppealDecision) -> None:
        d = decision
        if not self._awaiting or self._decision is not None:
            raise ValueError("this reconsideration is not waiting for a decision")
        claims = verified_principal(d, "decide", subject=d.official, role=d.role, region=d.region,
                                    person_id=d.person_id, registered=True)
        if d.role not in DECIDERS:
            raise ValueError(f"role {d.role} cannot decide a reconsideration (复核由县级民政部门办理)")
        o = self._inp.original
        if d.official == o.decided_by or (o.decided_by_person_id and claims.person_id == o.decided_by_person_id):
            raise ValueError("复核须由原决定人以外的工作人员办理 / the original decider cannot decide the "
                             "reconsideration of their own decision")
        check_official(case_region=self._region, registered_by=self._inp.requested_by,
                       household=set(self._inp.household_ids), official=d.official, region=d.region,
                       official_person_id=claims.person_id)

    @workflow.run
    async def run(self, inp: ReconsiderationInput) -> ReconsiderationResult:
        o = inp.original
        await self._open_case(
            workflow_type="Reconsideration", trigger="appeal", person_id=inp.person_id, on=inp.requested_on,
            parent_case_id=inp.case_id, workflow_input=inp.model_dump(mode="json"),
            note=f"reconsideration of case {inp.case_id} ({o.outcome} by {o.decided_by}) asked via "
                 f"{inp.requested_by}: {inp.reason}")
        self._awaiting = True
        await self._await_person(
            lambda: self._decision is not None, kind="reconsideration", role="county_approver",
            days=inp.decide_within_days, summary=f"复核 {inp.case_id}: {inp.reason}"[:500],
            waiting_note=f"awaiting an official other than {o.decided_by} to decide the reconsideration",
            overdue_note=f"reconsideration of {inp.case_id} not decided within {inp.decide_within_days} days "
                         "(local practice): escalated to the county")
        self._awaiting = False
        d = self._decision
        assert d is not None
        outcome = "reversed" if d.reverse else "upheld"
        await self._close_task("reconsideration", d.official, outcome)
        await workflow.execute_activity(
            act.RECORD_DECISION,
            act.DecisionRecord(case_id=inp.appeal_id, step="reconsideration",
                               decision="approved" if d.reverse else "rejected", tier="county", amount_fen=0,
                               decided_by=d.official, role=d.role, reason=f"{outcome}: {d.reason}",
                               region_code=self._region, measure=inp.pathway, at=workflow.now()),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
        await self._record("open", f"reconsideration_{outcome}",
                           f"reconsideration {outcome} by {d.official}: {d.reason}")
        paid = 0
        if d.reverse and inp.reenrol is not None:
            paid = await self._reenrol(inp.reenrol, d)
        elif d.reverse:
            await self._record("open", "reversed_without_payment",
                               f"the {inp.pathway} decision is reversed; the office re-decides the case "
                               "(no automatic payment for this pathway)")
        await self._record("closed", "closed", f"reconsideration {outcome} by {d.official}: {d.reason}",
                           closed=True, outcome=outcome, amount=paid)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ReconsiderationResult(appeal_id=inp.appeal_id, case_id=inp.case_id, outcome=outcome,
                                     decided_by=d.official, reason=d.reason, paid_fen=paid,
                                     reenrolment_case_id=self._reenrolment)

    async def _reenrol(self, refused: RenewalInput, d: AppealDecision) -> int:
        """The refused enrolment, reversed: a renewal case from the month of application (no second
        confirmation: this decision is it), paying every month owed through this month before it hands the
        household to the monthly cycle. The level is the policy's, computed by that case."""
        case_id = f"{refused.case_id}-reversed"
        self._reenrolment = case_id
        first = refused.first_period
        child = refused.model_copy(update={
            "case_id": case_id, "application": None, "enrolment_id": case_id, "enrolled_from": first,
            "first_due_at": datetime.combine(datetime.fromisoformat(first + "-01").date(), time(0), tzinfo=UTC),
            "back_pay_through": max(first, beijing_month(workflow.now())), "state": None})
        await self._open_case(
            case_id=case_id, pathway=RENEWAL_PATHWAY, trigger="reconsideration_reversed", person_id=refused.person_id,
            on=self._inp.requested_on, parent_case_id=self._case_id, workflow_type="Renewal",
            workflow_input=child.model_dump(mode="json"),
            note=f"enrolment from {first} after reconsideration {self._case_id} reversed the refusal of "
                 f"{refused.case_id} ({d.official})")
        await self._record("open", "reenrolling", f"enrolled from {first}: case {case_id} pays the months owed")
        # a child case like a committee's staged plan (workflows/escalation.py): its parent is this case
        result = await workflow.execute_child_workflow(RenewalWorkflow.run, child, id=case_id,
                                                       task_queue=workflow.info().task_queue)
        return result.paid_fen
