"""The monthly benefit cycle's orchestration on the time-skipping server: the set-based review, then
the roll paid, then the review cases started; a period-less start (the monthly Schedule) takes the
month it runs in; the activities see one cycle id, derived from region and period."""

from __future__ import annotations

import uuid

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared.config import TASK_QUEUE_INTAKE, TASK_QUEUE_PAYMENT
from shared.contracts import activities as act
from workflows.benefit_cycle.inputs import CycleInput
from workflows.benefit_cycle.workflow import BenefitCycleWorkflow


async def run_cycle(env: WorkflowEnvironment, inp: CycleInput) -> tuple[list[str], object]:
    calls: list[str] = []

    @activity.defn(name=act.REVIEW_COHORT)
    async def review(req: act.ReviewCohort) -> act.CohortReviewed:
        calls.append(f"review {req.cycle_id} {req.region_prefix} {req.period}")
        return act.CohortReviewed(cycle_id=req.cycle_id, enrolled=100, due=40, continued=38, cases_opened=2,
                                  on_roll=98, roll_fen=98 * 105000)

    @activity.defn(name=act.START_REVIEW_CASES)
    async def start(req: act.StartReviewCases) -> int:
        calls.append(f"start {req.cycle_id}")
        return 2

    @activity.defn(name=act.PAY_PERIOD_ROLL)
    async def pay(req: act.PayPeriodRoll) -> act.PeriodRollPaid:
        calls.append(f"pay {req.cycle_id} {req.period}")
        return act.PeriodRollPaid(cycle_id=req.cycle_id, paid_count=98, paid_fen=98 * 105000)

    queue = f"wf-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[BenefitCycleWorkflow]), \
            Worker(env.client, task_queue=TASK_QUEUE_INTAKE, activities=[review, start]), \
            Worker(env.client, task_queue=TASK_QUEUE_PAYMENT, activities=[pay]):
        result = await env.client.execute_workflow(BenefitCycleWorkflow.run, inp, id=f"cycle-{uuid.uuid4()}",
                                                   task_queue=queue)
    return calls, result


async def test_review_then_pay_then_start_review_cases(env: WorkflowEnvironment):
    calls, result = await run_cycle(env, CycleInput(region_prefix="6601", period="2022-11"))
    assert calls == ["review cycle-6601-2022-11 6601 2022-11", "pay cycle-6601-2022-11 2022-11",
                     "start cycle-6601-2022-11"]
    assert (result.cases_opened, result.cases_started, result.paid_count, result.paid_fen) == (2, 2, 98, 98 * 105000)


async def test_a_scheduled_start_without_a_period_takes_the_month_it_runs_in(env: WorkflowEnvironment):
    now = await env.get_current_time()
    calls, result = await run_cycle(env, CycleInput(region_prefix="64"))
    assert result.period == f"{now.year:04d}-{now.month:02d}" and calls[0].startswith(f"review cycle-64-{result.period}")
