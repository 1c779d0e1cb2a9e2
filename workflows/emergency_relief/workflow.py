"""The emergency-relief workflow (先行救助，后补齐说明): look up the person, apply the policy in force on
the incident date, approve within the township's authority (or wait for the county, with an urgent
deadline; or go up to the county coordination committee), pay at once (from the township reserve, waiting
for its top-up if it is empty), then collect the documents owed, verify, and confirm — or recover, or
record a good-faith correction.

The handlers live in handlers.py, the steps after the payment in after_payment.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.common import SERVICE_RETRY, STEP_TIMEOUT, amount_rule_of, policy_of
from workflows.emergency_relief.after_payment import AfterPayment

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_APPROVAL
    from shared.contracts import activities as act
    from shared.contracts.authority import AmountRule, AuthorityLimits
    from shared.policy import Entitlement, ServiceLevels
    from shared.policy.disaster import DisasterLoss
    from workflows.decisions import Decided, Escalation
    from workflows.emergency_relief.disaster import DisasterTopUpQuery, disaster_topup_activity
    from workflows.emergency_relief.inputs import (
        MEASURE_FOR_TRIGGER,
        PATHWAY,
        CountyDecision,
        CountyPayment,
        DocumentsSubmitted,
        EmergencyReliefInput,
        EmergencyReliefResult,
        IneligibleResolution,
        Outcome,
    )
    from workflows.one_matter.inputs import OneMatterResult

# Changes to live logic are patched: histories recorded before a patch replay on the old path.
V2 = "emergency-relief-v2"  # county deadline, reserve wait, documents, verification, recovery
V3 = "emergency-relief-committee"  # above the committee threshold, or escalated: one matter, one discussion
CASEWORKER_ASSESSMENT = "emergency-relief-caseworker-assessment"  # an amount the seed leaves to the county
# a person's amount is bound by the policy's rule (fixed / 不低于 floor / open) and their tier's limit; a
# committee that refuses to raise aid leaves the base entitlement due (issue 13 item 11, issue 14)
AUTHORITY = "emergency-relief-authority"
# a disaster report's losses and casualties raise the aid within the deciding tier's limit (issue 17 item 6)
DISASTER_TOPUP = "emergency-relief-disaster-topup"
# three round trips fewer between the event and the money (issue 18): the registry's facts come with the
# input, and the assessment and the approval are recorded on the case while it goes on to the approval and
# the payment (the next transition still waits for them)
FEWER_ROUND_TRIPS = "emergency-relief-fewer-round-trips"
# paid, then closed at once (nothing owed afterwards): both steps in one call to the case record (issue 18)
PAID_AND_CLOSED = "emergency-relief-paid-and-closed"
# the assessment is recorded with the next transition (the approval, or what the case waits for): a round
# trip fewer; the approval is still on the case before the payment (a hung payment shows "approved")
ASSESSMENT_WITH_NEXT_STEP = "emergency-relief-assessment-with-next-step"
# Issue 18, one marker for a case begun on this release or later (``CaseSteps._since``):
# - every patch above is part of it: such a case writes none of their markers. Each marker comes with an upsert
#   of TemporalChangeVersion, and each workflow task that upserts costs the server a visibility write (three
#   per paid case before); cases begun earlier replay on their own markers, as recorded;
# - the approval within authority is recorded with the payment's outcome (paid and closed: the four steps in
#   one call, a round trip fewer); a payment not back within APPROVAL_SHOWN_AFTER (a hung payment service, a
#   provider down) shows the case approved meanwhile, and a failed one shows it before the case fails.
CONSOLIDATED = "emergency-relief-2026-12-consolidated"
APPROVAL_SHOWN_AFTER = timedelta(seconds=10)


@workflow.defn(name="EmergencyRelief")
class EmergencyReliefWorkflow(AfterPayment):
    @workflow.init
    def __init__(self, inp: EmergencyReliefInput) -> None:
        # the input is known before any update arrives: validators may read it from the first task
        self._init_steps(inp.case_id, inp.region_code, PATHWAY)
        self._inp: EmergencyReliefInput | None = inp
        self._facts: act.RecipientFacts | None = None
        self._county_decision: CountyDecision | None = None
        self._awaiting_county = False
        self._documents: DocumentsSubmitted | None = None
        self._awaiting_documents = False
        self._resolution: IneligibleResolution | None = None
        self._awaiting_resolution = False
        self._reserve_available = False
        self._county_payment: CountyPayment | None = None
        self._awaiting_reserve = False
        self._escalation: Escalation | None = None
        self._init_assessment()
        self._limits: AuthorityLimits | None = None  # every tier's cap (from the approval step)
        self._rule: AmountRule | None = None         # what the policy says of the amount (fixed/floor/open)
        self._overlap = False                        # patch FEWER_ROUND_TRIPS
        self._later = False                          # patch ASSESSMENT_WITH_NEXT_STEP

    # -- the pathway ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: EmergencyReliefInput) -> EmergencyReliefResult:
        self._inp = inp
        self._consolidated = workflow.patched(CONSOLIDATED)
        if not self._consolidated:
            # every release ran these branches (docs/adr/0015-patch-lifecycle.md): no open case takes the old ones
            workflow.deprecate_patch(V2)
            workflow.deprecate_patch(V3)
        self._overlap = self._since(FEWER_ROUND_TRIPS)
        self._later = self._since(ASSESSMENT_WITH_NEXT_STEP)
        facts = self._facts = (inp.facts if self._overlap and inp.facts is not None
                               else await self._look_up(inp.person_id, inp.business_date))
        entitlement, policy, authority = await self._entitlement(inp, facts)
        if not entitlement.payable:
            return await self._close(inp, "not_payable", entitlement.reason, policy)
        levels = await self._levels(inp.business_date)
        decided = await self._decide_amount(inp, entitlement, levels, authority)
        if decided.closing is not None:
            return await self._close(inp, decided.closing, decided.reason, policy, amount=decided.amount)
        amount = decided.amount
        if self._consolidated:
            self._record_later("open", "approved", decided.reason, policy=policy, amount=amount)
            payment = await self._pay_then_record_approval(inp, facts, entitlement, amount, decided.pay_from, levels)
        else:
            await self._note("open", "approved", decided.reason, policy=policy, amount=amount)
            payment = await self._pay(inp, facts, entitlement, amount, decided.pay_from, levels)
        paid_note = f"paid {amount} fen, payment {payment.payment_id}"
        if not entitlement.economic_check_required and self._since(PAID_AND_CLOSED):
            return await self._paid_and_closed(inp, entitlement, payment, amount, policy, paid_note)
        await self._record("paid", "paid", paid_note, policy=policy, amount=amount)
        if not entitlement.economic_check_required:
            return await self._close_paid(inp, entitlement, payment, amount, policy)
        return await self._settle_after_payment(inp, facts, levels, payment, amount, policy)

    # -- steps -------------------------------------------------------------------------------------

    async def _note(self, status: str, stage: str, note: str, *, policy: dict[str, str | None],
                    amount: int | None, with_next: bool = False) -> None:
        """A transition the next step need not wait for: recorded with the next transition where
        ``with_next`` (patch ASSESSMENT_WITH_NEXT_STEP), else meanwhile (patch FEWER_ROUND_TRIPS)."""
        if with_next and self._later:
            self._record_later(status, stage, note, policy=policy, amount=amount)
        elif self._overlap:
            await self._record_meanwhile(status, stage, note, policy=policy, amount=amount)
        else:
            await self._record(status, stage, note, policy=policy, amount=amount)

    async def _entitlement(self, inp: EmergencyReliefInput, facts: act.RecipientFacts
                           ) -> tuple[Entitlement, dict[str, str | None], bool]:
        """What the policy grants (a caseworker assesses an amount it leaves open), the policy applied, and
        whether the policy's amount rule binds the deciding officials (patch AUTHORITY)."""
        entitlement = await self._assess(inp, facts)
        policy = policy_of(entitlement)
        authority = self._since(AUTHORITY)
        if authority:
            self._rule = amount_rule_of(entitlement)
        await self._note("open", "assessed", entitlement.reason, policy=policy, with_next=True,
                         amount=entitlement.amount_fen if entitlement.payable else None)
        if not entitlement.payable and entitlement.needs_assessment and self._since(CASEWORKER_ASSESSMENT):
            # 「直接实施临时救助」 with no amount (disaster outside Ningxia): the caseworker assesses it, the
            # approval tiers decide it
            entitlement = await self._assessed_entitlement(inp, facts, entitlement)
            if self._rule is not None:  # the decided-amount rule follows the assessment
                self._rule = amount_rule_of(entitlement)
        if inp.disaster is not None and entitlement.payable and self._since(DISASTER_TOPUP):
            entitlement = await self._raised_for_disaster(inp, inp.disaster, entitlement)
        return entitlement, policy, authority

    async def _raised_for_disaster(self, inp: EmergencyReliefInput, loss: DisasterLoss,
                                   entitlement: Entitlement) -> Entitlement:
        """Seed 003 「并根据因灾损失、人员伤亡等情况,适当提高救助水平」: the report's losses and casualties raise the
        aid by the pack's scale, within the limit of the tier that decides it (shared/policy/disaster.py)."""
        topup = await workflow.execute_local_activity(
            disaster_topup_activity, DisasterTopUpQuery(region_code=inp.region_code, on=inp.business_date,
                                                        base_fen=entitlement.amount_fen, loss=loss),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
        await self._record("open", "raised_for_disaster", topup.reason, amount=topup.amount_fen)
        if topup.amount_fen == entitlement.amount_fen:
            return entitlement
        raised = entitlement.model_copy(update={
            "amount_fen": topup.amount_fen, "reason": f"{entitlement.reason}; {topup.reason}",
            "citations": [*entitlement.citations, *topup.citations],
            # a 不低于 floor rises with it: the raised amount is the policy's, no decider undercuts it
            "floor_fen": topup.amount_fen if entitlement.floor_fen is not None else None})
        if self._rule is not None:  # the decided-amount rule follows the raised amount
            self._rule = amount_rule_of(raised)
        return raised

    async def _decide_amount(self, inp: EmergencyReliefInput, entitlement: Entitlement, levels: ServiceLevels,
                             authority: bool) -> Decided[Outcome]:
        """Above the committee's threshold the committee decides; else the township within its authority,
        above it the county (or, escalated, the committee)."""
        committee: OneMatterResult | None = None
        if entitlement.amount_fen > levels.committee_threshold_fen:
            committee = await self._refer_to_committee(
                entitlement, f"need of {entitlement.amount_fen} fen exceeds the cap of "
                f"{levels.committee_threshold_fen} fen")
            approval = act.ApprovalOutcome(case_id=inp.case_id, decision="approved", tier="committee",
                                           decided_by="committee", amount_fen=committee.amount_fen,
                                           reason=f"decided by the county coordination committee: {committee.reason}")
        else:
            approval = await self._approve(inp, entitlement)
            self._limits = approval.limits if authority else None
        amount, pay_from = approval.amount_fen, approval.pay_from
        if approval.decision == "needs_county":
            decision = await self._await_county_decision(inp, approval, levels)
            if decision is None:  # escalated: one matter, one discussion
                assert self._escalation is not None
                committee = await self._refer_to_committee(
                    entitlement, f"escalated by {self._escalation.official}: {self._escalation.reason}")
                amount, pay_from = committee.amount_fen, "county_fund"
            else:
                await self._record_decision(inp, decision, entitlement)
                if not decision.approve:
                    return Decided[Outcome](closing="rejected", reason=decision.reason)
                amount = decision.amount_fen or amount
                pay_from = decision.pay_from or "county_fund"
        if committee is not None:
            return await self._committee_outcome(entitlement, committee, authority, approval, amount, pay_from)
        return Decided[Outcome](amount=amount, pay_from=pay_from, reason=_approved(approval, amount))

    async def _committee_outcome(self, entitlement: Entitlement, committee: OneMatterResult, authority: bool,
                                 approval: act.ApprovalOutcome, amount: int, pay_from: str | None) -> Decided[Outcome]:
        if not committee.approve and authority and self._base_fen() > 0:
            # the committee only ever raises aid: its refusal leaves the policy's own amount due
            base = self._base_fen()
            return Decided[Outcome](amount=base, pay_from="county_fund",
                           reason=f"the committee did not raise the aid ({committee.reason}); the base entitlement "
                                  f"of {base} fen ({self._rule.describe() if self._rule else 'the policy'}) stays due")
        if not committee.approve:
            return Decided[Outcome](closing="rejected", reason=f"the committee refused: {committee.reason}")
        if committee.plan:
            staged = await self._run_staged_plan(entitlement, committee)
            return Decided[Outcome](closing="staged_plan", amount=staged.paid_fen,
                           reason=f"the committee decided {committee.amount_fen} fen in {len(committee.plan)} "
                                  f"installments; staged plan {staged.case_id} {staged.outcome}: "
                                  f"{staged.paid_fen} fen paid")
        return Decided[Outcome](amount=amount, pay_from=pay_from, reason=_approved(approval, amount))

    async def _assess(self, inp: EmergencyReliefInput, facts: act.RecipientFacts) -> Entitlement:
        profile = facts.profile()
        return await self._evaluate(inp.measure or MEASURE_FOR_TRIGGER[inp.trigger], inp.business_date, profile,
                                    inp.requested_amount_fen)

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

    async def _await_county_decision(self, inp: EmergencyReliefInput, approval: act.ApprovalOutcome,
                                     levels: ServiceLevels) -> CountyDecision | None:
        """The county's decision, or None when the case was escalated to the committee instead."""
        self._awaiting_county = True
        arrived: Callable[[], bool] = lambda: (  # noqa: E731
            self._county_decision is not None or self._escalation is not None)
        due = workflow.now() + timedelta(hours=levels.county_decision_sla_hours)
        remind = workflow.now() + timedelta(hours=levels.county_decision_reminder_hours)
        self._deadlines = [{"kind": "county_decision", "due": due.isoformat()}]
        await self._open_task("county_decision", "county_approver", due, approval.amount_fen,
                              f"emergency relief above the township's authority: {approval.amount_fen} fen")
        await self._record("awaiting_decision", "awaiting_county_decision",
                           f"{approval.reason}; urgent: decide by {due.isoformat()}", amount=approval.amount_fen)
        if not await self._wait_until(arrived, remind):
            await self._record("awaiting_decision", "awaiting_county_decision",
                               f"reminder: the county decision is due by {due.isoformat()}")
            if not await self._wait_until(arrived, due):
                await self._escalate_overdue("county_decision_overdue", "awaiting_decision",
                                             "awaiting_county_decision",
                                             "the county decision is overdue: escalated to the prefecture",
                                             to="prefecture", arrived=arrived)
        self._deadlines = []
        if self._escalation is not None:
            await self._close_task("county_decision", self._escalation.official, "escalated")
            self._awaiting_county = False
            return None
        assert self._county_decision is not None
        await self._close_task("county_decision", self._county_decision.approver,
                               "approved" if self._county_decision.approve else "rejected")
        self._awaiting_county = False
        assert self._county_decision is not None
        return self._county_decision

    async def _record_decision(self, inp: EmergencyReliefInput, decision: CountyDecision,
                               entitlement: Entitlement) -> None:
        await workflow.execute_activity(
            act.RECORD_DECISION,
            act.DecisionRecord(case_id=inp.case_id, step="county", decision="approved" if decision.approve
                               else "rejected", tier="county", amount_fen=decision.amount_fen or 0,
                               decided_by=decision.approver, role=decision.role, reason=decision.reason,
                               region_code=inp.region_code, measure=entitlement.measure, at=workflow.now()),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )

    async def _pay(self, inp: EmergencyReliefInput, facts: act.RecipientFacts, entitlement: Entitlement,
                   amount: int, pay_from: str | None, levels: ServiceLevels) -> act.Disbursement:
        """Pay once (the key is the case and installment 1); if the township reserve is short, wait for
        its top-up (signal), retry on a timer, or let the county pay directly."""
        self._stage = "paying"
        source = (act.account(act.TOWNSHIP_RESERVE, inp.region_code)
                  if pay_from == "township_reserve"
                  else act.account(act.COUNTY_FUND, inp.region_code[:6]))
        while True:
            self._reserve_available = False  # before the attempt: a top-up signalled during it is not lost
            result = await self._disburse(act.DisbursementRequest(
                idempotency_key=f"{inp.case_id}:1", case_id=inp.case_id, pathway=PATHWAY,
                person_id=inp.person_id, household_id=facts.household_id, region_code=inp.region_code,
                amount_fen=amount, installment=1, account=source, cause_event_id=inp.cause_event_id,
                measure=entitlement.measure,
            ))
            if result.status == "paid":
                self._awaiting_reserve = False
                return result
            if not self._awaiting_reserve:
                self._awaiting_reserve = True
                await self._record("open", "waiting_for_reserve",
                                   f"the township reserve cannot cover {amount} fen yet; replenishment request "
                                   f"{result.replenishment_request_id} is with the county", amount=amount)
            await self._wait_until(lambda: self._reserve_available or self._county_payment is not None,
                                   workflow.now() + timedelta(minutes=levels.reserve_retry_minutes))
            if self._county_payment is not None:
                source = act.account(act.COUNTY_FUND, inp.region_code[:6])
                await self._record("open", "paying", f"the county pays directly "
                                   f"({self._county_payment.official}): {self._county_payment.reason}")

    async def _pay_then_record_approval(self, inp: EmergencyReliefInput, facts: act.RecipientFacts,
                                        entitlement: Entitlement, amount: int, pay_from: str | None,
                                        levels: ServiceLevels) -> act.Disbursement:
        """Pay with the approval not yet on the case: it goes with the payment's outcome (patch
        CONSOLIDATED). What a caseworker must see still shows: a payment not back within
        APPROVAL_SHOWN_AFTER shows the case approved while it goes on, a failed one before the case fails;
        a short reserve records it with the wait (``_pay`` records, and every record takes it first)."""
        paying = asyncio.create_task(self._pay(inp, facts, entitlement, amount, pay_from, levels))
        await workflow.wait([paying], timeout=APPROVAL_SHOWN_AFTER.total_seconds())
        if not paying.done():
            self._record_deferred_meanwhile()
        try:
            return await paying
        except ActivityError:
            await self._record_deferred()
            raise

    async def _assessed_entitlement(self, inp: EmergencyReliefInput, facts: act.RecipientFacts,
                                    entitlement: Entitlement) -> Entitlement:
        assessment = await self._await_assessment(await self._levels(inp.business_date), entitlement.measure)
        profile = facts.profile()
        return await self._evaluate(entitlement.measure, inp.business_date, profile, assessment.amount_fen)

    async def _paid_and_closed(self, inp: EmergencyReliefInput, entitlement: Entitlement,
                               payment: act.Disbursement, amount: int, policy: dict[str, Any],
                               paid_note: str) -> EmergencyReliefResult:
        """Entitled by status (a registered recipient, no check): paid and, with nothing owed afterwards,
        closed; the two steps recorded in one call, each still its own step on the case and the bus."""
        await self._record_together(
            self._next_transition("paid", "paid", paid_note, policy=policy, amount=amount),
            self._next_transition("closed", "closed", "paid under assist-first", closed=True, outcome="paid",
                                  policy=policy, amount=amount))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return EmergencyReliefResult(case_id=inp.case_id, outcome="paid", amount_fen=amount,
                                     payment_id=payment.payment_id, reason=entitlement.reason, policy=policy)

    async def _close_paid(self, inp: EmergencyReliefInput, entitlement: Entitlement, payment: act.Disbursement,
                          amount: int, policy: dict[str, Any]) -> EmergencyReliefResult:
        """Entitled by status (a registered recipient, no check): nothing is owed afterwards."""
        await self._record("closed", "closed", "paid under assist-first", closed=True,
                           outcome="paid", policy=policy, amount=amount)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return EmergencyReliefResult(case_id=inp.case_id, outcome="paid", amount_fen=amount,
                                     payment_id=payment.payment_id, reason=entitlement.reason, policy=policy)


def _approved(approval: act.ApprovalOutcome, amount: int) -> str:
    """What the case records of its approval: the approver's reason, or the county's amount."""
    return approval.reason if approval.decision == "approved" else f"approved by the county: {amount} fen"
