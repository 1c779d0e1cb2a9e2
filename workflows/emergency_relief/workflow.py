"""The emergency-relief workflow: look up the person, apply the policy in force on the incident
date, approve within the township's authority, pay, and record every step on the case."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_INTAKE, TASK_QUEUE_PAYMENT
    from shared.contracts import activities as act
    from shared.policy import Entitlement, HouseholdProfile
    from workflows.emergency_relief.inputs import (
        MEASURE_FOR_TRIGGER,
        PATHWAY,
        CountyDecision,
        EmergencyReliefInput,
        EmergencyReliefResult,
    )
    from workflows.policy import EvaluateEntitlement, evaluate_entitlement

# Services may be down for a while (a crash, a deploy): keep retrying, never fail the case for it.
SERVICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                            maximum_interval=timedelta(seconds=30))
PAYMENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                            maximum_interval=timedelta(seconds=60),
                            non_retryable_error_types=["DisbursementConflict"])
STEP_TIMEOUT = timedelta(seconds=10)


@workflow.defn(name="EmergencyRelief")
class EmergencyReliefWorkflow:
    def __init__(self) -> None:
        self._seq = 0
        self._stage = "opened"
        self._county_decision: CountyDecision | None = None
        self._awaiting_county = False

    @workflow.query
    def stage(self) -> str:
        return self._stage

    @workflow.update
    async def decide(self, decision: CountyDecision) -> str:
        self._county_decision = decision
        return "recorded"

    @decide.validator
    def _validate_decision(self, decision: CountyDecision) -> None:
        if not self._awaiting_county:
            raise ValueError("this case is not waiting for a county decision")
        if decision.role not in ("county_approver", "admin"):
            raise ValueError(f"role {decision.role} cannot decide above the township's authority")
        if decision.approve and (decision.amount_fen is None or decision.amount_fen <= 0):
            raise ValueError("an approval needs a positive amount_fen")

    @workflow.run
    async def run(self, inp: EmergencyReliefInput) -> EmergencyReliefResult:
        facts = await self._look_up_recipient(inp)
        entitlement = await self._assess(inp, facts)
        policy = {"pack_id": entitlement.pack_id, "pack_version": entitlement.pack_version,
                  "measure": entitlement.measure, "region_prefix": entitlement.region_prefix}
        await self._record(inp, "open", "assessed", entitlement.reason, policy=policy,
                           amount=entitlement.amount_fen if entitlement.payable else None)
        if not entitlement.payable:
            await self._record(inp, "closed", "closed", entitlement.reason, closed=True,
                               outcome="not_payable", policy=policy)
            return EmergencyReliefResult(case_id=inp.case_id, outcome="not_payable",
                                         reason=entitlement.reason, policy=policy)

        approval = await self._approve(inp, entitlement)
        amount = approval.amount_fen
        if approval.decision == "needs_county":
            decision = await self._await_county_decision(inp, approval)
            if not decision.approve:
                await self._record(inp, "closed", "closed", decision.reason, closed=True,
                                   outcome="rejected", policy=policy)
                return EmergencyReliefResult(case_id=inp.case_id, outcome="rejected",
                                             reason=decision.reason, policy=policy)
            amount = decision.amount_fen or amount
        await self._record(inp, "open", "approved", approval.reason, policy=policy, amount=amount)

        payment = await self._pay(inp, facts, entitlement, amount)
        await self._record(inp, "paid", "paid", f"paid {amount} fen, payment {payment.payment_id}",
                           policy=policy, amount=amount)
        # Document deadline, verification afterwards and recovery come with the full emergency
        # pathway (issue 3); until then a paid case is closed here.
        await self._record(inp, "closed", "closed", "paid under assist-first", closed=True,
                           outcome="paid", policy=policy, amount=amount)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return EmergencyReliefResult(case_id=inp.case_id, outcome="paid", amount_fen=amount,
                                     payment_id=payment.payment_id, reason=entitlement.reason, policy=policy)

    # -- steps -------------------------------------------------------------------------------

    async def _look_up_recipient(self, inp: EmergencyReliefInput) -> act.RecipientFacts:
        self._stage = "looking_up_recipient"
        return await workflow.execute_activity(
            act.LOOKUP_RECIPIENT, act.LookupRecipient(person_id=inp.person_id, on=inp.business_date),
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.RecipientFacts,
        )

    async def _assess(self, inp: EmergencyReliefInput, facts: act.RecipientFacts) -> Entitlement:
        self._stage = "assessing"
        profile = HouseholdProfile(
            categories=frozenset(facts.categories if facts.found and not facts.deceased else ()),
            urban=facts.urban, household_size=max(facts.household_size, 1),
            monthly_income_fen=facts.monthly_income_fen,
        )
        return await workflow.execute_local_activity(
            evaluate_entitlement,
            EvaluateEntitlement(measure=MEASURE_FOR_TRIGGER[inp.trigger], region_code=inp.region_code,
                                on=inp.business_date, profile=profile),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )

    async def _approve(self, inp: EmergencyReliefInput, entitlement: Entitlement) -> act.ApprovalOutcome:
        self._stage = "approving"
        return await workflow.execute_activity(
            act.DECIDE_WITHIN_AUTHORITY,
            act.ApprovalRequest(case_id=inp.case_id, pathway=PATHWAY, measure=entitlement.measure,
                                region_code=inp.region_code, business_date=inp.business_date,
                                amount_fen=entitlement.amount_fen, direct_payment=entitlement.direct_payment,
                                requires_application=entitlement.requires_application,
                                economic_check_required=entitlement.economic_check_required,
                                registered_by=inp.opened_by),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.ApprovalOutcome,
        )

    async def _await_county_decision(self, inp: EmergencyReliefInput,
                                     approval: act.ApprovalOutcome) -> CountyDecision:
        self._stage = "awaiting_county_decision"
        self._awaiting_county = True
        await self._record(inp, "awaiting_decision", "awaiting_county_decision", approval.reason,
                           amount=approval.amount_fen)
        await workflow.wait_condition(lambda: self._county_decision is not None)
        self._awaiting_county = False
        assert self._county_decision is not None
        return self._county_decision

    async def _pay(self, inp: EmergencyReliefInput, facts: act.RecipientFacts, entitlement: Entitlement,
                   amount: int) -> act.Disbursement:
        self._stage = "paying"
        return await workflow.execute_activity(
            act.DISBURSE,
            act.DisbursementRequest(
                idempotency_key=f"{inp.case_id}:1", case_id=inp.case_id, pathway=PATHWAY,
                person_id=inp.person_id, household_id=facts.household_id, region_code=inp.region_code,
                amount_fen=amount, installment=1, account=f"township-reserve:{inp.region_code}",
                cause_event_id=inp.cause_event_id, measure=entitlement.measure,
            ),
            task_queue=TASK_QUEUE_PAYMENT, start_to_close_timeout=STEP_TIMEOUT, retry_policy=PAYMENT_RETRY,
            result_type=act.Disbursement,
        )

    async def _record(self, inp: EmergencyReliefInput, status: str, stage: str, note: str, *,
                      closed: bool = False, outcome: str | None = None,
                      policy: dict[str, str | None] | None = None, amount: int | None = None) -> None:
        self._seq += 1
        self._stage = stage
        await workflow.execute_activity(
            act.RECORD_CASE_TRANSITION,
            act.CaseTransition(case_id=inp.case_id, pathway=PATHWAY, seq=self._seq, status=status,
                               stage=stage, note=note, closed=closed, outcome=outcome, policy=policy,
                               approved_amount_fen=amount, at=workflow.now()),
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )
