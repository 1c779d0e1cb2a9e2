"""Intake's activities (task queue ``intake``): registry look-ups and case transitions. Idempotent."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from services.intake import store
from services.intake.service import IntakeService
from shared.contracts import activities as act


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
