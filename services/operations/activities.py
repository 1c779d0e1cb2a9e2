"""Operations' activities (task queue ``operations``) and the Schedule that drives the sweep."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from services.operations.store import OperationsStore
from services.operations.sweep import sweep
from shared.config import TASK_QUEUE_WORKFLOWS
from workflows.stalled_sweep import SCHEDULE_ID, SWEEP_ACTIVITY, SweepInput, SweepSummary

log = logging.getLogger(__name__)


class OperationsActivities:
    def __init__(self, ops: OperationsStore, temporal: Client, stuck_after: timedelta):
        self._ops, self._temporal, self._stuck_after = ops, temporal, stuck_after

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of the service: the worker registers these."""
        return [self.sweep_stalled]

    @activity.defn(name=SWEEP_ACTIVITY)
    async def sweep_stalled(self, _: SweepInput) -> SweepSummary:
        result = await sweep(self._ops, self._temporal, datetime.now(UTC), self._stuck_after)
        return SweepSummary(checked=result.checked, stalled=result.stalled, recovered=result.recovered)


async def ensure_sweep_schedule(client: Client, every: timedelta) -> None:
    """Create the sweep's Schedule once (every process may try; the first wins)."""
    try:
        await client.create_schedule(SCHEDULE_ID, Schedule(
            action=ScheduleActionStartWorkflow("StalledCaseSweep", SweepInput(), id="doudi-stalled-sweep-run",
                                               task_queue=TASK_QUEUE_WORKFLOWS),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)))
        log.info("created schedule %s every %s", SCHEDULE_ID, every)
    except ScheduleAlreadyRunningError:
        pass
