"""The monthly benefit cycle's orchestration on the time-skipping server: the set-based review, then
the roll paid, then the review cases started; a period-less start (the monthly Schedule) takes the
month it runs in; the activities see one cycle id, derived from region and period."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from temporalio import activity
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from shared.config import TASK_QUEUE_INTAKE, TASK_QUEUE_PAYMENT
from shared.contracts import activities as act
from workflows.benefit_cycle.inputs import CycleInput
from workflows.benefit_cycle.workflow import BenefitCycleWorkflow


async def run_cycle(env: WorkflowEnvironment, inp: CycleInput, record: Path | None = None) -> tuple[list[str], object]:
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
        handle = await env.client.start_workflow(BenefitCycleWorkflow.run, inp, id=f"cycle-{uuid.uuid4()}",
                                                 task_queue=queue)
        result = await handle.result()
        if record is not None:
            record.write_text((await handle.fetch_history()).to_json())  # noqa: ASYNC240 (recording, tests only)
    return calls, result


async def test_review_then_pay_then_start_review_cases(env: WorkflowEnvironment):
    calls, result = await run_cycle(env, CycleInput(region_prefix="6601", period="2022-11"))
    assert calls == ["review cycle-6601-2022-11 6601 2022-11", "pay cycle-6601-2022-11 2022-11",
                     "start cycle-6601-2022-11"]
    assert (result.cases_opened, result.cases_started, result.paid_count, result.paid_fen) == (2, 2, 98, 98 * 105000)


async def test_a_scheduled_start_without_a_period_takes_the_month_it_runs_in(env: WorkflowEnvironment):
    now = await env.get_current_time()
    calls, result = await run_cycle(env, CycleInput(region_prefix="64"))
    assert result.period == f"{now.year:04d}-{now.month:02d}"
    assert calls[0].startswith(f"review cycle-64-{result.period}")


HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def test_recorded_cycle_histories_replay(env: WorkflowEnvironment):
    """Record with DOUDI_RECORD_HISTORIES=v1; a change to the cycle's logic not behind ``workflow.patched``
    fails here."""
    if os.environ.get("DOUDI_RECORD_HISTORIES"):
        await run_cycle(env, CycleInput(region_prefix="6601", period="2022-11"),
                        record=HISTORIES / f"benefit_cycle-{os.environ['DOUDI_RECORD_HISTORIES']}-ran.json")
    files = sorted(HISTORIES.glob("benefit_cycle-*.json"))
    assert files, "no recorded cycle histories"
    replayer = Replayer(workflows=[BenefitCycleWorkflow], data_converter=pydantic_data_converter)
    for f in files:
        await replayer.replay_workflow(WorkflowHistory.from_json(f.stem, f.read_text()))
