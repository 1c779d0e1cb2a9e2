"""Telling the cases that wait for a township reserve that it was credited (``reserve_available``):
at once after a credit commits, and by a sweep for any signal that never went out or was lost."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from services.payment.store import reserves as store
from shared.contracts.activities import SIGNAL_RESERVE_AVAILABLE
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow

log = logging.getLogger(__name__)

SIGNAL_CONCURRENCY = 16
RESIGNAL_INTERVAL_S = 5.0      # how often the sweep looks for waits to signal again
RESIGNAL_AFTER_S = 10.0        # x attempts so far: how long a signalled wait may sit before the next signal
NOT_RUNNING = "workflow not found"


class WaitSignaller:
    def __init__(self, pool: asyncpg.Pool, temporal: Client | None):
        self._pool = pool
        self._temporal = temporal

    async def signal_waiting(self, code: str) -> int:
        """Signal ``reserve_available`` to the workflow (id = case id) of every payment waiting for this
        reserve; runs after the credit committed. A case that no longer runs is noted and skipped; any
        other failure leaves the wait unsignalled for the sweep (``resignal_loop``) to retry. Returns how
        many workflows were signalled."""
        async with self._pool.acquire() as conn:
            waits = await store.waits_to_signal(conn, code)
        return await self._signal_waits(waits)

    async def resignal_once(self) -> int:
        """Signal again the waits that the reserve's balance could pay now but whose workflow has not come
        back: never told (the process stopped between the commit and the signal, Temporal unreachable),
        or told but the signal was lost before it retried. Backs off with each attempt; a duplicate
        signal is harmless (the workflow retries with the same key), a case that no longer runs is not
        signalled again."""
        async with self._pool.acquire() as conn:
            waits = await store.waits_to_resignal(conn, not_running=NOT_RUNNING, after_s=RESIGNAL_AFTER_S)
        return await self._signal_waits(waits)

    async def _signal_waits(self, waits: list[asyncpg.Record]) -> int:
        gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)

        async def one(wait: asyncpg.Record) -> bool:
            async with gate:
                error = await self._signal(wait["case_id"])
            async with self._pool.acquire() as conn:
                await store.record_signal(conn, wait, error=error, delivered=error is None or error == NOT_RUNNING)
            return error is None

        return sum(await asyncio.gather(*(one(w) for w in waits)))

    async def _signal(self, case_id: str) -> str | None:
        """None when delivered, else why not."""
        if self._temporal is None:
            return "no temporal client"
        try:
            await self._temporal.get_workflow_handle(case_id).signal(EmergencyReliefWorkflow.reserve_available)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return NOT_RUNNING
            log.warning("signalling %s to case %s failed: %s", SIGNAL_RESERVE_AVAILABLE, case_id, exc)
            return f"{exc.status.name}: {exc.message}"[:500]
        except Exception as exc:  # the credit has committed: a failed signal is retried by the sweep
            log.warning("signalling %s to case %s failed: %r", SIGNAL_RESERVE_AVAILABLE, case_id, exc)
            return repr(exc)[:500]
        return None

    async def resignal_loop(self) -> None:
        while True:
            try:
                await self.resignal_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a transient DB failure: the next sweep tries again
                log.exception("re-signalling waiting payments failed; retrying")
            await asyncio.sleep(RESIGNAL_INTERVAL_S)
