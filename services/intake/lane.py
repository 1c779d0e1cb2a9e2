"""The straight-through lane's gathering (docs/adr/0021): emergency cases opened from agencies' events within a
moment of each other start one ``EmergencyReliefLane`` workflow instead of one workflow each. A case alone in
its moment starts its own workflow, as every case did before.

Intake remembers each case's lane (``cases.lane_id``), written BEFORE the lane starts: a redelivery or a restart
re-drives the case's lane (``start_lane``: the same id, the members' inputs) and never starts the case's own
workflow while its lane may be settling it. This module holds no SQL: the service hands it the store's
statements as callbacks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.intake.routing import CaseStart
from shared.config import TASK_QUEUE_WORKFLOWS
from shared.contracts.pathways import EMERGENCY_RELIEF
from workflows.emergency_relief.inputs import EmergencyReliefInput
from workflows.emergency_relief.lane import WORKFLOW, LaneInput, lane_id

log = logging.getLogger(__name__)
WINDOW_S = 0.35  # the default of DOUDI_LANE_WINDOW_MS (shared/config.py)
# intake's concurrent handlers of an event family (subscribers.CONCURRENCY): once they all wait in the gathering,
# no other report can join it, and waiting out the window would only delay the lane
MAX_CASES = 16


def lane_eligible(start: CaseStart) -> bool:
    """An emergency case an agency's event opened for a registered person, with no amount of its own: the
    lane may settle it (the lane itself decides whether it does). A start read back from the case row carries
    its input as JSON."""
    if start.pathway != EMERGENCY_RELIEF.name:
        return False
    inp = start.workflow_input
    if isinstance(inp, dict):
        try:
            inp = EmergencyReliefInput.model_validate(inp)
        except ValidationError:
            return False
    return (isinstance(inp, EmergencyReliefInput)
            and inp.trigger in ("quarantine", "covid_diagnosis") and inp.facts is not None and inp.facts.found
            and inp.disaster is None and inp.requested_amount_fen is None and inp.application_id is None)


async def start_lane(temporal: Client, lane: str, members: Sequence[CaseStart]) -> None:
    """Start the lane's workflow for its members (ordered by case id); a lane that runs or completed is left as
    it is (a second start of the same id is refused, which is fine). A lane that failed, timed out or was
    terminated is started again: its steps repeat under each case's keys, so its re-drive (a redelivered report)
    settles or hands over the cases it left open, and pays none twice."""
    try:
        await temporal.start_workflow(
            WORKFLOW, LaneInput(cases=[m.workflow_input for m in sorted(members, key=lambda m: m.case_id)]),
            id=lane, task_queue=TASK_QUEUE_WORKFLOWS, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
    except WorkflowAlreadyStartedError:
        pass


class LaneGathering:
    """Gathers the cases ``start`` is called for within ``window_s`` (at most ``max_cases``), then starts them:

    - one case (or one case twice: two reports of one household's incident): ``start_alone``;
    - several: ``join(lane, case_ids)`` writes their membership of the lane ``lane_id(case_ids)`` and answers
      the cases now in it (a case another lane took first is left to that one); then the lane starts with
      those; then ``started(case_ids)`` marks them started.

    Each ``start`` returns once its case's lane (or its own workflow) has started, or raises what stopped the
    gathering's start: every case of the gathering fails with it, so their messages are redelivered."""

    def __init__(self, temporal: Client, start_alone: Callable[[CaseStart], Awaitable[None]], *,
                 join: Callable[[str, list[str]], Awaitable[list[str]]],
                 started: Callable[[list[str]], Awaitable[None]],
                 window_s: float = WINDOW_S, max_cases: int = MAX_CASES):
        self._temporal, self._start_alone = temporal, start_alone
        self._join, self._started = join, started
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
        starts = {s.case_id: s for s, _ in batch}  # one case reported twice in the window is one case
        try:
            if len(starts) == 1:
                await self._start_alone(batch[0][0])
            else:
                ids = sorted(starts)
                lane = lane_id(ids)
                members = await self._join(lane, ids)  # BEFORE the start: a redelivery re-drives this lane
                if members:
                    await start_lane(self._temporal, lane, [starts[i] for i in members])
                    await self._started(members)
        except BaseException as exc:  # every case of the gathering fails with it: their messages are redelivered
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)
