"""The stalled-case sweep: one activity on the operations service's queue does the work against its read
model.

``StalledCaseSweepLoop`` is how it runs: one long-lived workflow (id ``doudi-stalled-sweep-loop``, started
once by the operations service) that sweeps, waits on a timer, sweeps again, and continues as new after
``sweeps_per_run`` sweeps so that its history stays small. The Temporal UI shows one open execution and a
handful of closed runs a day, where a Schedule starting ``StalledCaseSweep`` every minute left 1,440
runs a day among the cases. ``StalledCaseSweep`` (one sweep per run) stays registered so that runs its
Schedule started before an upgrade finish, and its recorded history still replays.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from shared.services import TASK_QUEUE_OPERATIONS

SWEEP_ACTIVITY = "operations.sweep_stalled"
SCHEDULE_ID = "doudi-stalled-sweep"  # the retired per-minute Schedule (deleted by operations at start-up)
SWEEP_LOOP_ID = "doudi-stalled-sweep-loop"
# A sweep's history is about a dozen events (workflow task, activity, timer); 240 sweeps stay far below
# Temporal's 10,240-event warning: at one a minute, six runs a day.
SWEEPS_PER_RUN = 240


class SweepInput(BaseModel):
    pass


class SweepSummary(BaseModel):
    checked: int
    stalled: list[str]
    recovered: list[str]


class SweepLoopInput(BaseModel):
    every_seconds: int = Field(default=60, gt=0)
    sweeps_per_run: int = Field(default=SWEEPS_PER_RUN, gt=0)
    last: SweepSummary | None = None  # the previous run's last sweep, carried over continue-as-new


async def sweep_once() -> SweepSummary:
    return await workflow.execute_activity(
        SWEEP_ACTIVITY, SweepInput(), task_queue=TASK_QUEUE_OPERATIONS,
        start_to_close_timeout=timedelta(minutes=2),
        retry_policy=RetryPolicy(maximum_attempts=3), result_type=SweepSummary)


@workflow.defn(name="StalledCaseSweep")
class StalledCaseSweepWorkflow:
    """One sweep (a run of the retired Schedule)."""

    @workflow.run
    async def run(self, _: SweepInput) -> SweepSummary:
        return await sweep_once()


@workflow.defn(name="StalledCaseSweepLoop")
class StalledCaseSweepLoopWorkflow:
    """定时巡查停滞案件：一个长期运行的工作流，每隔一段时间巡查一次，定期以新运行继续（continue-as-new）。"""

    def __init__(self) -> None:
        self._last: SweepSummary | None = None

    @workflow.run
    async def run(self, params: SweepLoopInput) -> None:
        self._last = params.last
        for sweep in range(params.sweeps_per_run):
            if sweep:
                await workflow.sleep(timedelta(seconds=params.every_seconds))
            try:
                self._last = await sweep_once()
            except ActivityError as failed:  # a failed sweep is the next one's to redo; the loop goes on
                workflow.logger.warning("stalled sweep failed: %s", failed.cause or failed)
            if workflow.info().is_continue_as_new_suggested():
                break
        await workflow.sleep(timedelta(seconds=params.every_seconds))  # the next run starts with a sweep
        workflow.continue_as_new(SweepLoopInput(every_seconds=params.every_seconds,
                                                sweeps_per_run=params.sweeps_per_run, last=self._last))

    @workflow.query(name="last_sweep")
    def last_sweep(self) -> SweepSummary | None:
        """What the latest sweep found (the previous run's, until this run's first sweep)."""
        return self._last
