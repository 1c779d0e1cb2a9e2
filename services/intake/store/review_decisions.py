"""What a household's review decisions are read from: its roster row and every review (with when it was made)
and 提标 back-pay step, in period order (``review_decisions.py`` turns them into decision records)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from pydantic import BaseModel


class Enrolled(BaseModel):
    household_id: str
    enrolment_id: str
    person_id: str
    region_code: str
    kind: str
    status: str


class LevelStep(BaseModel):
    """A review (``outcome`` as the cycle or the case wrote it) or a back-pay re-pricing (``outcome`` =
    ``back_pay``): the monthly level after it, fen."""

    period: str
    kind: str
    outcome: str
    level_fen: int
    case_id: str | None
    cycle_id: str | None
    at: datetime


async def household_steps(pool: asyncpg.Pool, household_id: str) -> tuple[Enrolled, list[LevelStep]] | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT household_id, enrolment_id, person_id, region_code, kind, status"
                                  " FROM enrolments WHERE household_id = $1", household_id)
        if row is None:
            return None
        steps = await conn.fetch(
            "SELECT period, kind, outcome, level_fen, case_id, cycle_id, reviewed_at AS at FROM enrolment_reviews"
            " WHERE household_id = $1"
            " UNION ALL SELECT period, 'back_pay', 'back_pay', new_level_fen, NULL, cycle_id, created_at"
            " FROM enrolment_back_pay WHERE household_id = $1 AND new_level_fen IS NOT NULL"
            " ORDER BY period, at", household_id)
    return Enrolled(**dict(row)), [LevelStep(**dict(s)) for s in steps]
