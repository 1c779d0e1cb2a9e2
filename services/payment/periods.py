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
import httpx
from temporalio import activity

from services.payment.batch import _heartbeating
from shared.auth import Role, issue_token
from shared.contracts import activities as act
from shared.faults import crash_point

log = logging.getLogger(__name__)
ROLL_COLUMNS = ["ordinal", "household_id", "enrolment_id", "person_id", "region_code", "measure", "amount_fen",
                "idempotency_key"]
PATHWAY = "renewal"

PAY_SQL = """
WITH ins AS (
    INSERT INTO ledger (payment_id, idempotency_key, kind, case_id, pathway, person_id, household_id,
                        region_code, measure, account, amount_fen, installment, cause_event_id, reference)
    SELECT 'pay-' || left(encode(sha256(convert_to(k.key, 'UTF8')), 'hex'), 24), k.key, 'disbursement',
           r.enrolment_id, $4, r.person_id, r.household_id, r.region_code, r.measure,
           'county-fund:' || left(r.region_code, 6), r.amount_fen, 1, $1, $1
    FROM period_roll r, LATERAL (SELECT coalesce(r.idempotency_key, 'dibao:' || r.household_id || ':' || $5) AS key) k
    WHERE r.cycle_id = $1 AND r.ordinal > $2 AND r.ordinal <= $3
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING amount_fen
)
SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS fen FROM ins
"""


class PeriodPayments:
    def __init__(self, pool: asyncpg.Pool, *, intake_url: str):
        self._pool = pool
        self._intake_url = intake_url.rstrip("/")

    async def _load(self, cycle_id: str, period: str) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", cycle_id)
            rows = await conn.fetchval("SELECT rows FROM period_cycles WHERE cycle_id = $1", cycle_id)
            if rows is not None:
                return rows
            await conn.execute("SELECT set_config('doudi.loading_cycle', $1, true)", cycle_id)
            token = issue_token("svc-payment", Role.service, ttl_s=3600)
            async with httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0)) as http, http.stream(
                    "GET", f"{self._intake_url}/api/enrolments/rolls/{cycle_id}",
                    headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status_code != 200:
                    body = (await resp.aread()).decode(errors="replace")[:500]
                    raise RuntimeError(f"roll export answered {resp.status_code}: {body}")
                expected = int(resp.headers["x-roll-count"])
                await conn.copy_to_table("period_roll", source=resp.aiter_bytes(), columns=ROLL_COLUMNS,
                                         format="csv", header=True)
            got = await conn.fetchval("SELECT count(*) FROM period_roll WHERE cycle_id = $1", cycle_id)
            if got != expected:  # a cut stream: roll back, the retry loads it again
                raise RuntimeError(f"roll {cycle_id}: {got} rows loaded, intake announced {expected}")
            crash_point("payment.period_roll_loaded")
            await conn.execute("INSERT INTO period_cycles (cycle_id, period, rows) VALUES ($1, $2, $3)",
                               cycle_id, period, got)
            return got

    async def pay(self, req: act.PayPeriodRoll) -> act.PeriodRollPaid:
        started = time.monotonic()
        async with _heartbeating(details="loading the roll"):
            rows = await self._load(req.cycle_id, req.period)
        chunks = (rows + req.chunk_size - 1) // req.chunk_size
        for chunk in range(chunks):
            async with _heartbeating(details={"chunk": chunk}), self._pool.acquire() as conn, conn.transaction():
                if await conn.fetchval("SELECT 1 FROM period_chunks WHERE cycle_id = $1 AND chunk = $2",
                                       req.cycle_id, chunk):
                    continue
                n, fen = await conn.fetchrow(PAY_SQL, req.cycle_id, chunk * req.chunk_size,
                                             (chunk + 1) * req.chunk_size, PATHWAY, req.period)
                crash_point("payment.period_chunk_before_commit")
                await conn.execute("INSERT INTO period_chunks (cycle_id, chunk, paid_count, paid_fen)"
                                   " VALUES ($1, $2, $3, $4)", req.cycle_id, chunk, n, fen)
                await conn.execute("UPDATE period_cycles SET paid_count = paid_count + $2, paid_fen = paid_fen + $3"
                                   " WHERE cycle_id = $1", req.cycle_id, n, fen)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("UPDATE period_cycles SET finished_at = coalesce(finished_at, now())"
                                      " WHERE cycle_id = $1 RETURNING paid_count, paid_fen", req.cycle_id)
        log.info("cycle %s: %s paid, %s fen", req.cycle_id, row["paid_count"], row["paid_fen"])
        return act.PeriodRollPaid(cycle_id=req.cycle_id, paid_count=row["paid_count"], paid_fen=row["paid_fen"],
                                  seconds=round(time.monotonic() - started, 3))

    @activity.defn(name=act.PAY_PERIOD_ROLL)
    async def pay_period_roll(self, req: act.PayPeriodRoll) -> act.PeriodRollPaid:
        return await self.pay(req)
