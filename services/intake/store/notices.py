"""The SQL of the public notice list (张榜公示, services/intake/duties.py): table ``public_notices``.

Every function takes the caller's connection (the caller owns the transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.intake.store.conn import Conn
from shared.contracts.duties import PublicNoticeClose, PublicNoticePost


async def post_notice(conn: Conn, n: PublicNoticePost) -> None:
    """The notice of a case's round, with the applicant's name from the registry; a repeat is a no-op."""
    await conn.execute(
        """
        INSERT INTO public_notices (case_id, round, person_id, household_id, region_code, kind, name,
                                    household_size, monthly_amount_fen, posted_on, ends_at)
        VALUES ($1, $2, $3, $4, $5, $6, (SELECT name FROM members WHERE person_id = $3), $7, $8, $9, $10)
        ON CONFLICT (case_id, round) DO NOTHING
        """, n.case_id, n.round, n.person_id, n.household_id, n.region_code, n.kind, n.household_size,
        n.monthly_amount_fen, n.posted_on, n.ends_at)


async def close_notice(conn: Conn, c: PublicNoticeClose) -> None:
    """The round's outcome, once (a retried close keeps the first)."""
    await conn.execute("UPDATE public_notices SET outcome = $3, closed_at = $4"
                       " WHERE case_id = $1 AND round = $2 AND outcome IS NULL", c.case_id, c.round, c.outcome, c.at)


async def notices(conn: Conn, *, region_prefix: str, open_only: bool, limit: int) -> list[dict[str, Any]]:
    """Notices in a region (a code prefix), the newest first; ``open_only``: those still up now."""
    rows = await conn.fetch(
        """
        SELECT case_id, round, person_id, household_id, region_code, kind, name, household_size,
               monthly_amount_fen, posted_on, ends_at, outcome, closed_at
        FROM public_notices
        WHERE starts_with(region_code, $1) AND (NOT $2 OR (outcome IS NULL AND ends_at > now()))
        ORDER BY posted_on DESC, case_id, round
        LIMIT $3
        """, region_prefix, open_only, limit)
    return [dict(r) for r in rows]


async def database_now(conn: Conn) -> datetime:
    return await conn.fetchval("SELECT now()")


class NoticeBoard:
    """The notice list on the service's pool, for the routes and the activities (each call one connection)."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def post(self, n: PublicNoticePost) -> None:
        async with self._pool.acquire() as conn:
            await post_notice(conn, n)

    async def close(self, c: PublicNoticeClose) -> None:
        async with self._pool.acquire() as conn:
            await close_notice(conn, c)

    async def list(self, *, region_prefix: str, open_only: bool, limit: int) -> tuple[list[dict[str, Any]], datetime]:
        """The notices and the database's clock they were read at."""
        async with self._pool.acquire() as conn:
            return (await notices(conn, region_prefix=region_prefix, open_only=open_only, limit=limit),
                    await database_now(conn))
