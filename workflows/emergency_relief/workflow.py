"""The emergency-relief workflow (先行救助，后补齐说明): look up the person, apply the policy in force on
the incident date, approve within the township's authority (or wait for the county, with an urgent
deadline), pay at once (from the township reserve, waiting for its top-up if it is empty), then collect
the documents owed, verify, and confirm — or recover, or record a good-faith correction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.assessment import CaseworkerAssessment
from workflows.common import (
    CHECK_TIMEOUT,
    SERVICE_RETRY,
    STEP_TIMEOUT,
    check_official,
    policy_of,
    signed_person_id,
    verified_principal,
)
from workflows.escalation import CommitteeEscalation

with workflow.unsafe.imports_passed_through():
    from shared.config import (
        TASK_QUEUE_APPROVAL,
        TASK_QUEUE_PAYMENT,
        TASK_QUEUE_VERIFICATION,
    )
    from shared.contracts import activities as act
    from shared.contracts.authority import AmountRule, AuthorityLimits, amount_rule, check_decided_amount
    from shared.policy import Entitlement, ServiceLevels
    from workflows.emergency_relief.inputs import (
        MEASURE_FOR_TRIGGER,
        PATHWAY,
        CountyDecision,
        CountyPayment,
        DocumentsSubmitted,
        EmergencyReliefInput,
        EmergencyReliefResult,
        Escalation,
        IneligibleResolution,
    )
    from workflows.one_matter.inputs import OneMatterResult


DECIDERS = ("county_approver", "admin")
RESOLVERS = ("township_approver", "county_approver", "admin")
DOCUMENT_CLERKS = ("clerk", "township_approver", "admin", "service")
COUNTY_PAYERS = ("county_approver", "finance", "admin")

# Changes to live logic are patched: histories recorded before a patch replay on the old path.
V2 = "emergency-relief-v2"  # county deadline, reserve wait, documents, verification, recovery
V3 = "emergency-relief-committee"  # above the committee threshold, or escalated: one matter, one discussion
CASEWORKER_ASSESSMENT = "emergency-relief-caseworker-assessment"  # an amount the seed leaves to the county
EVENT_TEST = "emergency-relief-event-test"  # verified afterwards against the sudden event, not the dibao line
# a person's amount is bound by the policy's rule (fixed / 不低于 floor / open) and their tier's limit; a
# committee that refuses to raise aid leaves the base entitlement due (issue 13 item 11, issue 14)
AUTHORITY = "emergency-relief-authority"


@workflow.defn(name="EmergencyRelief")
class EmergencyReliefWorkflow(CommitteeEscalation, CaseworkerAssessment):
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

    # -- what operators and other services can ask or tell a running case ------------------------

    @workflow.query
    def state(self) -> dict[str, Any]:
        return {"stage": self._stage, "deadlines": self._deadlines, "flags": self._flags}

    @workflow.signal(name=act.SIGNAL_RESERVE_AVAILABLE)
    def reserve_available(self) -> None:
        self._reserve_available = True

    @workflow.update
    async def decide(self, decision: CountyDecision) -> str:
        self._county_decision = decision
        return "recorded"

    @decide.validator
    def _validate_decision(self, decision: CountyDecision) -> None:
        if not self._awaiting_county or self._escalation is not None:
            raise ValueError("this case is not waiting for a county decision")
        if self._county_decision is not None:
            raise ValueError("the county has decided")
        claims = verified_principal(decision, "decide", subject=decision.approver, role=decision.role,
                                    region=decision.region, person_id=decision.person_id, registered=True)
        if decision.role not in DECIDERS:
            raise ValueError(f"role {decision.role} cannot decide above the township's authority")
        self._check_official(decision.approver, decision.region, claims.person_id)
        if decision.approve:
            # the policy's rule and the county's delegated limit (above it: refused, the case goes up a tier)
            check_decided_amount(decision.amount_fen, tier="county", limits=self._limits, rule=self._rule)
        if not decision.approve and not decision.reason:
            raise ValueError("a refusal needs a reason")

    def _awaited_tier(self) -> str | None:
        return "county" if self._awaiting_county else None

    def _subject(self) -> EmergencyReliefInput:
        assert self._inp is not None
        return self._inp

    def _registered_by(self) -> str:
        return self._subject().opened_by

    def _escalable(self) -> bool:
        return True  # every decision the county awaits may go up to the committee

    @workflow.update
    async def submit_documents(self, documents: DocumentsSubmitted) -> str:
        self._documents = documents
        return "received"

    @submit_documents.validator
    def _validate_documents(self, documents: DocumentsSubmitted) -> None:
        if not self._awaiting_documents:
            raise ValueError("this case is not waiting for documents")
        verified_principal(documents, "submit_documents", subject=documents.submitted_by, role=documents.role,
                           region=documents.region)
        if documents.role not in DOCUMENT_CLERKS:
            raise ValueError(f"role {documents.role} cannot file documents")
        self._check_jurisdiction(documents.region)
        if not documents.documents and not documents.note:
            raise ValueError("send at least one document or an explanation")

    @workflow.update
    async def resolve_ineligible(self, resolution: IneligibleResolution) -> str:
        self._resolution = resolution
        return "recorded"

    @resolve_ineligible.validator
    def _validate_resolution(self, resolution: IneligibleResolution) -> None:
        if not self._awaiting_resolution:
            raise ValueError("this case has no ineligibility finding to resolve")
        claims = verified_principal(resolution, "resolve_ineligible", subject=resolution.official,
                                    role=resolution.role, region=resolution.region, person_id=resolution.person_id,
                                    registered=True)
        if resolution.role not in RESOLVERS:
            raise ValueError(f"role {resolution.role} cannot resolve an ineligibility finding")
        self._check_official(resolution.official, resolution.region, claims.person_id)
        if resolution.action == "good_faith_correction":
            self._check_corrector(resolution.official, claims.person_id)

    @workflow.update
    async def pay_from_county(self, payment: CountyPayment) -> str:
        self._county_payment = payment
        return "recorded"

    @pay_from_county.validator
    def _validate_county_payment(self, payment: CountyPayment) -> None:
        if not self._awaiting_reserve:
            raise ValueError("this case is not waiting for the township reserve")
        verified_principal(payment, "pay_from_county", subject=payment.official, role=payment.role,
                           region=payment.region, registered=True)
        if payment.role not in COUNTY_PAYERS:
            raise ValueError(f"role {payment.role} cannot pay from the county fund")
        self._check_jurisdiction(payment.region)

    def _check_corrector(self, official: str, person_id: str | None) -> None:
        """容错纠错 waives the recovery of money paid: never by the official who approved the payment
        (the same subject or the same registered person)."""
        approver = self._county_decision
        if approver is not None and (official == approver.approver
                                     or (person_id is not None and person_id == signed_person_id(approver))):
            raise ValueError("a good-faith correction needs an official other than the one who approved the payment")

    def _check_official(self, official: str, region: str, person_id: str | None) -> None:
        assert self._inp is not None
        household = {self._inp.person_id, *(self._facts.member_ids if self._facts else [])}
        check_official(case_region=self._inp.region_code, registered_by=self._inp.opened_by, household=household,
                       official=official, region=region, official_person_id=person_id)

    # -- the pathway ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: EmergencyReliefInput) -> EmergencyReliefResult:
        self._inp = inp
        # every release ran these branches (docs/adr/0015-patch-lifecycle.md): no open case takes the old ones
        workflow.deprecate_patch(V2)
        workflow.deprecate_patch(V3)
        facts = self._facts = await self._look_up(inp.person_id, inp.business_date)
        entitlement = await self._assess(inp, facts)
        policy = policy_of(entitlement)
        authority = workflow.patched(AUTHORITY)
        if authority:
            self._rule = amount_rule(amount_fen=entitlement.amount_fen, amount_is_minimum=entitlement.amount_is_minimum,
                                     floor_fen=entitlement.floor_fen, amount_open=entitlement.amount_open)
        await self._record("open", "assessed", entitlement.reason, policy=policy,
                           amount=entitlement.amount_fen if entitlement.payable else None)
        if not entitlement.payable and entitlement.needs_assessment and workflow.patched(CASEWORKER_ASSESSMENT):
            # 「直接实施临时救助」 with no amount (disaster outside Ningxia): the caseworker assesses it, the
            # approval tiers decide it
            entitlement = await self._assessed_entitlement(inp, facts, entitlement)
            if self._rule is not None:  # the decided-amount rule follows the assessment
                self._rule = amount_rule(amount_fen=entitlement.amount_fen,
                                         amount_is_minimum=entitlement.amount_is_minimum,
                                         floor_fen=entitlement.floor_fen, amount_open=entitlement.amount_open)
        if not entitlement.payable:
            return await self._close(inp, "not_payable", entitlement.reason, policy)

        levels = await self._levels(inp.business_date)
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
                    return await self._close(inp, "rejected", decision.reason, policy)
                amount = decision.amount_fen or amount
                pay_from = decision.pay_from or "county_fund"
        if committee is not None:
            if not committee.approve and authority and self._base_fen() > 0:
                # the committee only ever raises aid: its refusal leaves the policy's own amount due
                amount, pay_from = self._base_fen(), "county_fund"
                approval = act.ApprovalOutcome(
                    case_id=inp.case_id, decision="approved", tier="committee", decided_by="committee", amount_fen=amount,
                    reason=f"the committee did not raise the aid ({committee.reason}); the base entitlement of "
                           f"{amount} fen ({self._rule.describe() if self._rule else 'the policy'}) stays due")
                committee = None
            elif not committee.approve:
                return await self._close(inp, "rejected", f"the committee refused: {committee.reason}", policy)
        if committee is not None:
            if committee.plan:
                staged = await self._run_staged_plan(entitlement, committee)
                return await self._close(inp, "staged_plan", f"the committee decided {committee.amount_fen} fen in "
                                         f"{len(committee.plan)} installments; staged plan {staged.case_id} "
                                         f"{staged.outcome}: {staged.paid_fen} fen paid", policy,
                                         amount=staged.paid_fen)
        await self._record("open", "approved", approval.reason if approval.decision == "approved"
                           else f"approved by the county: {amount} fen", policy=policy, amount=amount)

        payment = await self._pay(inp, facts, entitlement, amount, pay_from, levels)
        await self._record("paid", "paid", f"paid {amount} fen, payment {payment.payment_id}",
                           policy=policy, amount=amount)
        if not entitlement.economic_check_required:
            # Entitled by status (a registered recipient, no check): nothing is owed afterwards.
            await self._record("closed", "closed", "paid under assist-first", closed=True,
                               outcome="paid", policy=policy, amount=amount)
            await workflow.wait_condition(workflow.all_handlers_finished)
            return EmergencyReliefResult(case_id=inp.case_id, outcome="paid", amount_fen=amount,
                                         payment_id=payment.payment_id, reason=entitlement.reason, policy=policy)

        await self._await_documents(inp, levels)
        check: act.EconomicCheckResult | act.EventCheckResult
        if workflow.patched(EVENT_TEST):
            check = await self._confirm_event(inp)
        else:
            check = await self._verify(inp, facts)
        if check.outcome in ("eligible", "confirmed"):
            return await self._close(inp, "confirmed", "verified eligible: " + "; ".join(check.reasons),
                                     policy, amount=amount, payment_id=payment.payment_id)
        resolution = await self._await_resolution(inp, check)
        if resolution.action == "recover":
            claim = await self._open_recovery(inp, payment, amount, resolution)
            return await self._close(inp, "recovery_opened",
                                     f"recovery {claim.claim_id} of {amount} fen opened by {resolution.official}: "
                                     f"{resolution.reason}", policy, amount=amount, payment_id=payment.payment_id)
        return await self._close(inp, "corrected_in_good_faith",
                                 f"good-faith correction (容错纠错) recorded by {resolution.official}: "
                                 f"{resolution.reason}", policy, amount=amount, payment_id=payment.payment_id)

    # -- steps -------------------------------------------------------------------------------------

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
                self._flags.append("county_decision_overdue")
                await self._record("awaiting_decision", "awaiting_county_decision",
                                   "the county decision is overdue: escalated to the prefecture",
                                   escalated=True, escalated_to="prefecture")
                await workflow.wait_condition(arrived)
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
                   amount: int, pay_from: str, levels: ServiceLevels) -> act.Disbursement:
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

    async def _await_documents(self, inp: EmergencyReliefInput, levels: ServiceLevels) -> None:
        """The supplementary explanation and documents are owed after payment: reminders before the
        deadline; at the deadline the case is flagged and escalated, never silently closed."""
        self._awaiting_documents = True
        arrived: Callable[[], bool] = lambda: self._documents is not None  # noqa: E731
        due = workflow.now() + timedelta(days=levels.document_deadline_days)
        self._deadlines = [{"kind": "documents", "due": due.isoformat()}]
        await self._open_task("documents", "clerk", due, None,
                              "assist first, document later: collect the explanation and documents")
        await self._record("open", "awaiting_documents",
                           f"assist first, document later: explanation and documents due by {due.date().isoformat()}")
        on_time = True
        for days_before in sorted(levels.document_reminder_days_before, reverse=True):
            if await self._wait_until(arrived, due - timedelta(days=days_before)):
                break
            await self._record("open", "awaiting_documents",
                               f"reminder: documents due by {due.date().isoformat()} ({days_before} days left)")
        else:
            on_time = await self._wait_until(arrived, due)
        if not on_time:
            self._flags.append("documents_overdue")
            await self._record("open", "documents_overdue",
                               "documents not received by the deadline: flagged and escalated to the county",
                               escalated=True, escalated_to="county")
            await workflow.wait_condition(arrived)
        self._awaiting_documents = False
        self._deadlines = []
        assert self._documents is not None
        await self._close_task("documents", self._documents.submitted_by, "received")
        kinds = ", ".join(str(d.get("kind", "?")) for d in self._documents.documents) or "explanation"
        await self._record("open", "documents_received",
                           f"documents received from {self._documents.submitted_by}: {kinds}"
                           + (" (late)" if not on_time else ""))

    def _household_ids(self) -> set[str]:
        assert self._inp is not None
        return {self._inp.person_id, *(self._facts.member_ids if self._facts else [])}

    async def _assessed_entitlement(self, inp: EmergencyReliefInput, facts: act.RecipientFacts,
                                    entitlement: Entitlement) -> Entitlement:
        assessment = await self._await_assessment(await self._levels(inp.business_date), entitlement.measure)
        profile = facts.profile()
        return await self._evaluate(entitlement.measure, inp.business_date, profile, assessment.amount_fen)

    async def _confirm_event(self, inp: EmergencyReliefInput) -> act.EventCheckResult:
        """急难 is defined by the sudden event (seeds 003/004): verification tests the event, attested by
        the agency whose report opened the case or by the documents filed afterwards (后补齐说明)."""
        self._stage = "verifying"
        documents = self._documents
        return await workflow.execute_activity(
            act.CONFIRM_EVENT,
            act.EventCheckRequest(check_id=f"{inp.case_id}:event", case_id=inp.case_id, person_id=inp.person_id,
                                  region_code=inp.region_code, trigger=inp.trigger, incident_date=inp.business_date,
                                  cause_event_id=inp.cause_event_id,
                                  document_kinds=[str(d.get("kind", "")) for d in documents.documents]
                                  if documents else [],
                                  explanation=documents.note if documents else ""),
            task_queue=TASK_QUEUE_VERIFICATION, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.EventCheckResult,
        )

    async def _verify(self, inp: EmergencyReliefInput, facts: act.RecipientFacts) -> act.EconomicCheckResult:
        self._stage = "verifying"
        return await workflow.execute_activity(
            act.CHECK_ECONOMIC_STATUS,
            act.EconomicCheckRequest(check_id=f"{inp.case_id}:1", case_id=inp.case_id, person_id=inp.person_id,
                                     household_id=facts.household_id,
                                     member_ids=facts.member_ids or [inp.person_id],
                                     region_code=inp.region_code, business_date=inp.business_date,
                                     urban=facts.urban, household_size=max(facts.household_size, 1),
                                     declared_monthly_income_fen=facts.monthly_income_fen),
            task_queue=TASK_QUEUE_VERIFICATION, start_to_close_timeout=CHECK_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.EconomicCheckResult,
        )

    async def _await_resolution(self, inp: EmergencyReliefInput,
                                check: act.EconomicCheckResult | act.EventCheckResult) -> IneligibleResolution:
        self._awaiting_resolution = True
        self._flags.append("found_ineligible")
        await self._open_task("resolve_ineligible", "township_approver", None, None,
                              "verified ineligible after payment: recover, or record a good-faith correction")
        await self._record("awaiting_decision", "found_ineligible",
                           "verification found the household ineligible: " + "; ".join(check.reasons)
                           + ". An official decides: recover, or record a good-faith correction")
        await workflow.wait_condition(lambda: self._resolution is not None)
        self._awaiting_resolution = False
        assert self._resolution is not None
        await self._close_task("resolve_ineligible", self._resolution.official, self._resolution.action)
        await workflow.execute_activity(
            act.RECORD_DECISION,
            act.DecisionRecord(case_id=inp.case_id, step="after_verification",
                               decision=self._resolution.action, tier="township", decided_by=self._resolution.official,
                               role=self._resolution.role, reason=self._resolution.reason,
                               region_code=inp.region_code, at=workflow.now()),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )
        return self._resolution

    async def _open_recovery(self, inp: EmergencyReliefInput, payment: act.Disbursement, amount: int,
                             resolution: IneligibleResolution) -> act.RecoveryClaim:
        return await workflow.execute_activity(
            act.OPEN_RECOVERY,
            act.RecoveryRequest(case_id=inp.case_id, pathway=PATHWAY, person_id=inp.person_id,
                                region_code=inp.region_code, amount_fen=amount,
                                original_payment_id=payment.payment_id, reason=resolution.reason,
                                decided_by=resolution.official),
            task_queue=TASK_QUEUE_PAYMENT, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.RecoveryClaim,
        )

    async def _close(self, inp: EmergencyReliefInput, outcome: str, reason: str, policy: dict[str, Any],
                     *, amount: int = 0, payment_id: str | None = None) -> EmergencyReliefResult:
        await self._record("closed", "closed", reason, closed=True, outcome=outcome, policy=policy,
                           amount=amount or None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return EmergencyReliefResult(case_id=inp.case_id, outcome=outcome, amount_fen=amount,
                                     payment_id=payment_id, reason=reason, policy=policy)
