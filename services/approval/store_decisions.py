"""The decisions of one case as a decision record reads them (schema ``approval``): every recorded
decision, and the amount the policy proposed to the person who decided (the task's amount)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from pydantic import BaseModel


class DecisionRow(BaseModel):
    step: str
    decision: str
    tier: str
    amount_fen: int
    decided_by: str
    role: str
    reason: str
    measure: str
    region_code: str
    decided_at: datetime


class DecisionsStore:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def decisions_of(self, case_id: str) -> list[DecisionRow]:
        rows = await self._pool.fetch(
            """
            SELECT step, decision, tier, amount_fen, decided_by, role, reason, measure, region_code, decided_at
            FROM decisions WHERE case_id = $1 ORDER BY decided_at, step
            """, case_id)
        return [DecisionRow(**dict(r)) for r in rows]

    async def proposed_amount(self, case_id: str) -> int | None:
        """The amount the latest task of the case put before a person (the policy's level)."""
        return await self._pool.fetchval(
            "SELECT amount_fen FROM tasks WHERE case_id = $1 AND amount_fen IS NOT NULL "
            "ORDER BY opened_at DESC LIMIT 1", case_id)
