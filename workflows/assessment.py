"""A caseworker's assessment of an amount the seed leaves to the county (issue 13 item 5).

Xinjiang's and Fujian's job-loss aid 「发放一次性临时救助金」 and the national disaster aid 「直接实施临时救助」
grant the aid but fix no amount. Such a case does not close as not payable: it opens an assessment task
in the caseworkers' inbox with a deadline (``ServiceLevels.assessment_deadline_days``, local practice in
the national pack), waits for the assessed amount, and hands it to the normal approval step, where the
tier's authority decides it. A missed deadline flags the case and escalates it to the county; the case
keeps waiting (never silently closed).

Mixed into a case workflow next to ``CaseSteps`` (deterministic: timers and activities only).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

from workflows.common import CaseSteps

with workflow.unsafe.imports_passed_through():
    from shared.policy import ServiceLevels
    from workflows.decisions import AssessmentSubmitted

ASSESSORS = ("clerk", "township_approver", "county_approver", "admin")


class CaseworkerAssessment(CaseSteps):
    """``_init_assessment`` in the workflow's init; the workflow names the household's members
    (``_household_ids``)."""

    def _init_assessment(self) -> None:
        self._assessment: AssessmentSubmitted | None = None
        self._awaiting_assessment = False
        self._assessment_ceiling_fen = 0

    @workflow.update
    async def assess(self, assessment: AssessmentSubmitted) -> str:
        self._assessment = assessment
        return "recorded"

    @assess.validator
    def _validate_assessment(self, assessment: AssessmentSubmitted) -> None:
        if not self._awaiting_assessment:
            raise ValueError("this case is not waiting for a caseworker's assessment")
        if self._assessment is not None:
            raise ValueError("the amount has been assessed")
        claims = self._verified_official(assessment, "assess", subject=assessment.official, roles=ASSESSORS,
                                         doing="assess an amount")
        if claims.person_id and claims.person_id in self._household_ids():
            raise ValueError("an official cannot assess a case of their own household (conflict of interest)")
        if assessment.amount_fen <= 0:
            raise ValueError("amount_fen: the assessed amount must be positive")
        if assessment.amount_fen > self._assessment_ceiling_fen:
            raise ValueError(f"amount_fen: {assessment.amount_fen} fen is above {self._assessment_ceiling_fen} fen; "
                             "a larger need goes to the county coordination committee (一事一议)")

    async def _await_assessment(self, levels: ServiceLevels, what: str) -> AssessmentSubmitted:
        self._assessment_ceiling_fen = levels.committee_threshold_fen
        self._awaiting_assessment = True
        arrived: Callable[[], bool] = lambda: self._assessment is not None  # noqa: E731
        due = workflow.now() + timedelta(days=levels.assessment_deadline_days)
        self._deadlines = [{"kind": "assessment", "due": due.isoformat()}]
        await self._open_task("assessment", "clerk", due, None,
                              f"assess the amount of {what}: the policy grants the aid but leaves the amount "
                              "to the county (核定救助金额)")
        await self._record("awaiting_decision", "awaiting_assessment",
                           f"{what}: the policy fixes no amount; a caseworker assesses it by {due.isoformat()}, "
                           "then the approval tiers decide")
        if not await self._wait_until(arrived, due):
            await self._escalate_overdue("assessment_overdue", "awaiting_decision", "assessment_overdue",
                                         "the caseworker's assessment is overdue: escalated to the county",
                                         to="county", arrived=arrived)
        self._awaiting_assessment = False
        self._deadlines = []
        assessment = self._assessment
        assert assessment is not None
        await self._close_task("assessment", assessment.official, "assessed")
        await self._record("open", "assessed_by_caseworker",
                           f"{assessment.official} assessed {assessment.amount_fen} fen: {assessment.reason}",
                           amount=assessment.amount_fen)
        return assessment
