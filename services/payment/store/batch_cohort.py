"""A batch's cohort: loading it (``batch_recipients``, ``batch_amounts``, ``batch_levels``,
``batch_installments``) and re-checking it before a later installment (``batch_stops``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from services.payment.store import Conn

RECIPIENTS = "batch_recipients"
RECHECK_TABLE = "recheck_in"
AMOUNT_COLUMNS = ["batch_id", "installment", "region_code", "urban", "categories", "recipients", "amount_fen",
                  "reason"]

# The level of each recipient household for the month, from the ledger: what doudi paid it as that month's
# benefit (the key dibao:<household>:<month>), paid once per household, to its first recipient in the
# cohort. A household the ledger has no payment for that month under that key is not paid here (the
# batch's amounts say how many were). Back-pay after a raised standard is keyed by its first month and
# covers several months (dibao-topup:<household>:<first month>:<version>): no June share can be told
# apart on the ledger, so it is not added.
LEVELS_SQL = """
WITH payee AS (
    SELECT DISTINCT ON (household_id) household_id, ordinal
    FROM batch_recipients WHERE batch_id = $1 ORDER BY household_id, ordinal
), month_paid AS (
    SELECT l.household_id, sum(l.amount_fen)::bigint AS fen
    FROM ledger l JOIN payee p USING (household_id)
    WHERE l.kind = 'disbursement' AND l.idempotency_key = 'dibao:' || l.household_id || ':' || $2
    GROUP BY l.household_id
), ins AS (
    INSERT INTO batch_levels (batch_id, ordinal, household_id, amount_fen)
    SELECT $1, p.ordinal, p.household_id, m.fen FROM payee p JOIN month_paid m USING (household_id)
    WHERE m.fen > 0
    ON CONFLICT DO NOTHING
    RETURNING amount_fen
)
SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS fen,
       (SELECT count(*)::int FROM payee) AS households FROM ins
"""

# the stopped recipients' payments from this installment on (every later installment loses them too)
_STOPPED_FROM = """
FROM batch_stops s
JOIN batch_recipients r ON r.batch_id = s.batch_id AND r.person_id = s.person_id
JOIN batch_amounts a ON a.batch_id = r.batch_id AND a.installment >= $2
     AND a.region_code = r.region_code AND a.urban = r.urban AND a.categories = r.categories
WHERE s.batch_id = $1 AND s.from_installment = $2 AND a.amount_fen > 0
"""


# -- loading ---------------------------------------------------------------------------------------

async def mark_loading(conn: Conn, batch_id: str) -> None:
    """Name the batch this transaction loads (the migrations' triggers read it)."""
    await conn.execute("SELECT set_config('doudi.loading_batch', $1, true)", batch_id)


async def report_loaded_rows(conn: Conn, batch_id: str, rows: int) -> None:
    """Progress of a load, from another connection: visible before the load's transaction commits."""
    await conn.execute("UPDATE batches SET loaded_rows = $2, updated_at = now() WHERE batch_id = $1", batch_id, rows)


async def recipients_loaded(conn: Conn, batch_id: str) -> tuple[int, int]:
    """(rows, highest ordinal) of the loaded cohort: equal when nothing is missing."""
    row = await conn.fetchrow(
        "SELECT count(*)::int, coalesce(max(ordinal), 0) FROM batch_recipients WHERE batch_id = $1", batch_id)
    assert row is not None
    return row[0], row[1]


async def recipient_groups(conn: Conn, batch_id: str) -> list[asyncpg.Record]:
    """(region_code, urban, categories, n): the groups the policy is evaluated for, once each."""
    return await conn.fetch(
        "SELECT region_code, urban, categories, count(*)::int AS n FROM batch_recipients"
        " WHERE batch_id = $1 GROUP BY 1, 2, 3", batch_id)


async def copy_amounts(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    await conn.copy_records_to_table("batch_amounts", records=rows, columns=AMOUNT_COLUMNS)


async def insert_levels(conn: Conn, batch_id: str, month: str) -> tuple[int, int, int]:
    """Each household's own level for ``month`` (LEVELS_SQL): (payments, fen, households in the cohort)."""
    row = await conn.fetchrow(LEVELS_SQL, batch_id, month)
    assert row is not None
    return row["n"], row["fen"], row["households"]


async def analyze_loaded(conn: Conn) -> None:
    """Fresh statistics (this transaction's rows count), or the chunks' join is planned as a nested loop
    over the whole chunk once per amount group: 3x slower."""
    await conn.execute("ANALYZE batch_recipients")
    await conn.execute("ANALYZE batch_amounts")


async def insert_installments(conn: Conn, batch_id: str, installments: list[dict[str, Any]]) -> None:
    await conn.executemany(
        "INSERT INTO batch_installments (batch_id, installment, month, due_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        [(batch_id, i["sequence"], i["month"], datetime.fromisoformat(i["due_at"]) if i.get("due_at") else None)
         for i in installments])


async def mark_loaded(conn: Conn, batch_id: str, *, total: int, payable: int, chunks: int, expected_payments: int,
                      expected_fen: int) -> None:
    await conn.execute(
        """
        UPDATE batches SET total = $2, payable = $3, chunks_per_installment = $4, expected_payments = $5,
               expected_fen = $6, loaded_rows = $7, loaded_at = clock_timestamp(), updated_at = now()
        WHERE batch_id = $1
        """, batch_id, total, payable, chunks, expected_payments, expected_fen, total)


# -- re-checking -----------------------------------------------------------------------------------

async def installment(conn: Conn, batch_id: str, installment: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM batch_installments WHERE batch_id = $1 AND installment = $2",
                               batch_id, installment)


async def create_recheck_table(conn: Conn) -> None:
    """The cohort as of the installment's date, for this transaction only."""
    await conn.execute(
        "CREATE TEMP TABLE recheck_in (ordinal integer, person_id text, household_id text,"
        " region_code text, categories text, urban text) ON COMMIT DROP")


async def index_recheck_table(conn: Conn) -> None:
    await conn.execute("CREATE INDEX ON recheck_in (person_id)")
    await conn.execute("ANALYZE recheck_in")


async def stop_missing(conn: Conn, batch_id: str, installment: int, reason: str) -> int:
    """Stop, from this installment on, every paid recipient no longer in the cohort; how many."""
    stopped: int = await conn.fetchval(
        """
        WITH s AS (
            INSERT INTO batch_stops (batch_id, person_id, from_installment, reason)
            SELECT r.batch_id, r.person_id, $2, $3
            FROM batch_recipients r
            JOIN batch_amounts a ON a.batch_id = r.batch_id AND a.installment = $2
                 AND a.region_code = r.region_code AND a.urban = r.urban AND a.categories = r.categories
            WHERE r.batch_id = $1 AND a.amount_fen > 0
              AND NOT EXISTS (SELECT 1 FROM recheck_in t WHERE t.person_id = r.person_id)
            ON CONFLICT (batch_id, person_id) DO NOTHING
            RETURNING 1
        ) SELECT count(*)::int FROM s
        """, batch_id, installment, reason)
    return stopped


async def stopped_payments(conn: Conn, batch_id: str, installment: int) -> tuple[int, int]:
    """(payments, fen) the recipients stopped at this installment would have had from it on."""
    lost: int = await conn.fetchval("SELECT count(*)::int " + _STOPPED_FROM, batch_id, installment)
    lost_fen: int = await conn.fetchval("SELECT coalesce(sum(a.amount_fen), 0)::bigint " + _STOPPED_FROM,
                                        batch_id, installment)
    return lost, lost_fen


async def record_recheck(conn: Conn, batch_id: str, installment: int, *, on: date, stopped: int, lost: int,
                         lost_fen: int) -> None:
    await conn.execute("UPDATE batch_installments SET rechecked_on = $3, stopped = $4"
                       " WHERE batch_id = $1 AND installment = $2", batch_id, installment, on, stopped)
    await conn.execute("UPDATE batches SET expected_payments = expected_payments - $2,"
                       " expected_fen = expected_fen - $3, updated_at = now() WHERE batch_id = $1",
                       batch_id, lost, lost_fen)
