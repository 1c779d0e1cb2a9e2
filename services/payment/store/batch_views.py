"""Reading a batch for its view: progress per installment, amounts, levels, stops."""

from __future__ import annotations

import asyncpg

from services.payment.store import Conn


async def chunks_per_installment(conn: Conn, batch_id: str) -> dict[int, asyncpg.Record]:
    """Per installment: chunks_done, paid_count, paid_fen, published (payments whose events went out)."""
    return {r["installment"]: r for r in await conn.fetch(
        "SELECT installment, count(*)::int AS chunks_done, coalesce(sum(paid_count), 0)::bigint AS paid_count,"
        " coalesce(sum(paid_fen), 0)::bigint AS paid_fen,"
        " coalesce(sum(paid_count) FILTER (WHERE events_published_at IS NOT NULL), 0)::bigint AS published"
        " FROM batch_chunks WHERE batch_id = $1 GROUP BY installment", batch_id)}


async def expected_per_installment(conn: Conn, batch_id: str) -> dict[int, int]:
    """Per installment: recipients of a group the policy pays (levels not counted)."""
    return {r["installment"]: r["n"] for r in await conn.fetch(
        "SELECT installment, coalesce(sum(recipients), 0)::int AS n FROM batch_amounts"
        " WHERE batch_id = $1 AND amount_fen > 0 GROUP BY installment", batch_id)}


async def levels(conn: Conn, batch_id: str) -> tuple[int, int]:
    """(households, fen) paid at their own level."""
    row = await conn.fetchrow("SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS fen"
                              " FROM batch_levels WHERE batch_id = $1", batch_id)
    assert row is not None
    return row["n"], row["fen"]


async def installments(conn: Conn, batch_id: str) -> dict[int, asyncpg.Record]:
    return {r["installment"]: r for r in await conn.fetch(
        "SELECT * FROM batch_installments WHERE batch_id = $1", batch_id)}


async def amounts(conn: Conn, batch_id: str) -> list[asyncpg.Record]:
    """(installment, amount_fen, reason, n): how many recipients get which amount and why."""
    return await conn.fetch(
        "SELECT installment, amount_fen, reason, sum(recipients)::int AS n FROM batch_amounts"
        " WHERE batch_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2 DESC, 4 DESC", batch_id)


async def stopped_before(conn: Conn, batch_id: str, installment: int) -> int:
    """Payments of this installment not due because the recipient was stopped at it or before."""
    if installment == 1:
        return 0
    stopped: int = await conn.fetchval(
        """
        SELECT count(*)::int FROM batch_stops s
        JOIN batch_recipients r ON r.batch_id = s.batch_id AND r.person_id = s.person_id
        JOIN batch_amounts a ON a.batch_id = r.batch_id AND a.installment = $2 AND a.region_code = r.region_code
             AND a.urban = r.urban AND a.categories = r.categories
        WHERE s.batch_id = $1 AND s.from_installment <= $2 AND a.amount_fen > 0
        """, batch_id, installment)
    return stopped
