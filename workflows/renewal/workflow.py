"""The renewal workflow: one per enrolled household, for as long as it is enrolled.

Each period (a calendar month, business date = its first day): wait for its due time (a durable
timer); review when a reported change has taken effect (off-cycle) or the scheduled review is due;
then pay the period with the key ``<case_id>:<YYYY-MM>`` (rural quarterly: the quarter's three months
in the pack's payment month, seed 003). Review outcomes: ``continue`` (same level), ``adjust``,
``gradual_exit`` (income above the standard through employment: the level is kept for the months
``shared/policy/exits.py`` gives for the region and the household, seeds 001/002/004), ``terminate``.
An exit due inside the epidemic-control period of a pack that sets ``epidemic_suspends_dibao_exit``
(seed 002) is suspended and carried out at the first period after that period ends.
Continues as new every ``periods_per_run`` periods (or when the server suggests it), carrying its state.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from temporalio import workflow

from workflows.common import (
    CHECK_TIMEOUT,
    SERVICE_RETRY,
    STEP_TIMEOUT,
    CaseSteps,
    check_official,
    verified_principal,
    verified_service,
)

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_INTAKE, TASK_QUEUE_VERIFICATION
    from shared.contracts import activities as act
    from shared.policy import BenefitHousehold
    from workflows.one_matter.limits import LimitsQuery, authority_limits_activity
    from workflows.renewal.activities import (
        PeriodQuery,
        PeriodTerms,
        RaiseQuery,
        period_terms,
        raised_levels,
    )
    from workflows.renewal.inputs import (
        PATHWAY,
        EnrolmentDecision,
        Household,
        IncomeChange,
        MemberDeath,
        PendingChange,
        RenewalInput,
        RenewalResult,
        RenewalState,
        add_months,
        cadence_of,
    )

KEEP_REVIEWS = 24  # review outcomes kept in the carried state (the case record has them all)
DECIDERS = ("county_approver", "admin")  # dibao is confirmed by the county (审核确认, seed 003)
# where the region's pack devolves confirmation to the township (确认权限下放: Ningxia seed 002 item 14, XPCC
# seed 004 item 25), the township's approver confirms too
TOWNSHIP_CONFIRMS = "renewal-township-confirms"
# a raised standard (提标) reaches a household its case carries (in gradual exit, or under review): the
# level follows the newer entry at the next period, and the months already paid at the old level (by the
# case, or by the cycle before it opened) are back-paid under dibao-topup:<household>:<first month>:<version>
STANDARD_FOLLOWS = "renewal-standard-follows"
BACK_PAY_WINDOW = 35  # months back a raise is paid for (the cycle's window, services/intake/enrolment.py)


def first_of(period: str) -> date:
    y, m = (int(x) for x in period.split("-"))
    return date(y, m, 1)


def shift_months(at: datetime, n: int) -> datetime:
    i = at.year * 12 + at.month - 1 + n
    y, m = i // 12, i % 12 + 1
    days = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)).day
    return at.replace(year=y, month=m, day=min(at.day, days))


@workflow.defn(name="Renewal")
class RenewalWorkflow(CaseSteps):
    @workflow.init
    def __init__(self, inp: RenewalInput) -> None:
        self._init_steps(inp.case_id, inp.region_code, PATHWAY)
        self._inp = inp
        self._s = inp.state or inp.opening_state or RenewalState(period=inp.first_period, household=inp.household)
        self._seq = self._s.seq
        self._decision: EnrolmentDecision | None = None
        self._awaiting_decision = False
        self._closing = False
        self._proposed_fen = 0
        self._member_ids: list[str] = [m.person_id for m in inp.household.members]
        self._township_confirms = False  # the pack devolves the confirmation to the township

    # ---- queries and reported changes -------------------------------------------------------------

    @workflow.query
    def status(self) -> RenewalState:
        return self._s.model_copy(update={"seq": self._seq})

    @workflow.update
    async def income_changed(self, change: IncomeChange) -> str:
        change = change.model_copy(update={"assertion": None})  # verified by the validator; not carried
        self._s.pending.append(PendingChange(kind="income_changed", effective_on=change.effective_on, income=change))
        return f"income change recorded; reviewed at the first period from {change.effective_on}"

    @income_changed.validator
    def _validate_income(self, change: IncomeChange) -> None:
        verified_service(change, "income_changed")
        self._open_for_changes()
        ids = {m.person_id for m in self._s.household.members}
        unknown = set(change.working_person_ids or ()) - ids
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not members of the household")

    @workflow.update
    async def member_deceased(self, death: MemberDeath) -> str:
        death = death.model_copy(update={"assertion": None})  # verified by the validator; not carried
        self._s.pending.append(PendingChange(kind="member_deceased", effective_on=death.died_on, death=death))
        return f"death of {death.person_id} recorded; reviewed at the next period"

    @member_deceased.validator
    def _validate_death(self, death: MemberDeath) -> None:
        verified_service(death, "member_deceased")
        self._open_for_changes()
        if death.person_id not in {m.person_id for m in self._s.household.members}:
            raise ValueError(f"{death.person_id} is not a living member of the household")
        if any(p.death and p.death.person_id == death.person_id for p in self._s.pending):
            raise ValueError(f"the death of {death.person_id} is already reported")

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
        check_official(case_region=self._region, registered_by=app.registered_by,
                       household={self._inp.person_id, *self._member_ids}, official=decision.approver,
                       region=decision.region, official_person_id=claims.person_id)
        if not decision.approve and not decision.reason:
            raise ValueError("a refusal needs a reason")
        if decision.approve and decision.amount_fen != self._proposed_fen:
            raise ValueError(f"the level is the policy's: confirm {self._proposed_fen} fen/month, or refuse "
                             "with a reason")

    def _open_for_changes(self) -> None:
        if self._closing:
            raise ValueError("the household is handed back to the monthly cycle: report the change again")
        if self._s.status == "terminated":
            raise ValueError("the household's benefit is terminated")

    # ---- the periods ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: RenewalInput) -> RenewalResult:
        s = self._s
        first_due = inp.first_due_at or datetime.combine(first_of(inp.first_period), time(0), tzinfo=UTC)
        if inp.state is None and inp.review_reason:
            await self._record("open", "review_opened", f"{inp.review_reason}; carried by this case from "
                               f"{inp.first_period} (level {s.level_fen} fen/month)")
        elif inp.state is None:
            await self._record("open", "enrolled", f"renewal from {inp.first_period}, household of "
                               f"{len(s.household.members)}")
            if inp.application is not None:
                refusal = await self._enrolment_decision(first_of(inp.first_period))
                if refusal:
                    return await self._close_rejected(refusal)
        done = 0
        while True:
            self._stage = "waiting"
            due = shift_months(first_due, s.index)
            await self._wait_until(lambda: False, due)
            on = first_of(s.period)
            terms = await self._terms(on)
            if workflow.patched(STANDARD_FOLLOWS):
                await self._follow_standard(terms)
            reason = await self._review_if_due(on, terms)
            if s.status != "terminated":
                reason = await self._exit_or_pay(on, terms)
            if s.status == "terminated":
                s.seq = self._seq
                await self._settle("terminated", reason)
                await self._record("closed", "closed", reason, closed=True, outcome="terminated",
                                   amount=s.paid_fen)
                await workflow.wait_condition(workflow.all_handlers_finished)
                return RenewalResult(case_id=inp.case_id, outcome="terminated", reason=reason, last_period=s.period,
                                     paid_fen=s.paid_fen, paid_periods=s.paid_periods, runs=s.runs)
            if self._may_hand_back():
                self._closing = True  # refuse further changes: they go to the cycle's next review case
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not s.pending:
                    return await self._hand_back()
                self._closing = False  # a change was accepted meanwhile: stay with the household
            s.period, s.index = add_months(s.period, 1), s.index + 1
            done += 1
            if done >= inp.periods_per_run or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                s.seq, s.runs = self._seq, s.runs + 1
                workflow.continue_as_new(inp.model_copy(update={"state": s, "first_due_at": first_due}))

    async def _terms(self, on: date) -> PeriodTerms:
        h = self._s.household
        return await workflow.execute_local_activity(
            period_terms, PeriodQuery(region_code=self._region, on=on, household=self._benefit_household(h)),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)

    @staticmethod
    def _benefit_household(h: Household) -> BenefitHousehold:
        return h.benefit_facts()

    def _apply_changes(self, on: date) -> list[str]:
        """Apply the reported changes in effect by the period's first day; what changed, in words."""
        s, notes = self._s, []
        due = sorted((p for p in s.pending if p.effective_on <= on), key=lambda p: p.effective_on)
        s.pending = [p for p in s.pending if p.effective_on > on]
        h = s.household
        for p in due:
            if p.income is not None:
                c = p.income
                members = h.members
                if c.working_person_ids is not None:
                    members = [m.model_copy(update={"working": m.person_id in c.working_person_ids}) for m in members]
                h = h.model_copy(update={"monthly_income_fen": c.monthly_income_fen, "members": members,
                                         "income_stable": h.income_stable if c.income_stable is None
                                         else c.income_stable})
                s.last_income_reason = c.reason
                notes.append(f"income {c.monthly_income_fen} fen/month from {c.effective_on} ({c.reason})")
            elif p.death is not None:
                d = p.death
                h = h.model_copy(update={
                    "members": [m for m in h.members if m.person_id != d.person_id],
                    "monthly_income_fen": h.monthly_income_fen if d.monthly_income_fen is None
                    else d.monthly_income_fen})
                notes.append(f"{d.person_id} died on {d.died_on}")
        if h.members:
            s.household = h
        else:
            s.household = h.model_copy(update={"members": s.household.members[:1]})  # kept for the record
            notes.append("no living member remains")
        return notes

    def _interval(self, terms: PeriodTerms) -> tuple[int | None, str]:
        h = self._s.household
        if cadence_of(h) == "unstable":
            return terms.review_unstable_months, "half-yearly: unstable income or working-age members"
        return terms.review_stable_months, ("yearly: extreme poverty" if h.extreme_poverty
                                            else "yearly: stable income, no working-age members")

    async def _review_if_due(self, on: date, terms: PeriodTerms) -> str:
        s = self._s
        first = not s.reviews
        changed = any(p.effective_on <= on for p in s.pending)
        scheduled = s.next_review is not None and s.period >= s.next_review
        opened_for = self._inp.review_reason is not None and s.index == 0  # a review case's first period
        if not (first or changed or scheduled or opened_for):
            return ""
        kind = "enrolment" if first else "off-cycle" if changed or (opened_for and not scheduled) else "scheduled"
        self._stage = "reviewing"
        notes: list[str] = []
        if scheduled and not changed:
            facts = await self._look_up(self._inp.person_id, on)
            if not facts.found or (facts.region_code and not facts.region_code.startswith(self._region[:6])):
                return await self._terminate(f"{kind} review: the household is no longer registered here")
            if facts.deceased:
                s.pending.append(PendingChange(kind="member_deceased", effective_on=on, death=MemberDeath(
                    person_id=self._inp.person_id, died_on=on, reported_by="registry")))
        notes = self._apply_changes(on)
        if any("no living member" in n for n in notes):
            return await self._terminate(f"{kind} review: {'; '.join(notes)}")
        if notes:
            terms = await self._terms(on)
        b = terms.benefit
        months, cadence = self._interval(terms)
        s.next_review = add_months(s.period, months) if months else None
        schedule = (f"next review {s.next_review} ({cadence})" if months
                    else "no pack in force sets a review interval: reviews only on reported changes")
        changes = f" after {'; '.join(notes)}" if notes else ""
        s.kind = b.kind
        if not b.decidable:
            outcome, why = "continue", f"level unchanged at {s.level_fen} fen: {b.reason}"
        elif b.payable:
            outcome = "continue" if b.amount_fen == s.level_fen else "adjust"
            if s.status in ("gradual_exit", "exit_suspended"):
                outcome = "adjust"
            s.status, s.exit_months_left = "active", 0
            why = f"{b.amount_fen} fen/month ({b.reason})"
            s.level_fen = b.amount_fen
        elif s.status in ("gradual_exit", "exit_suspended"):
            outcome, why = "continue", f"still above the standard ({b.reason}); {s.status} continues"
        elif s.last_income_reason == "employment" and (changed or opened_for) and terms.gradual_exit_months:
            s.status, s.exit_months_left = "gradual_exit", terms.gradual_exit_months
            s.exit_reason = f"income above the standard through employment ({b.reason})"
            outcome = "gradual_exit"
            why = (f"{terms.gradual_exit_months} months of gradual exit at {s.level_fen} fen/month, "
                   f"then exit ({s.exit_reason})")
        else:
            outcome = "exit"
            s.status, s.exit_months_left, s.exit_reason = "gradual_exit", 0, b.reason
            why = f"exit: {b.reason}"
        if first:
            outcome = "enrolled"
        s.reviews = (s.reviews + [{"period": s.period, "kind": kind, "outcome": outcome,
                                   "level_fen": s.level_fen}])[-KEEP_REVIEWS:]
        await self._record("open", f"review_{outcome}", f"{kind} review {s.period}{changes}: {why}; {schedule}",
                           policy={"pack_id": b.pack_id, "pack_version": b.pack_version, "measure": b.kind,
                                   "region_prefix": self._region}, amount=s.level_fen)
        if first and self._inp.hand_back and s.status == "active":
            await self._settle("case", "enrolled")  # on the roster from now on, carried by this case
        return why

    async def _exit_or_pay(self, on: date, terms: PeriodTerms) -> str:
        s = self._s
        if s.status == "gradual_exit" and s.exit_months_left <= 0 or s.status == "exit_suspended":
            if terms.exit_suspended:
                if s.status != "exit_suspended":
                    s.status = "exit_suspended"
                    await self._record("open", "exit_suspended", f"exit due {s.period} suspended while the "
                                       f"epidemic flag is in force ({'; '.join(terms.citations)}); "
                                       f"paying {s.level_fen} fen/month meanwhile")
            else:
                why = f"exit {s.period}: {s.exit_reason}"
                if s.status == "exit_suspended":
                    why += " (processed after the epidemic-control suspension lapsed)"
                return await self._terminate(why)
        if s.level_fen <= 0:
            return "nothing to pay"
        amount = s.level_fen
        payment_month = terms.quarter_payment_month if self._inp.rural_quarterly and not s.household.urban else None
        months = 1
        if payment_month:
            month_of_quarter = (on.month - 1) % 3 + 1
            # months up to the next payment month: the whole quarter in the payment month (seed 003
            # 「季度首月发放」); a month not yet paid outside it (enrolled mid-quarter) is paid with the
            # rest of its quarter now, never skipped
            months = (payment_month - month_of_quarter) % 3 or 3
            if month_of_quarter != payment_month:
                already = s.paid_through is not None and s.paid_through >= s.period
                if already or not workflow.patched("renewal-quarter-remainder"):
                    self._count_exit_month()
                    return "paid with the quarter"
            amount *= months
        await self._pay(amount, months=months)
        self._count_exit_month()
        return "paid"

    async def _follow_standard(self, terms: PeriodTerms) -> None:
        """提标 (seed 001 「完成困难群众救助标准提标提补工作」, seed 004 「与自治区同步调整救助标准」): when the
        standard entry in force is newer than the one the level is priced at, the level becomes what the
        policy gives under it (monthly_benefit for the household's facts; a gradual exit's kept level moves
        by the raise), and every month already paid at the old level is back-paid the difference, once."""
        s, inp = self._s, self._inp
        if terms.standard_from is None or s.status == "terminated" or inp.household_id is None:
            return
        if s.priced_from is None or not s.reviews:  # an older run's state, or before the first review
            s.priced_from, s.priced_version = terms.standard_from, terms.standard_version
            return
        if terms.standard_from <= s.priced_from:
            return
        # months paid at level_fen: by this case, or by the region's cycle before the case opened
        last_paid = s.paid_through or (add_months(inp.first_period, -1) if inp.opening_state is not None else None)
        first = max(inp.enrolled_from or inp.first_period, add_months(s.period, -BACK_PAY_WINDOW))
        paid: list[str] = []
        while last_paid is not None and first <= last_paid:
            paid.append(first)
            first = add_months(first, 1)
        raised = await workflow.execute_local_activity(
            raised_levels, RaiseQuery(region_code=self._region, household=self._benefit_household(s.household),
                                      months=sorted(set(paid) | {s.period}), priced_from=s.priced_from,
                                      level_fen=s.level_fen, exiting=s.status != "active"),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
        owed: dict[str, tuple[str, int, int]] = {}  # version -> (first month, months, fen)
        for m in raised.months:
            if m.period in paid and m.level_fen > s.level_fen:
                first_month, months, fen = owed.get(m.version, (m.period, 0, 0))
                owed[m.version] = (first_month, months + 1, fen + m.level_fen - s.level_fen)
        old_level = s.level_fen
        for version, (first_month, months, fen) in owed.items():
            self._stage = "paying"
            payment = await self._disburse(act.DisbursementRequest(
                idempotency_key=f"dibao-topup:{inp.household_id}:{first_month}:{version}", case_id=self._case_id,
                pathway=PATHWAY, person_id=inp.person_id, household_id=inp.household_id, region_code=self._region,
                amount_fen=fen, installment=s.index + 1, account=act.account(act.COUNTY_FUND, self._region[:6]),
                measure=s.kind))
            s.paid_fen += fen
            await self._record("paid", "standard_back_paid",
                               f"back-pay from {first_month} ({months} months paid at {old_level} fen) under the "
                               f"standard {version}: {fen} fen, {payment.payment_id}", amount=s.paid_fen)
        now = next((m for m in raised.months if m.period == s.period), None)
        s.priced_from, s.priced_version = terms.standard_from, terms.standard_version
        if now is not None and now.level_fen > 0:
            s.level_fen = now.level_fen
        s.reviews = (s.reviews + [{"period": s.period, "kind": "standard", "outcome": "repriced",
                                   "level_fen": s.level_fen}])[-KEEP_REVIEWS:]
        await self._record("open", "review_repriced", f"standard {terms.standard_version} in force from "
                           f"{terms.standard_from}: {old_level} -> {s.level_fen} fen/month ({s.status})",
                           amount=s.level_fen)

    def _count_exit_month(self) -> None:
        if self._s.status == "gradual_exit" and self._s.exit_months_left > 0:
            self._s.exit_months_left -= 1

    async def _pay(self, amount: int, months: int = 1) -> None:
        s = self._s
        self._stage = "paying"
        # A household on the roster is paid under one key per period, whoever pays it (its case or the
        # region's cycle): the ledger refuses a second payment of the same household and period.
        key = f"dibao:{self._inp.household_id}:{s.period}" if self._inp.hand_back else f"{self._case_id}:{s.period}"
        payment = await self._disburse(act.DisbursementRequest(
            idempotency_key=key, case_id=self._case_id, pathway=PATHWAY,
            person_id=self._inp.person_id, household_id=self._inp.household_id, region_code=self._region,
            amount_fen=amount, installment=s.index + 1, account=act.account(act.COUNTY_FUND, self._region[:6]),
            measure=s.kind))
        s.paid_fen += amount
        s.paid_periods += 1
        s.paid_through = add_months(s.period, months - 1)
        note = f"{s.period}: {amount} fen ({s.status}), {payment.payment_id}"
        if s.status == "gradual_exit":
            note += f"; {s.exit_months_left - 1} gradual-exit months left after this one"
        await self._record("paid", "period_paid", note, amount=s.paid_fen)

    # ---- enrolment, and the roster ----------------------------------------------------------------

    async def _enrolment_decision(self, on: date) -> str | None:
        """A dibao application: the economic status check, then the county's confirmation. Returns the
        reason of a refusal, or None."""
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
        terms = await self._terms(on)
        if not terms.benefit.payable:
            return terms.benefit.reason
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

    def _may_hand_back(self) -> bool:
        s = self._s
        return (self._inp.hand_back and self._inp.household_id is not None and s.status == "active"
                and not s.pending and s.level_fen > 0)

    async def _hand_back(self) -> RenewalResult:
        s = self._s
        await self._settle("cycle", "handed back to the monthly cycle")
        why = (f"settled at {s.level_fen} fen/month, next review {s.next_review or 'on a reported change'}: "
               f"handed back to the region's monthly cycle after {s.paid_through or s.period}")
        await self._record("closed", "closed", why, closed=True, outcome="handed_back", amount=s.paid_fen)
        return RenewalResult(case_id=self._case_id, outcome="handed_back", reason=why, last_period=s.period,
                             paid_fen=s.paid_fen, paid_periods=s.paid_periods, runs=s.runs)

    async def _settle(self, managed_by: str, note: str) -> None:
        inp, s = self._inp, self._s
        if not inp.hand_back or inp.household_id is None:
            return
        await workflow.execute_activity(
            act.SETTLE_ENROLMENT,
            act.EnrolmentSettlement(
                case_id=self._case_id, household_id=inp.household_id, person_id=inp.person_id,
                region_code=self._region, kind=s.kind, status=s.status, level_fen=s.level_fen,
                cadence=cadence_of(s.household), rural_quarterly=inp.rural_quarterly,
                next_review=s.next_review, paid_through=s.paid_through,
                managed_by="cycle" if managed_by == "cycle" else "case",
                enrolled_from=inp.enrolled_from or inp.first_period, note=note,
                monthly_rigid_expenditure_fen=s.household.monthly_rigid_expenditure_fen,
                single_person=s.household.single_person, priced_at=self._priced_at(),
                facts=s.household.benefit_facts()),
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)

    def _priced_at(self) -> str | None:
        """The period of the review that set the level (the standard it is priced at, for 提标)."""
        return next((str(r["period"]) for r in reversed(self._s.reviews) if "level_fen" in r), None)

    async def _terminate(self, why: str) -> str:
        self._s.status = "terminated"
        return why
