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

from workflows.renewal.changes import ReportedChanges
from workflows.renewal.enrolment import EnrolmentSteps
from workflows.renewal.standard import STANDARD_FOLLOWS, StandardFollows
from workflows.renewal.steps import KEEP_REVIEWS

with workflow.unsafe.imports_passed_through():
    from shared.contracts import activities as act
    from workflows.renewal.activities import PeriodTerms
    from workflows.renewal.inputs import (
        PATHWAY,
        EnrolmentDecision,
        MemberDeath,
        PendingChange,
        RenewalInput,
        RenewalResult,
        RenewalState,
        add_months,
        cadence_of,
    )


# a case opened by a reversed reconsideration pays the months owed before handing back (H6, issue 17)
REVERSAL_BACK_PAY = "renewal-reversal-back-pay"


def first_of(period: str) -> date:
    y, m = (int(x) for x in period.split("-"))
    return date(y, m, 1)


def shift_months(at: datetime, n: int) -> datetime:
    i = at.year * 12 + at.month - 1 + n
    y, m = i // 12, i % 12 + 1
    days = (date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)).day
    return at.replace(year=y, month=m, day=min(at.day, days))


@workflow.defn(name="Renewal")
class RenewalWorkflow(ReportedChanges, EnrolmentSteps, StandardFollows):
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
        outcome, why = self._review_outcome(terms, reported=changed or opened_for)
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

    def _review_outcome(self, terms: PeriodTerms, *, reported: bool) -> tuple[str, str]:
        """The level the review sets (seed 004 「没有明显变化的，不再调整救助水平」), or the household's exit:
        gradual where its income rose through employment (a reported change; seeds 001/002/004), else at once.
        Returns the outcome and why."""
        s, b = self._s, terms.benefit
        s.kind = b.kind
        if not b.decidable:
            return "continue", f"level unchanged at {s.level_fen} fen: {b.reason}"
        if b.payable:
            outcome = "adjust" if b.amount_fen != s.level_fen or s.status in ("gradual_exit", "exit_suspended") \
                else "continue"
            s.status, s.exit_months_left, s.level_fen = "active", 0, b.amount_fen
            return outcome, f"{b.amount_fen} fen/month ({b.reason})"
        if s.status in ("gradual_exit", "exit_suspended"):
            return "continue", f"still above the standard ({b.reason}); {s.status} continues"
        if s.last_income_reason == "employment" and reported and terms.gradual_exit_months:
            s.status, s.exit_months_left = "gradual_exit", terms.gradual_exit_months
            s.exit_reason = f"income above the standard through employment ({b.reason})"
            return "gradual_exit", (f"{terms.gradual_exit_months} months of gradual exit at {s.level_fen} fen/month, "
                                    f"then exit ({s.exit_reason})")
        s.status, s.exit_months_left, s.exit_reason = "gradual_exit", 0, b.reason
        return "exit", f"exit: {b.reason}"

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

    def _may_hand_back(self) -> bool:
        s = self._s
        if self._inp.back_pay_through and s.period < self._inp.back_pay_through \
                and workflow.patched(REVERSAL_BACK_PAY):
            return False  # a reversed refusal: the months owed since the application are this case's to pay
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

