"""Going up to the county coordination committee (一事一议), as emergency relief and one-off assistance
share it: the ``escalate`` update of a case waiting for an approver's decision (one model, one validator),
the ``authority`` query, the committee's own case (a child workflow) and the staged plan it may decide.

Mixed into a case workflow (deterministic: activities, child workflows and the state handlers read).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from temporalio import workflow

from workflows.common import SERVICE_RETRY, STEP_TIMEOUT, CaseSteps

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_INTAKE
    from shared.contracts import activities as act
    from shared.contracts.authority import AmountRule, AuthorityLimits
    from shared.policy import Entitlement
    from workflows.decisions import AuthorityView, Escalation
    from workflows.one_matter.inputs import OneMatterInput, OneMatterResult

    # the committee's and the staged plan's workflows run in sandboxes of their own (each imports its module
    # afresh there); here they only name the child workflows, so a case that may go up does not define both
    # classes again each time it starts (issue 18: a fifth of the worker's CPU per case)
    from workflows.one_matter.workflow import OneMatterWorkflow
    from workflows.staged_aid.inputs import StagedAidInput, StagedAidResult
    from workflows.staged_aid.workflow import StagedAidWorkflow

ESCALATORS = ("township_approver", "county_approver", "admin")


class CaseSubject(Protocol):
    """What a committee's case and a staged plan take over from the case that goes up."""

    person_id: str
    business_date: date
    cause_event_id: str | None


class CommitteeEscalation(CaseSteps):
    """The workflow sets ``_escalation``, ``_limits`` and ``_rule`` in its init and says which tier's
    decision it awaits (``_awaited_tier``) and whether that decision may go up (``_escalable``)."""

    _escalation: Escalation | None
    _limits: AuthorityLimits | None  # every tier's cap (from the approval step)
    _rule: AmountRule | None         # what the policy says of the amount (fixed/floor/open)

    def _awaited_tier(self) -> str | None:
        """The tier whose decision the case waits for now (None: it waits for none)."""
        raise NotImplementedError

    def _escalable(self) -> bool:
        """The awaited decision may go up to the committee instead."""
        raise NotImplementedError

    @workflow.query
    def authority(self) -> AuthorityView:
        """Who may decide how much on this case now (services/approval/routes.py refuses a decision above
        the awaited tier's cap before it reaches the validator, and sends the case up when it can)."""
        return AuthorityView(awaiting=self._awaited_tier() if self._escalation is None else None,
                             limits=self._limits, rule=self._rule, escalable=self._escalable())

    @workflow.update
    async def escalate(self, escalation: Escalation) -> str:
        self._escalation = escalation
        return "escalated to the county coordination committee"

    @escalate.validator
    def _validate_escalation(self, escalation: Escalation) -> None:
        if self._awaited_tier() is None or not self._escalable():
            raise ValueError("only a case waiting for a decision can be escalated to the committee")
        if self._escalation is not None:
            raise ValueError("already escalated")
        self._verified_official(escalation, "escalate", subject=escalation.official, roles=ESCALATORS,
                                doing="escalate a case")

    # -- one matter, one discussion: the committee's case, and the staged plan it may decide ---------------

    def _subject(self) -> CaseSubject:
        """Whose case it is (the workflow's input)."""
        raise NotImplementedError

    def _base_fen(self) -> int:
        """The amount the policy itself grants (fixed, or the 不低于 floor); 0 when it leaves it open."""
        return self._rule.policy_fen if self._rule is not None and self._rule.kind != "open" else 0

    async def _refer_to_committee(self, entitlement: Entitlement, why: str) -> OneMatterResult:
        """一事一议: the matter becomes a case of the county coordination committee (a child workflow);
        this case waits for its decision."""
        subject = self._subject()
        matter_id = f"om-{self._case_id}"
        matter = OneMatterInput(case_id=matter_id, parent_case_id=self._case_id, parent_pathway=self._pathway,
                                person_id=subject.person_id, region_code=self._region,
                                business_date=subject.business_date, requested_amount_fen=entitlement.amount_fen,
                                reason=why, registered_by=self._registered_by(), base_entitlement_fen=self._base_fen(),
                                dossier={"measure": entitlement.measure, "policy_reason": entitlement.reason})
        await self._open_child_case(matter_id, "one_matter", "committee", "OneMatterOneDiscussion",
                                    matter.model_dump(mode="json"), why)
        await self._record("awaiting_decision", "referred_to_committee", f"{why}: matter {matter_id}",
                           escalated=True, escalated_to="committee")
        return await workflow.execute_child_workflow(
            OneMatterWorkflow.run, matter, id=matter_id, task_queue=workflow.info().task_queue)

    async def _run_staged_plan(self, entitlement: Entitlement, committee: OneMatterResult) -> StagedAidResult:
        """The committee's staged plan is a case of its own (its installments, pauses and re-checks); this
        case stays open until the plan ends."""
        subject = self._subject()
        plan_id = f"sa-{self._case_id}"
        staged = StagedAidInput(case_id=plan_id, person_id=subject.person_id, region_code=self._region,
                                business_date=subject.business_date, measure=entitlement.measure,
                                plan=committee.plan, cause_event_id=subject.cause_event_id,
                                opened_by="committee", parent_case_id=self._case_id)
        await self._open_child_case(plan_id, "staged_aid", "committee_plan", "StagedAid",
                                    staged.model_dump(mode="json"), "staged plan decided by the committee")
        await self._record("open", "staged_plan", f"paid in {len(committee.plan)} installments: plan {plan_id}",
                           amount=committee.amount_fen)
        return await workflow.execute_child_workflow(StagedAidWorkflow.run, staged, id=plan_id,
                                                     task_queue=workflow.info().task_queue)

    async def _open_child_case(self, case_id: str, pathway: str, trigger: str, workflow_type: str,
                               workflow_input: dict[str, Any], note: str) -> None:
        subject = self._subject()
        await workflow.execute_activity(
            act.OPEN_CASE,
            act.CaseOpen(case_id=case_id, pathway=pathway, trigger=trigger, person_id=subject.person_id,
                         region_code=self._region, business_date=subject.business_date,
                         parent_case_id=self._case_id, cause_event_id=subject.cause_event_id,
                         workflow_type=workflow_type, workflow_input=workflow_input, note=note),
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
