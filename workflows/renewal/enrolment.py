"""A dibao application at the one window: the economic status check, then the county's confirmation
(审核确认, seed 003) at the policy's level, or the township's where the region's pack devolves it.

Mixed into ``RenewalWorkflow`` (workflow.py); deterministic.
"""

from __future__ import annotations

from datetime import date

from temporalio import workflow

from workflows.common import CHECK_TIMEOUT, SERVICE_RETRY, STEP_TIMEOUT, verified_principal
from workflows.enrolment_duties.steps import ENROLMENT_DUTIES, EnrolmentDuties
from workflows.renewal.steps import RenewalSteps

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_VERIFICATION
    from shared.contracts import activities as act
    from workflows.one_matter.limits import LimitsQuery, authority_limits_activity
    from workflows.renewal.activities import PeriodTerms
    from workflows.renewal.inputs import EnrolmentDecision, RenewalResult

DECIDERS = ("county_approver", "admin")  # dibao is confirmed by the county (审核确认, seed 003)
# where the region's pack devolves confirmation to the township (确认权限下放: Ningxia seed 002 item 14, XPCC
# seed 004 item 25), the township's approver confirms too
TOWNSHIP_CONFIRMS = "renewal-township-confirms"


class EnrolmentSteps(RenewalSteps, EnrolmentDuties):
    _decision: EnrolmentDecision | None
    _awaiting_decision: bool
    _proposed_fen: int
    _township_confirms: bool  # the pack devolves the confirmation to the township

    def _registered_by(self) -> str:
        """Who registered the application (a case with none takes no decision: its validator refuses)."""
        app = self._inp.application
        return app.registered_by if app is not None else "system"

    def _household_ids(self) -> set[str]:
        return {self._inp.person_id, *self._member_ids}

    def _subject_person(self) -> str:
        return self._inp.person_id

    def _subject_household(self) -> str | None:
        return self._inp.household_id

    @workflow.update
    async def decide(self, decision: EnrolmentDecision) -> str:
        self._decision = decision
        return "recorded"

    @decide.validator
    def _validate_decision(self, decision: EnrolmentDecision) -> None:
        app = self._inp.application
        if not self._awaiting_decision or app is None:
            raise ValueError("this case is not waiting for a decision")
        claims = verified_principal(decision, "decide", subject=decision.approver, role=decision.role,
                                    region=decision.region, person_id=decision.person_id, registered=True)
        confirmers = (*DECIDERS, "township_approver") if self._township_confirms else DECIDERS
        if decision.role not in confirmers:
            raise ValueError(f"role {decision.role} cannot confirm a dibao enrolment "
                             f"({'township or county' if self._township_confirms else 'county'} level)")
        self._check_decider(decision.approver, decision.region, claims.person_id)
        if not decision.approve and not decision.reason:
            raise ValueError("a refusal needs a reason")
        if decision.approve and decision.amount_fen != self._proposed_fen:
            raise ValueError(f"the level is the policy's: confirm {self._proposed_fen} fen/month, or refuse "
                             "with a reason")

    async def _enrolment_decision(self, on: date) -> str | None:
        """A dibao application: the economic status check, then the county's confirmation. Returns the
        reason of a refusal, or None."""
        refused = await self._economic_check(on)
        if refused is not None:
            return refused
        terms = await self._terms(on)
        if not terms.benefit.payable:
            return terms.benefit.reason
        if workflow.patched(ENROLMENT_DUTIES):
            # home visit, democratic appraisal where disputed, public notice (workflows/enrolment_duties)
            h = self._s.household
            await self._enrolment_duties(on, kind=terms.benefit.kind, monthly_fen=terms.benefit.amount_fen,
                                         household_size=1 if h.single_person else len(h.members))
        return await self._confirmation(on, terms)

    async def _economic_check(self, on: date) -> str | None:
        """The departments' check of the household's income and assets (a refusal's reason, or None); a
        higher income than declared is what the benefit is computed on."""
        inp, s = self._inp, self._s
        assert inp.application is not None
        self._stage = "checking"
        facts = await self._look_up(inp.person_id, on)
        self._member_ids = facts.member_ids or self._member_ids
        h = s.household
        rigid = next((-ln.amount_fen for ln in (await self._terms(on)).benefit.lines
                      if ln.label == "rigid_expenditure_deduction"), 0)
        check = await workflow.execute_activity(
            act.CHECK_ECONOMIC_STATUS,
            act.EconomicCheckRequest(check_id=f"{self._case_id}:1", case_id=self._case_id, person_id=inp.person_id,
                                     household_id=inp.household_id, member_ids=self._member_ids,
                                     region_code=self._region, business_date=on, urban=h.urban,
                                     household_size=len(h.members), declared_monthly_income_fen=h.monthly_income_fen,
                                     rigid_expenditure_fen=rigid, compare_income=not h.single_person),
            task_queue=TASK_QUEUE_VERIFICATION, start_to_close_timeout=CHECK_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.EconomicCheckResult)
        await self._record("open", "checked", f"economic status check {check.outcome}: " + "; ".join(check.reasons))
        if check.outcome != "eligible":
            return "economic status check: " + "; ".join(check.reasons)
        if check.household_income_fen is not None and check.household_income_fen > h.monthly_income_fen:
            # the departments found more than was declared: the benefit is computed on what was verified
            s.household = h.model_copy(update={"monthly_income_fen": check.household_income_fen})
        return None

    async def _confirmation(self, on: date, terms: PeriodTerms) -> str | None:
        """The county's (or, devolved, the township's) confirmation at the policy's level; a refusal's
        reason, or None."""
        self._stage = "approving"
        confirmer = "county_approver"
        if workflow.patched(TOWNSHIP_CONFIRMS):
            limits = await workflow.execute_local_activity(
                authority_limits_activity, LimitsQuery(region_code=self._region, on=on),
                start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
            self._township_confirms = limits.confirmation_devolved_to_township
            confirmer = "township_approver" if self._township_confirms else confirmer
        self._awaiting_decision, self._proposed_fen = True, terms.benefit.amount_fen
        await self._open_task("approval", confirmer, None, terms.benefit.amount_fen,
                              f"dibao enrolment: {terms.benefit.amount_fen} fen/month?")
        await self._record("awaiting_decision", "awaiting_approval",
                           f"dibao {terms.benefit.amount_fen} fen/month awaits the county's confirmation: "
                           f"{terms.benefit.reason}", amount=terms.benefit.amount_fen)
        await workflow.wait_condition(lambda: self._decision is not None)
        self._awaiting_decision = False
        d = self._decision
        assert d is not None
        await self._close_task("approval", d.approver, "approved" if d.approve else "rejected")
        await workflow.execute_activity(
            act.RECORD_DECISION,
            act.DecisionRecord(case_id=self._case_id, step="county", decision="approved" if d.approve else "rejected",
                               tier="county", amount_fen=terms.benefit.amount_fen if d.approve else 0,
                               decided_by=d.approver, role=d.role, reason=d.reason, region_code=self._region,
                               measure=terms.benefit.kind, at=workflow.now()),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
        return None if d.approve else f"refused by {d.approver}: {d.reason}"

    async def _close_rejected(self, reason: str) -> RenewalResult:
        s = self._s
        s.status = "terminated"
        await self._record("closed", "closed", reason, closed=True, outcome="rejected")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return RenewalResult(case_id=self._case_id, outcome="rejected", reason=reason, last_period=s.period,
                             paid_fen=0, paid_periods=0, runs=s.runs)

