"""The one-off assistance workflow: assess by the policy in force on the business date; where the
policy says "on application", invite the person and wait for their application; run the economic
status check unless the policy waives it; approve within authority or wait for an approver; pay once."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from temporalio import workflow

from workflows.assessment import CaseworkerAssessment
from workflows.common import (
    CHECK_TIMEOUT,
    SERVICE_RETRY,
    STEP_TIMEOUT,
    amount_rule_of,
    policy_of,
    verified_principal,
)
from workflows.escalation import CommitteeEscalation

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_VERIFICATION
    from shared.contracts import activities as act
    from shared.contracts.authority import AmountRule, AuthorityLimits, check_decided_amount
    from shared.policy import Entitlement
    from workflows.decisions import Decided
    from workflows.one_off_assistance.inputs import (
        PATHWAY,
        ApplicationReceived,
        ApproverDecision,
        Escalation,
        OneOffInput,
        OneOffResult,
        Outcome,
    )

INTAKE_ROLES = ("clerk", "township_approver", "service", "admin")

# Changes to live logic are patched: histories recorded before a patch replay on the old path.
INCOME_TEST = "one-off-income-test"          # the measure's line (low-income / expenditure), not always dibao
WAITS_FOR_CONDITION = "one-off-waits-for-condition"  # a job loss reported early waits for its three months
CASEWORKER_ASSESSMENT = "one-off-caseworker-assessment"  # an amount the seed leaves to the county
BEIJING = timezone(timedelta(hours=8))
DECIDERS = {"township": ("township_approver", "county_approver", "admin"), "county": ("county_approver", "admin")}
# a person's amount is bound by the policy's rule (fixed / 不低于 floor / open) and their tier's limit (issue 14)
AUTHORITY = "one-off-authority"
# a decision above the awaited tier's cap sends the case up a tier (the county coordination committee, 一事一议)
# instead of only being refused, as emergency relief does (issue 14)
ESCALATION = "one-off-escalation"


@workflow.defn(name="OneOffAssistance")
class OneOffAssistanceWorkflow(CommitteeEscalation, CaseworkerAssessment):
    @workflow.init
    def __init__(self, inp: OneOffInput) -> None:
        # the input is known before any update arrives: validators may read it from the first task
        self._init_steps(inp.case_id, inp.region_code, PATHWAY)
        self._inp: OneOffInput | None = inp
        self._facts: act.RecipientFacts | None = None
        self._application: ApplicationReceived | None = None
        self._decision: ApproverDecision | None = None
        self._awaiting_decision_tier: str | None = None
        self._limits: AuthorityLimits | None = None  # every tier's cap (from the approval step)
        self._rule: AmountRule | None = None         # what the policy says of the amount (fixed/floor/open)
        self._may_escalate = False                      # the awaited decision may go up to the committee
        self._escalation: Escalation | None = None
        self._init_assessment()

    @workflow.update
    async def apply(self, application: ApplicationReceived) -> str:
        self._application = application
        return "joined"

    @apply.validator
    def _validate_application(self, application: ApplicationReceived) -> None:
        assert self._inp is not None
        if self._application is not None:
            raise ValueError(f"this case already has application {self._application.application_id}")
        verified_principal(application, "apply", subject=application.registered_by, role=application.role,
                           region=application.region)
        if application.role not in INTAKE_ROLES:
            raise ValueError(f"role {application.role} cannot register an application")
        if not application.consent:
            raise ValueError("the signed check authorisation (consent) is required")
        if application.region and not self._inp.region_code.startswith(application.region):
            raise ValueError(f"case region {self._inp.region_code} is outside jurisdiction {application.region}")

    @workflow.update
    async def decide(self, decision: ApproverDecision) -> str:
        self._decision = decision
        return "recorded"

    @decide.validator
    def _validate_decision(self, decision: ApproverDecision) -> None:
        assert self._inp is not None
        tier = self._awaiting_decision_tier
        if tier is None or self._escalation is not None:
            raise ValueError("this case is not waiting for a decision")
        claims = verified_principal(decision, "decide", subject=decision.approver, role=decision.role,
                                    region=decision.region, person_id=decision.person_id, registered=True)
        if decision.role not in DECIDERS[tier]:
            raise ValueError(f"role {decision.role} cannot decide at {tier} level")
        self._check_decider(decision.approver, decision.region, claims.person_id)
        if decision.approve:
            # the policy's rule and the deciding tier's delegated limit (above it: refused, never paid)
            check_decided_amount(decision.amount_fen, tier=tier, limits=self._limits, rule=self._rule)
        if not decision.approve and not decision.reason:
            raise ValueError("a refusal needs a reason")

    def _awaited_tier(self) -> str | None:
        return self._awaiting_decision_tier

    def _escalable(self) -> bool:
        return self._may_escalate

    def _subject(self) -> OneOffInput:
        assert self._inp is not None
        return self._inp

    def _household_ids(self) -> set[str]:
        assert self._inp is not None
        return {self._inp.person_id, *(self._facts.member_ids if self._facts else [])}

    def _registered_by(self) -> str:
        assert self._inp is not None
        return self._application.registered_by if self._application else self._inp.opened_by

    @workflow.run
    async def run(self, inp: OneOffInput) -> OneOffResult:
        self._inp, self._application = inp, inp.application
        if inp.eligible_on is not None and workflow.patched(WAITS_FOR_CONDITION):
            await self._wait_for_condition(inp.eligible_on)
        facts = self._facts = await self._look_up(inp.person_id, inp.business_date)
        profile = facts.profile(unemployment_insured=inp.unemployment_insured,
                                annual_medical_self_pay_fen=inp.annual_medical_self_pay_fen)
        entitlement = await self._evaluate(inp.measure, inp.business_date, profile, inp.requested_amount_fen)
        policy = policy_of(entitlement)
        await self._record("open", "assessed", entitlement.reason, policy=policy,
                           amount=entitlement.amount_fen if entitlement.payable else None)
        assessed_by_caseworker = (not entitlement.payable and entitlement.needs_assessment
                                  and workflow.patched(CASEWORKER_ASSESSMENT))
        if not entitlement.payable and not assessed_by_caseworker:
            return await self._close("not_payable", entitlement.reason, policy)

        refused = await self._eligibility(facts, entitlement)
        if refused is not None:
            return await self._close(refused[0], refused[1], policy)
        if assessed_by_caseworker:
            # 「发放一次性临时救助金」 with no amount: the caseworker assesses it, the approval tiers decide it
            assessment = await self._await_assessment(await self._levels(inp.business_date), inp.measure)
            entitlement = await self._evaluate(inp.measure, inp.business_date, profile, assessment.amount_fen)
            if not entitlement.payable:
                return await self._close("not_payable", entitlement.reason, policy)
        decided = await self._decide_amount(entitlement)
        if decided.closing is not None:
            return await self._close(decided.closing, decided.reason, policy, amount=decided.amount)
        amount = decided.amount
        await self._record("open", "approved", decided.reason, policy=policy, amount=amount)
        payment = await self._pay(facts, entitlement, amount)
        await self._record("paid", "paid", f"paid {amount} fen, payment {payment.payment_id}", policy=policy,
                           amount=amount)
        return await self._close("paid", entitlement.reason, policy, amount=amount, payment_id=payment.payment_id)

    async def _eligibility(self, facts: act.RecipientFacts, entitlement: Entitlement) -> tuple[Outcome, str] | None:
        """The person's application where the policy needs one (主动发现: invited), and the economic status
        check unless the policy waives it; the outcome and reason that close the case, or None."""
        if entitlement.requires_application and self._application is None:
            if not await self._invite_to_apply():
                return "no_application", "the person did not apply within the outreach window"
        if entitlement.economic_check_required:
            check = await self._check(facts, entitlement)
            if check.outcome != "eligible":
                return "rejected", "economic status check: " + "; ".join(check.reasons)
        else:
            await self._record("open", "check_waived", "no economic status check: the policy waives it for "
                               f"{', '.join(sorted(set(facts.categories))) or 'this measure'}")
        return None

    async def _decide_amount(self, entitlement: Entitlement) -> Decided[Outcome]:
        """The township within its authority; above it the county, or (escalated) the committee."""
        amount = entitlement.amount_fen
        approval = await self._approve(entitlement)
        if workflow.patched(AUTHORITY):
            self._limits = approval.limits
            self._rule = amount_rule_of(entitlement)
        if approval.decision == "needs_county":
            self._may_escalate = workflow.patched(ESCALATION)
            decision = await self._await_decision("county", approval)
            if decision is None:  # above the county's authority: one matter, one discussion
                return await self._committee_outcome(entitlement)
            if not decision.approve:
                return Decided[Outcome](closing="rejected", reason=f"refused by {decision.approver}: {decision.reason}")
            amount = decision.amount_fen or amount
        return Decided[Outcome](amount=amount, reason=approval.reason if approval.decision == "approved"
                                else f"approved: {amount} fen")

    async def _committee_outcome(self, entitlement: Entitlement) -> Decided[Outcome]:
        assert self._escalation is not None
        committee = await self._refer_to_committee(
            entitlement, f"escalated by {self._escalation.official}: {self._escalation.reason}")
        if committee.approve and committee.plan:
            staged = await self._run_staged_plan(entitlement, committee)
            return Decided[Outcome](closing="paid", amount=staged.paid_fen,
                                    reason=f"the committee decided {committee.amount_fen} fen in {len(committee.plan)} "
                                           f"installments; staged plan {staged.case_id} {staged.outcome}: "
                                           f"{staged.paid_fen} fen paid")
        if committee.approve:
            return Decided[Outcome](amount=committee.amount_fen,
                                    reason=f"decided by the county coordination committee: {committee.reason}")
        if self._base_fen() > 0:
            # the committee only ever raises aid: its refusal leaves the policy's own amount due
            return Decided[Outcome](amount=self._base_fen(),
                                    reason=f"the committee did not raise the aid ({committee.reason}); the base "
                                           f"entitlement of {self._base_fen()} fen stays due")
        return Decided[Outcome](closing="rejected", reason=f"the committee refused: {committee.reason}")

    async def _invite_to_apply(self) -> bool:
        """主动发现: the caseworker invites the person; their application joins this case."""
        assert self._inp is not None
        levels = await self._levels(self._inp.business_date)
        due = workflow.now() + timedelta(days=levels.outreach_window_days)
        self._deadlines = [{"kind": "application", "due": due.isoformat()}]
        await self._open_task("outreach", "clerk", due, None,
                              f"invite the person to apply for {self._inp.measure} (主动发现)")
        await self._record("open", "outreach", f"outreach: the person is invited to apply by {due.date().isoformat()}")
        applied = await self._wait_until(lambda: self._application is not None, due)
        self._deadlines = []
        await self._close_task("outreach", self._application.registered_by if self._application else "system",
                               "applied" if applied else "expired")
        if applied:
            assert self._application is not None
            await self._record("open", "application_received",
                               f"application {self._application.application_id} joined the case "
                               f"(registered by {self._application.registered_by})")
        return applied

    async def _wait_for_condition(self, eligible_on: date) -> None:
        """「连续3个月无收入来源」 (seeds 000/001/002): a job loss reported before the three months are complete
        is not dropped; the case waits (a durable timer) until the day they are, then assesses."""
        assert self._inp is not None
        due = datetime(eligible_on.year, eligible_on.month, eligible_on.day, tzinfo=BEIJING)
        if due <= workflow.now():
            return
        self._deadlines = [{"kind": "condition", "due": due.isoformat()}]
        await self._record("open", "waiting_for_condition",
                           f"{self._inp.measure}: the condition (three consecutive months without income) is met on "
                           f"{eligible_on.isoformat()}; the case waits until then")
        await workflow.sleep(due - workflow.now())
        self._deadlines = []

    def _income_test(self, entitlement: Entitlement) -> dict[str, Any]:
        """The line the check applies (the measure's economic_test) and, for the expenditure test, the
        monthly rigid expenditure it deducts: the year's medical self-pay / 12 (half up), or the application's."""
        assert self._inp is not None
        if not workflow.patched(INCOME_TEST):
            return {}
        test = entitlement.economic_test
        rigid = 0
        if test == "expenditure":
            if self._inp.annual_medical_self_pay_fen:
                rigid = (self._inp.annual_medical_self_pay_fen + 6) // 12
            rigid = max(rigid, self._inp.monthly_rigid_expenditure_fen or 0)
        return {"income_test": test, "rigid_expenditure_fen": rigid}

    async def _check(self, facts: act.RecipientFacts, entitlement: Entitlement) -> act.EconomicCheckResult:
        assert self._inp is not None
        self._stage = "checking"
        check = await workflow.execute_activity(
            act.CHECK_ECONOMIC_STATUS,
            act.EconomicCheckRequest(check_id=f"{self._case_id}:1", case_id=self._case_id,
                                     person_id=self._inp.person_id, household_id=facts.household_id,
                                     member_ids=facts.member_ids or [self._inp.person_id], region_code=self._region,
                                     business_date=self._inp.business_date, urban=facts.urban,
                                     household_size=max(facts.household_size, 1),
                                     declared_monthly_income_fen=facts.monthly_income_fen,
                                     **self._income_test(entitlement)),
            task_queue=TASK_QUEUE_VERIFICATION, start_to_close_timeout=CHECK_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.EconomicCheckResult,
        )
        await self._record("open", "checked", f"economic status check {check.outcome}: " + "; ".join(check.reasons))
        return check

    async def _approve(self, entitlement: Entitlement) -> act.ApprovalOutcome:
        assert self._inp is not None
        self._stage = "approving"
        return await workflow.execute_activity(
            act.DECIDE_WITHIN_AUTHORITY,
            act.ApprovalRequest(case_id=self._case_id, pathway=PATHWAY, measure=entitlement.measure,
                                region_code=self._region, business_date=self._inp.business_date,
                                amount_fen=entitlement.amount_fen, direct_payment=entitlement.direct_payment,
                                requires_application=entitlement.requires_application,
                                application_received=self._application is not None,
                                economic_check_required=entitlement.economic_check_required,
                                registered_by=self._registered_by()),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.ApprovalOutcome,
        )

    async def _await_decision(self, tier: str, approval: act.ApprovalOutcome) -> ApproverDecision | None:
        """The tier's decision, or None when the case went up to the committee instead (escalable only)."""
        self._awaiting_decision_tier = tier
        await self._open_task("approval", f"{tier}_approver", None, approval.amount_fen,
                              f"{self._pathway}: approve {approval.amount_fen} fen?")
        await self._record("awaiting_decision", "awaiting_approval", approval.reason, amount=approval.amount_fen)
        await workflow.wait_condition(lambda: self._decision is not None or self._escalation is not None)
        self._awaiting_decision_tier = None
        if self._decision is None:
            assert self._escalation is not None
            await self._close_task("approval", self._escalation.official, "escalated")
            return None
        decision = self._decision
        assert decision is not None and self._inp is not None
        await self._close_task("approval", decision.approver, "approved" if decision.approve else "rejected")
        await workflow.execute_activity(
            act.RECORD_DECISION,
            act.DecisionRecord(case_id=self._case_id, step=tier,
                               decision="approved" if decision.approve else "rejected",
                               tier=tier, amount_fen=decision.amount_fen or 0, decided_by=decision.approver,
                               role=decision.role, reason=decision.reason, region_code=self._region,
                               measure=self._inp.measure, at=workflow.now()),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )
        return decision

    async def _pay(self, facts: act.RecipientFacts, entitlement: Entitlement, amount: int) -> act.Disbursement:
        assert self._inp is not None
        self._stage = "paying"
        return await self._disburse(act.DisbursementRequest(
            idempotency_key=f"{self._case_id}:1", case_id=self._case_id, pathway=PATHWAY,
            person_id=self._inp.person_id, household_id=facts.household_id, region_code=self._region,
            amount_fen=amount, installment=1, account=act.account(act.COUNTY_FUND, self._region[:6]),
            cause_event_id=self._inp.cause_event_id, measure=entitlement.measure))

    async def _close(self, outcome: Outcome, reason: str, policy: dict[str, Any], *, amount: int = 0,
                     payment_id: str | None = None) -> OneOffResult:
        await self._record("closed", "closed", reason, closed=True, outcome=outcome, policy=policy,
                           amount=amount or None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return OneOffResult(case_id=self._case_id, outcome=outcome, amount_fen=amount,
                            payment_id=payment_id, reason=reason, policy=policy)
