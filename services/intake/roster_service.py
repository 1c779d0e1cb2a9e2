"""The roster's reads, exports and import on intake's pool: what the enrolment and cohort routes are given
(``app.state.roster``), so that no route holds the pool or a statement."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from services.intake import roster_import
from services.intake.models import ImportResult
from services.intake.registry import Registrar
from services.intake.store import exports, review_decisions, roster
from services.intake.store.roster import CycleView, EnrolmentView


class RosterService:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def cycle(self, cycle_id: str) -> CycleView | None:
        return await roster.review_cycle(self._pool, cycle_id)

    async def enrolment(self, household_id: str) -> EnrolmentView | None:
        return await roster.enrolment_view(self._pool, household_id)

    async def review_steps(self, household_id: str) -> tuple[review_decisions.Enrolled,
                                                             list[review_decisions.LevelStep]] | None:
        """The roster row and its level steps the review decisions are read from (review_decisions.py)."""
        return await review_decisions.household_steps(self._pool, household_id)

    async def roll_export(self, cycle_id: str) -> tuple[int, AsyncIterator[bytes]]:
        return await exports.roll_export(self._pool, cycle_id)

    async def cohort_export(self, region_prefix: str, categories: list[str],
                            on: date) -> tuple[int, AsyncIterator[bytes]]:
        return await exports.cohort_export(self._pool, region_prefix, categories, on)

    async def import_roster(self, body: AsyncIterator[bytes], by: Registrar,
                            may_see: Callable[[str], bool], *, max_line: int) -> ImportResult:
        return await roster_import.import_roster(self._pool, body, by, may_see, max_line=max_line)


def roster_service(request: Request) -> RosterService:
    service: RosterService = request.app.state.roster
    return service


Roster = Annotated[RosterService, Depends(roster_service)]
