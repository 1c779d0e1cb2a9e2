"""Approval's activities (task queue ``approval``), registered here only (``ApprovalActivities.all``).
Idempotent: a decision is recorded once per step, a task once per case and kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from temporalio import activity

from services.approval import store
from services.approval.authority import township_decision
from shared.contracts import activities as act


class ApprovalActivities:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of the service: the worker registers these."""
        return [self.decide_within_authority, self.record_decision, self.open_task, self.close_task,
                self.committee_roster, self.record_minutes]

    @activity.defn(name=act.DECIDE_WITHIN_AUTHORITY)
    async def decide_within_authority(self, request: act.ApprovalRequest) -> act.ApprovalOutcome:
        outcome = township_decision(request)
        first = await store.record_township_decision(self._pool, request, outcome)
        # A retry returns what was decided the first time.
        return outcome.model_copy(update=first)

    @activity.defn(name=act.RECORD_DECISION)
    async def record_decision(self, record: act.DecisionRecord) -> None:
        await store.record_decision(self._pool, record)

    @activity.defn(name=act.OPEN_TASK)
    async def open_task(self, task: act.TaskOpen) -> str:
        return await store.open_task(self._pool, task)

    @activity.defn(name=act.CLOSE_TASK)
    async def close_task(self, task: act.TaskClose) -> None:
        await store.close_task(self._pool, task)

    @activity.defn(name=act.COMMITTEE_ROSTER)
    async def committee_roster(self, request: act.RosterRequest) -> act.Roster:
        county = request.region_code[:6]
        return act.Roster(county_code=county, members=await store.committee_members(self._pool, county))

    @activity.defn(name=act.RECORD_MINUTES)
    async def record_minutes(self, minutes: act.Minutes) -> None:
        await store.record_minutes(self._pool, minutes)
