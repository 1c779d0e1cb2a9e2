"""What every step of a renewal case shares: the carried state, the period's terms from the policy packs,
the roster's settlement (services/intake/enrolment.py) and the end of the benefit.

Mixed into ``RenewalWorkflow`` (workflow.py), whose init sets the state; deterministic.
"""

from __future__ import annotations

from datetime import date

from temporalio import workflow

from workflows.common import SERVICE_RETRY, STEP_TIMEOUT, CaseSteps

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_INTAKE
    from shared.contracts import activities as act
    from shared.policy import BenefitHousehold
    from workflows.renewal.activities import PeriodQuery, PeriodTerms, period_terms
    from workflows.renewal.inputs import Household, RenewalInput, RenewalState, cadence_of

KEEP_REVIEWS = 24  # review outcomes kept in the carried state (the case record has them all)


class RenewalSteps(CaseSteps):
    _inp: RenewalInput
    _s: RenewalState          # everything a continued-as-new run carries over
    _closing: bool            # handing the household back to the cycle: changes go to its next review case
    _member_ids: list[str]

    async def _terms(self, on: date) -> PeriodTerms:
        h = self._s.household
        return await workflow.execute_local_activity(
            period_terms, PeriodQuery(region_code=self._region, on=on, household=self._benefit_household(h)),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)

    @staticmethod
    def _benefit_household(h: Household) -> BenefitHousehold:
        return h.benefit_facts()

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
