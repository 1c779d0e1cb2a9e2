"""Operations' activities (task queue ``operations``) and the long-lived workflow that drives the sweep."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from services.operations.store import OperationsStore
from services.operations.sweep import sweep
from shared.config import TASK_QUEUE_WORKFLOWS
from workflows.stalled_sweep import (
    SCHEDULE_ID,
    SWEEP_ACTIVITY,
    SWEEP_LOOP_ID,
    StalledCaseSweepLoopWorkflow,
    SweepInput,
    SweepLoopInput,
    SweepSummary,
)

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


async def ensure_sweep_loop(client: Client, every: timedelta) -> None:
    """Start the sweep's one long-lived workflow unless it runs (every process may try; the first wins), and
    delete the per-minute Schedule an earlier version created (its 1,440 runs a day filled the case list)."""
    with contextlib.suppress(RPCError):  # none: already deleted, or never created
        await client.get_schedule_handle(SCHEDULE_ID).delete()
    handle = await client.start_workflow(
        StalledCaseSweepLoopWorkflow.run, SweepLoopInput(every_seconds=max(1, int(every.total_seconds()))),
        id=SWEEP_LOOP_ID, task_queue=TASK_QUEUE_WORKFLOWS, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    log.info("stalled sweep %s (run %s) every %s", SWEEP_LOOP_ID, handle.result_run_id, every)
