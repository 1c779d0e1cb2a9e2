"""Intake's activities (task queue ``intake``), registered here only (``IntakeActivities.all``): registry
look-ups, case transitions, the roster and the monthly cycle. Idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
from temporalio import activity

from services.intake import cycle, enrolment, store
from services.intake.routing import CaseStart
from services.intake.service import IntakeService
from shared.contracts import activities as act
from shared.infra.db import unit_of_work
from workflows.errors import ContractViolation

START_CONCURRENCY = 32


class IntakeActivities:
    def __init__(self, pool: asyncpg.Pool, service: IntakeService):
        self._pool = pool
        self._service = service

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of the service: the worker registers these."""
        return [self.lookup_recipient, self.record_case_transition, self.record_case_transitions,
                self.record_cases_transitions, self.start_lane_cases, self.settle_lane_cases, self.open_case,
                self.settle_enrolment, self.review_cohort, self.start_review_cases]

    @activity.defn(name=act.LOOKUP_RECIPIENT)
    async def lookup_recipient(self, request: act.LookupRecipient) -> act.RecipientFacts:
        async with self._pool.acquire() as conn:
            return await store.recipient_facts(conn, request.person_id, request.on)

    @activity.defn(name=act.RECORD_CASE_TRANSITION)
    async def record_case_transition(self, transition: act.CaseTransition) -> bool:
        try:
            return await self._service.record_transition(transition)
        except LookupError as unknown:  # a case is opened before its workflow starts: a bug, not an outage
            raise ContractViolation(str(unknown)) from unknown

    @activity.defn(name=act.RECORD_CASE_TRANSITIONS)
    async def record_case_transitions(self, batch: act.CaseTransitions) -> list[bool]:
        try:
            return await self._service.record_transitions(batch.transitions)
        except LookupError as unknown:
            raise ContractViolation(str(unknown)) from unknown

    @activity.defn(name=act.RECORD_CASES_TRANSITIONS)
    async def record_cases_transitions(self, batch: act.CasesTransitions) -> None:
        """A lane's cases (docs/adr/0021): each case's steps in its own transaction, as
        ``record_case_transitions`` records them (a retry records none twice)."""
        try:
            for case in batch.cases:
                await self._service.record_transitions(case.transitions)
        except LookupError as unknown:
            raise ContractViolation(str(unknown)) from unknown

    @activity.defn(name=act.START_LANE_CASES)
    async def start_lane_cases(self, batch: act.LaneCaseStarts) -> None:
        """Each of a lane's cases gets its own workflow (its record, or the case handed over); a retry starts
        none twice (the case's id is the workflow's)."""
        lane = activity.info().workflow_id or ""
        gate = asyncio.Semaphore(START_CONCURRENCY)

        async def one(case: act.LaneCaseStart) -> None:
            async with gate:
                await self._service.start_lane_case(case, lane)

        try:
            await asyncio.gather(*(one(c) for c in batch.cases))
        except LookupError as unknown:
            raise ContractViolation(str(unknown)) from unknown

    @activity.defn(name=act.SETTLE_LANE_CASES)
    async def settle_lane_cases(self, settlement: act.LaneSettlement) -> None:
        """The end of a lane (docs/adr/0021) in one call: ``record_cases_transitions`` for the cases it settled,
        then ``start_lane_cases`` for all of them. A retry records none twice and starts none twice."""
        if settlement.recorded:
            await self.record_cases_transitions(act.CasesTransitions(cases=settlement.recorded))
        await self.start_lane_cases(act.LaneCaseStarts(cases=settlement.starts))

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
                reviewed = await cycle.review_cohort(conn, req)
        finally:
            beat.cancel()
        return reviewed

    @activity.defn(name=act.START_REVIEW_CASES)
    async def start_review_cases(self, req: act.StartReviewCases) -> int:
        """Start every review case the cycle opened and whose workflow is not started yet (a retry
        resumes where the last attempt stopped: started cases are marked)."""
        async with self._pool.acquire() as conn:
            starts, total = await store.review_cases_to_start(conn, req.cycle_id)
        todo: asyncio.Queue[CaseStart] = asyncio.Queue()
        for start in starts:
            todo.put_nowait(start)
        started = 0

        async def starter() -> None:
            nonlocal started
            while not todo.empty():
                await self._service.drive(todo.get_nowait())
                started += 1
                activity.heartbeat(started)

        await asyncio.gather(*(starter() for _ in range(min(START_CONCURRENCY, max(len(starts), 1)))))
        return total


async def _beat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(5)
