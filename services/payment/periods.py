"""Monthly benefits of the enrolled households a region's cycle carries (低保金按月发放), set-based.

``payment.pay_period_roll`` (one heartbeating activity, resumable):

1. **load**, once, in one transaction: intake's roll for the cycle (``GET /api/enrolments/rolls/{cycle}``,
   streaming CSV) straight into ``COPY period_roll``; a crash rolls it back, a retry starts over, a
   retry after the commit finds ``period_cycles`` and skips it;
2. **pay** chunk by chunk, one transaction each::

       INSERT INTO ledger (...) SELECT ... FROM period_roll WHERE cycle_id = $1 AND ordinal in the chunk
       ON CONFLICT (idempotency_key) DO NOTHING

   with the key ``dibao:<household>:<period>`` (back-pay after a raised standard: the roll row's own key
   ``dibao-topup:<household>:<month>:<standard-version>``), the chunk's ``period_chunks`` row in the same
   transaction: a chunk retried after its commit pays nothing; a household its own renewal case
   already paid for the period is refused by the ledger's unique key.
"""
from __future__ import annotations

import logging
import time

import asyncpg

from services.payment.exports import copy_export
from services.payment.heartbeat import heartbeating
from services.payment.store import periods as store
from shared.contracts import activities as act
from shared.faults import crash_point
from shared.infra.db import unit_of_work

log = logging.getLogger(__name__)
ROLL_COLUMNS = ["ordinal", "household_id", "enrolment_id", "person_id", "region_code", "measure", "amount_fen",
                "idempotency_key"]
PATHWAY = "renewal"


class PeriodPayments:
    def __init__(self, pool: asyncpg.Pool, *, intake_url: str):
        self._pool = pool
        self._intake_url = intake_url.rstrip("/")

    async def _load(self, cycle_id: str, period: str) -> int:
        async with unit_of_work(self._pool) as conn:
            await store.lock_cycle(conn, cycle_id)
            rows = await store.loaded_rows(conn, cycle_id)
            if rows is not None:
                return rows
            await store.mark_loading(conn, cycle_id)
            expected = await copy_export(
                conn, f"{self._intake_url}/api/enrolments/rolls/{cycle_id}", what="roll export",
                count_header="x-roll-count", table=store.ROLL_TABLE, columns=ROLL_COLUMNS, timeout_s=300.0)
            got = await store.roll_count(conn, cycle_id)
            if got != expected:  # a cut stream: roll back, the retry loads it again
                raise RuntimeError(f"roll {cycle_id}: {got} rows loaded, intake announced {expected}")
            crash_point("payment.period_roll_loaded")
            await store.record_loaded(conn, cycle_id, period, got)
            return got

    async def _pay_chunk(self, req: act.PayPeriodRoll, chunk: int) -> None:
        """One chunk in one transaction; a chunk that committed before pays nothing."""
        async with heartbeating(details={"chunk": chunk}), unit_of_work(self._pool) as conn:
            if await store.chunk_paid(conn, req.cycle_id, chunk):
                return
            n, fen = await store.pay_chunk(conn, cycle_id=req.cycle_id, chunk=chunk, size=req.chunk_size,
                                           pathway=PATHWAY, period=req.period)
            crash_point("payment.period_chunk_before_commit")
            await store.record_chunk(conn, cycle_id=req.cycle_id, chunk=chunk, count=n, fen=fen)

    async def pay(self, req: act.PayPeriodRoll) -> act.PeriodRollPaid:
        started = time.monotonic()
        async with heartbeating(details="loading the roll"):
            rows = await self._load(req.cycle_id, req.period)
        chunks = (rows + req.chunk_size - 1) // req.chunk_size
        for chunk in range(chunks):
            await self._pay_chunk(req, chunk)
        async with self._pool.acquire() as conn:
            paid_count, paid_fen = await store.finish(conn, req.cycle_id)
        log.info("cycle %s: %s paid, %s fen", req.cycle_id, paid_count, paid_fen)
        return act.PeriodRollPaid(cycle_id=req.cycle_id, paid_count=paid_count, paid_fen=paid_fen,
                                  seconds=round(time.monotonic() - started, 3))
