"""A batch's chunks: paying one (``PAY_CHUNK_SQL``, ``batch_chunks``) and, after, publishing its
per-payment events from the committed ledger rows."""

from __future__ import annotations

import asyncpg

from services.payment.store import Conn

PAY_CHUNK_SQL = """
WITH src AS (
    SELECT 'batch:' || r.batch_id || ':' || r.person_id || ':' || $2::int::text AS key,
           r.person_id, r.household_id, r.region_code, coalesce(v.amount_fen, a.amount_fen) AS amount_fen
    FROM batch_recipients r
    JOIN batch_amounts a ON a.batch_id = r.batch_id AND a.installment = $2 AND a.region_code = r.region_code
                        AND a.urban = r.urban AND a.categories = r.categories
    -- a recipient's own level where the policy pays one (one_time_living_subsidy_level_month)
    LEFT JOIN batch_levels v ON v.batch_id = r.batch_id AND v.ordinal = r.ordinal
    WHERE r.batch_id = $1 AND r.ordinal > $3 AND r.ordinal <= $4 AND coalesce(v.amount_fen, a.amount_fen) > 0
      AND NOT EXISTS (SELECT 1 FROM batch_stops s
                      WHERE s.batch_id = r.batch_id AND s.person_id = r.person_id AND s.from_installment <= $2)
), ins AS (
    INSERT INTO ledger (payment_id, idempotency_key, kind, case_id, pathway, person_id, household_id,
                        region_code, measure, account, amount_fen, installment, cause_event_id, reference)
    SELECT 'pay-' || left(encode(sha256(convert_to(key, 'UTF8')), 'hex'), 24), key, 'disbursement', $1, $5,
           person_id, household_id, region_code, $6, 'county-fund:' || left(region_code, 6), amount_fen, $2, $7, $1
    FROM src
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING amount_fen
)
SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS fen FROM ins
"""


async def chunk_done(conn: Conn, batch_id: str, installment: int, chunk: int) -> asyncpg.Record | None:
    """(paid_count, paid_fen) of a chunk that committed; None when it has not."""
    return await conn.fetchrow("SELECT paid_count, paid_fen FROM batch_chunks"
                               " WHERE batch_id = $1 AND installment = $2 AND chunk = $3",
                               batch_id, installment, chunk)


async def pay(conn: Conn, *, batch_id: str, installment: int, chunk: int, size: int, pathway: str, measure: str,
              cause_event_id: str | None) -> tuple[int, int]:
    """Pay the chunk's ordinals into the ledger (each key once); (payments, fen) this call inserted."""
    row = await conn.fetchrow(PAY_CHUNK_SQL, batch_id, installment, chunk * size, (chunk + 1) * size, pathway,
                              measure, cause_event_id)
    assert row is not None
    return row["n"], row["fen"]


async def record_chunk(conn: Conn, *, batch_id: str, installment: int, chunk: int, count: int, fen: int) -> bool:
    """The chunk's row; False when a concurrent attempt of the same chunk committed first."""
    recorded = await conn.fetchval(
        "INSERT INTO batch_chunks (batch_id, installment, chunk, paid_count, paid_fen) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING RETURNING chunk", batch_id, installment, chunk, count, fen)
    return recorded is not None


# -- publishing the per-payment events ---------------------------------------------------------------

async def next_unpublished(conn: Conn) -> asyncpg.Record | None:
    """The oldest paid chunk whose events are not published, locked; none while any batch loads or pays."""
    return await conn.fetchrow(
        """
        SELECT k.batch_id, k.installment, k.chunk, b.chunk_size, b.measure
        FROM batch_chunks k JOIN batches b USING (batch_id)
        WHERE k.events_published_at IS NULL AND k.paid_count > 0 AND b.payment_events
          AND NOT EXISTS (SELECT 1 FROM batches x WHERE x.status IN ('loading', 'paying'))
        ORDER BY k.done_at LIMIT 1 FOR UPDATE OF k SKIP LOCKED
        """)


async def chunk_payments(conn: Conn, chunk: asyncpg.Record) -> list[asyncpg.Record]:
    """The ledger rows the chunk paid."""
    size = chunk["chunk_size"]
    return await conn.fetch(
        """
        SELECT l.payment_id, l.person_id, l.household_id, l.amount_fen, l.installment, l.account,
               l.region_code, l.created_at, l.cause_event_id
        FROM batch_recipients r
        JOIN ledger l ON l.idempotency_key = 'batch:' || r.batch_id || ':' || r.person_id || ':' || $2::int::text
        WHERE r.batch_id = $1 AND r.ordinal > $3 AND r.ordinal <= $4
        """, chunk["batch_id"], chunk["installment"], chunk["chunk"] * size, (chunk["chunk"] + 1) * size)


async def mark_published(conn: Conn, chunk: asyncpg.Record) -> None:
    await conn.execute(
        "UPDATE batch_chunks SET events_published_at = now() WHERE batch_id = $1 AND installment = $2 AND chunk = $3",
        chunk["batch_id"], chunk["installment"], chunk["chunk"])
