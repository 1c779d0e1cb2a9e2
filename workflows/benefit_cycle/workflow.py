"""The monthly benefit cycle of a region (低保金按月发放 and the periodic review, seed 004), as a set.

One workflow per region and period (id ``cycle-<region>-<YYYY-MM>``), three idempotent steps:

1. **review the cohort** (intake, one transaction): households whose registry data changed since their
   last review get an individual review case (a ``Renewal`` workflow, for a caseworker to follow);
   those due and unchanged continue at the same level (seed 004 「对没有明显变化的，不再调整救助水平」);
   the period's payment roll is taken for everyone the cycle carries;
2. **pay the roll** (payment, set-based chunks, key ``dibao:<household>:<period>``): the unchanged
   majority is paid before the review cases compete for the machine;
3. **start the review cases** (intake, bounded concurrency, heartbeating).

Per-household state lives in intake's roster, not in this history, so its size does not depend on the
number of households.
"""
from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_INTAKE, TASK_QUEUE_PAYMENT
    from shared.contracts import activities as act
    from workflows.benefit_cycle.inputs import CycleInput, CycleResult, cycle_id_for
    from workflows.errors import NON_RETRYABLE

# unlimited: a person fixes the cause meanwhile; a failure no retry cures (workflows/errors.py) stops at once
Result = TypeVar("Result")

RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=1), non_retryable_error_types=NON_RETRYABLE)


@workflow.defn(name="BenefitCycle")
class BenefitCycleWorkflow:
    @workflow.init
    def __init__(self, inp: CycleInput) -> None:
        now = workflow.now()
        self._period = inp.period or f"{now.year:04d}-{now.month:02d}"
        self._cycle_id = cycle_id_for(inp.region_prefix, self._period)
        self._stage = "reviewing"

    @workflow.query
    def stage(self) -> str:
        return self._stage

    @workflow.run
    async def run(self, inp: CycleInput) -> CycleResult:
        reviewed = await _step(act.REVIEW_COHORT, act.ReviewCohort(
            cycle_id=self._cycle_id, region_prefix=inp.region_prefix, period=self._period),
            TASK_QUEUE_INTAKE, timedelta(minutes=20), act.CohortReviewed)
        self._stage = "paying"
        paid = await _step(act.PAY_PERIOD_ROLL, act.PayPeriodRoll(
            cycle_id=self._cycle_id, period=self._period, chunk_size=inp.chunk_size),
            TASK_QUEUE_PAYMENT, timedelta(hours=1), act.PeriodRollPaid)
        self._stage = "starting review cases"
        started = await _step(act.START_REVIEW_CASES, act.StartReviewCases(cycle_id=self._cycle_id),
                              TASK_QUEUE_INTAKE, timedelta(hours=2), int)
        self._stage = "done"
        return CycleResult(cycle_id=self._cycle_id, period=self._period, enrolled=reviewed.enrolled,
                           due=reviewed.due, continued=reviewed.continued, cases_opened=reviewed.cases_opened,
                           cases_started=started, on_roll=reviewed.on_roll, paid_count=paid.paid_count,
                           paid_fen=paid.paid_fen)


async def _step(activity: str, arg: BaseModel, queue: str, timeout: timedelta, result: type[Result]) -> Result:
    """One set-based step of the cycle: a heartbeating activity on its service's queue, retried until it
    succeeds (each step is idempotent)."""
    answer: Result = await workflow.execute_activity(
        activity, arg, task_queue=queue, start_to_close_timeout=timeout, heartbeat_timeout=timedelta(seconds=60),
        retry_policy=RETRY, result_type=result)
    return answer
