"""The straight-through lane's gathering (docs/adr/0021): emergency cases opened from agencies' events within a
moment of each other start one ``EmergencyReliefLane`` workflow instead of one workflow each. A case alone in
its moment starts its own workflow, as every case did before."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.intake.routing import CaseStart
from shared.config import TASK_QUEUE_WORKFLOWS
from shared.contracts.pathways import EMERGENCY_RELIEF
from workflows.emergency_relief.inputs import EmergencyReliefInput
from workflows.emergency_relief.lane import WORKFLOW, LaneInput, lane_id

log = logging.getLogger(__name__)
WINDOW_S = 0.05
MAX_CASES = 32


def lane_eligible(start: CaseStart) -> bool:
    """An emergency case an agency's event opened for a registered person, with no amount of its own: the
    lane may settle it (the lane itself decides whether it does)."""
    inp = start.workflow_input
    return (start.pathway == EMERGENCY_RELIEF.name and isinstance(inp, EmergencyReliefInput)
            and inp.trigger in ("quarantine", "covid_diagnosis") and inp.facts is not None and inp.facts.found
            and inp.disaster is None and inp.requested_amount_fen is None and inp.application_id is None)


class LaneGathering:
    def __init__(self, temporal: Client, start_alone: Callable[[CaseStart], Awaitable[None]],
                 window_s: float = WINDOW_S, max_cases: int = MAX_CASES):
        self._temporal, self._start_alone = temporal, start_alone
        self._window_s, self._max_cases = window_s, max_cases
        self._waiting: list[tuple[CaseStart, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, start: CaseStart) -> None:
        """Returns once the case's lane (or its own workflow) has started."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((start, done))
        if len(self._waiting) >= self._max_cases:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._window_s, self._flush)
        await done

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if batch:
            task = asyncio.create_task(self._start_lane(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _start_lane(self, batch: list[tuple[CaseStart, asyncio.Future[None]]]) -> None:
        try:
            if len(batch) == 1:
                await self._start_alone(batch[0][0])
            else:
                inputs = [s.workflow_input for s, _ in batch]
                ids = [i.case_id for i in inputs]
                try:
                    await self._temporal.start_workflow(
                        WORKFLOW, LaneInput(cases=inputs), id=lane_id(ids), task_queue=TASK_QUEUE_WORKFLOWS,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
                except WorkflowAlreadyStartedError:
                    pass
        except BaseException as exc:  # every case of the gathering fails with it: their messages are redelivered
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)
