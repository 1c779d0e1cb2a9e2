"""Intake's activities (task queue ``intake``): registry look-ups and case transitions. Idempotent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
from temporalio import activity

from services.intake import enrolment, store
from services.intake.service import IntakeService
from shared.contracts import activities as act
from shared.infra.db import unit_of_work


class IntakeActivities:
    def __init__(self, pool: asyncpg.Pool, service: IntakeService):
        self._pool = pool
        self._service = service

    @activity.defn(name=act.LOOKUP_RECIPIENT)
    async def lookup_recipient(self, request: act.LookupRecipient) -> act.RecipientFacts:
        async with self._pool.acquire() as conn:
            return await store.recipient_facts(conn, request.person_id, request.on)

    @activity.defn(name=act.RECORD_CASE_TRANSITION)
    async def record_case_transition(self, transition: act.CaseTransition) -> bool:
        return await self._service.record_transition(transition)

    @activity.defn(name=act.OPEN_CASE)
    async def open_case(self, case: act.CaseOpen) -> bool:
        return await self._service.open_related_case(case)

    @activity.defn(name=act.SETTLE_ENROLMENT)
    async def settle_enrolment(self, settlement: act.EnrolmentSettlement) -> bool:
        async with unit_of_work(self._pool) as conn:
            return await enrolment.settle(conn, settlement)

    @activity.defn(name=act.REVIEW_COHORT)
    async def review_cohort(self, req: act.ReviewCohort) -> act.CohortReviewed:
        beat = asyncio.create_task(_beat())
        try:
            async with unit_of_work(self._pool) as conn:
                reviewed, _ = await enrolment.review_cohort(conn, req, datetime.now(UTC).date())
        finally:
            beat.cancel()
        return reviewed

    @activity.defn(name=act.START_REVIEW_CASES)
    async def start_review_cases(self, req: act.StartReviewCases) -> int:
        """Start every review case the cycle opened and whose workflow is not started yet (a retry
        resumes where the last attempt stopped: started cases are marked)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM cases WHERE cause_event_id = $1 AND trigger = 'review_cycle'"
                                    " AND workflow_started_at IS NULL ORDER BY case_id", req.cycle_id)
            total = await conn.fetchval("SELECT count(*) FROM cases WHERE cause_event_id = $1"
                                        " AND trigger = 'review_cycle'", req.cycle_id)
        todo = asyncio.Queue()
        for r in rows:
            todo.put_nowait(store.start_of(r))
        done = {"n": 0}

        async def starter() -> None:
            while not todo.empty():
                start = todo.get_nowait()
                await self._service.ensure_started(start)
                done["n"] += 1
                activity.heartbeat(done["n"])

        await asyncio.gather(*(starter() for _ in range(min(START_CONCURRENCY, max(len(rows), 1)))))
        return int(total)


START_CONCURRENCY = 32


async def _beat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(5)
