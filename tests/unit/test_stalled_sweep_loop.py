"""The stalled-case sweep as one long-lived workflow (not a Schedule's run a minute): it sweeps on a timer,
survives a failed sweep, continues as new after its run's sweeps, and is started once however many
processes ask. Time-skipping server."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from services.operations.activities import ensure_sweep_loop
from shared.config import TASK_QUEUE_WORKFLOWS
from tests.support import wait_for
from workflows.stalled_sweep import (
    SWEEP_ACTIVITY,
    SWEEP_LOOP_ID,
    TASK_QUEUE_OPERATIONS,
    StalledCaseSweepLoopWorkflow,
    SweepInput,
    SweepLoopInput,
    SweepSummary,
)


class FakeSweeps:
    """Each sweep numbered; the second fails for good (a bug in one sweep must not end the loop)."""

    def __init__(self) -> None:
        self.calls = 0

    @activity.defn(name=SWEEP_ACTIVITY)
    async def sweep(self, _: SweepInput) -> SweepSummary:
        self.calls += 1
        if self.calls == 2:
            raise ApplicationError("read model unreachable", non_retryable=True)
        return SweepSummary(checked=self.calls, stalled=[f"case-{self.calls}"], recovered=[])


def workers(env: WorkflowEnvironment, fake: FakeSweeps) -> tuple[Worker, Worker]:
    return (Worker(env.client, task_queue=TASK_QUEUE_WORKFLOWS, workflows=[StalledCaseSweepLoopWorkflow]),
            Worker(env.client, task_queue=TASK_QUEUE_OPERATIONS, activities=[fake.sweep]))


async def continued(env: WorkflowEnvironment, handle: WorkflowHandle, run_id: str) -> bool:
    await env.sleep(timedelta(minutes=1))  # the loop's timers fire only as (skipped) time passes
    run = env.client.get_workflow_handle(handle.id, run_id=run_id)
    return (await run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW


async def test_the_loop_sweeps_on_a_timer_survives_a_failed_sweep_and_continues_as_new(
        env: WorkflowEnvironment) -> None:
    fake = FakeSweeps()
    w1, w2 = workers(env, fake)
    async with w1, w2:
        handle = await env.client.start_workflow(
            StalledCaseSweepLoopWorkflow.run, SweepLoopInput(every_seconds=60, sweeps_per_run=3),
            id=f"sweep-loop-{uuid.uuid4()}", task_queue=TASK_QUEUE_WORKFLOWS)
        first = handle.result_run_id
        assert first is not None
        await wait_for(lambda: continued(env, handle, first), timeout=60)
        history = await env.client.get_workflow_handle(handle.id, run_id=first).fetch_history()
        kinds = [e.event_type for e in history.events]
        # three sweeps (the second failed), a minute's timer between them and one before the next run
        assert kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) == 3
        assert kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED) == 1
        assert kinds.count(EventType.EVENT_TYPE_TIMER_FIRED) == 3
        assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        timers = [e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() for e in history.events
                  if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
        assert timers == [timedelta(seconds=60)] * 3

        latest = env.client.get_workflow_handle(handle.id)  # the run it continued as

        async def swept_again() -> SweepSummary | None:
            last = await latest.query(StalledCaseSweepLoopWorkflow.last_sweep)
            return last if last is not None and last.checked >= 4 else None
        assert (await wait_for(swept_again, timeout=60)).stalled == ["case-4"]  # the 4th sweep, in run 2
        assert (await latest.describe()).run_id != first
        await latest.terminate("test over")


async def test_every_process_may_start_the_loop_and_only_one_runs(env: WorkflowEnvironment) -> None:
    fake = FakeSweeps()
    w1, w2 = workers(env, fake)
    async with w1, w2:
        await ensure_sweep_loop(env.client, timedelta(seconds=60))
        running = env.client.get_workflow_handle(SWEEP_LOOP_ID)
        first = (await running.describe()).run_id
        await ensure_sweep_loop(env.client, timedelta(seconds=60))  # a second process (or a restart)
        desc = await running.describe()
        assert desc.run_id == first and desc.status == WorkflowExecutionStatus.RUNNING
        assert desc.workflow_type == "StalledCaseSweepLoop"
        await running.terminate("test over")
