"""The stalled-case sweep, started every minute by a Temporal Schedule (``doudi-stalled-sweep``): one
activity on the operations service's queue does the work against its read model."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

from shared.services import TASK_QUEUE_OPERATIONS

SWEEP_ACTIVITY = "operations.sweep_stalled"
SCHEDULE_ID = "doudi-stalled-sweep"


class SweepInput(BaseModel):
    pass


class SweepSummary(BaseModel):
    checked: int
    stalled: list[str]
    recovered: list[str]


@workflow.defn(name="StalledCaseSweep")
class StalledCaseSweepWorkflow:
    @workflow.run
    async def run(self, _: SweepInput) -> SweepSummary:
        return await workflow.execute_activity(
            SWEEP_ACTIVITY, SweepInput(), task_queue=TASK_QUEUE_OPERATIONS,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=3), result_type=SweepSummary)
