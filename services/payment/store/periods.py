"""Monthly rolls (migration 004): ``period_roll`` loaded once per cycle, paid chunk by chunk
(``period_chunks``), counted on ``period_cycles``."""

from __future__ import annotations

from services.payment.store import Conn

ROLL_TABLE = "period_roll"

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


async def lock_cycle(conn: Conn, cycle_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", cycle_id)


async def loaded_rows(conn: Conn, cycle_id: str) -> int | None:
    """The rows of a cycle whose roll is loaded; None when it is not."""
    rows: int | None = await conn.fetchval("SELECT rows FROM period_cycles WHERE cycle_id = $1", cycle_id)
    return rows


async def mark_loading(conn: Conn, cycle_id: str) -> None:
    await conn.execute("SELECT set_config('doudi.loading_cycle', $1, true)", cycle_id)


async def roll_count(conn: Conn, cycle_id: str) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM period_roll WHERE cycle_id = $1", cycle_id)
    return count


async def record_loaded(conn: Conn, cycle_id: str, period: str, rows: int) -> None:
    await conn.execute("INSERT INTO period_cycles (cycle_id, period, rows) VALUES ($1, $2, $3)", cycle_id, period, rows)


async def chunk_paid(conn: Conn, cycle_id: str, chunk: int) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM period_chunks WHERE cycle_id = $1 AND chunk = $2", cycle_id, chunk))


async def pay_chunk(conn: Conn, *, cycle_id: str, chunk: int, size: int, pathway: str, period: str) -> tuple[int, int]:
    """Pay the chunk's roll rows (each key once); (payments, fen) this call inserted."""
    row = await conn.fetchrow(PAY_SQL, cycle_id, chunk * size, (chunk + 1) * size, pathway, period)
    assert row is not None
    return row["n"], row["fen"]


async def record_chunk(conn: Conn, *, cycle_id: str, chunk: int, count: int, fen: int) -> None:
    await conn.execute("INSERT INTO period_chunks (cycle_id, chunk, paid_count, paid_fen)"
                       " VALUES ($1, $2, $3, $4)", cycle_id, chunk, count, fen)
    await conn.execute("UPDATE period_cycles SET paid_count = paid_count + $2, paid_fen = paid_fen + $3"
                       " WHERE cycle_id = $1", cycle_id, count, fen)


async def finish(conn: Conn, cycle_id: str) -> tuple[int, int]:
    """The cycle marked finished (once); (paid_count, paid_fen) over all its chunks."""
    row = await conn.fetchrow("UPDATE period_cycles SET finished_at = coalesce(finished_at, now())"
                              " WHERE cycle_id = $1 RETURNING paid_count, paid_fen", cycle_id)
    assert row is not None
    return row["paid_count"], row["paid_fen"]
