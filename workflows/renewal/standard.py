"""提标: a raised standard reaches a household its case carries (in gradual exit, or under review).

Mixed into ``RenewalWorkflow`` (workflow.py); deterministic.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.common import SERVICE_RETRY, STEP_TIMEOUT
from workflows.renewal.steps import KEEP_REVIEWS, RenewalSteps

with workflow.unsafe.imports_passed_through():
    from shared.contracts import activities as act
    from workflows.renewal.activities import PeriodTerms, RaiseQuery, raised_levels
    from workflows.renewal.inputs import PATHWAY, add_months

# the level follows the newer entry at the next period, and the months already paid at the old level (by the
# case, or by the cycle before it opened) are back-paid under dibao-topup:<household>:<first month>:<version>
STANDARD_FOLLOWS = "renewal-standard-follows"
BACK_PAY_WINDOW = 35  # months back a raise is paid for (the cycle's window, services/intake/enrolment.py)


class StandardFollows(RenewalSteps):
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

