"""Approval's activities (task queue ``approval``), registered here only (``ApprovalActivities.all``).
Idempotent: a decision is recorded once per step, a task once per case and kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from services.approval.authority import township_decision
from services.approval.store import ApprovalStore
from shared.contracts import activities as act
from workflows.errors import policy_errors


class ApprovalActivities:
    def __init__(self, store: ApprovalStore):
        self._store = store

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of the service: the worker registers these."""
        return [self.decide_within_authority, self.decide_within_authority_many, self.record_decision,
                self.open_task, self.close_task, self.committee_roster, self.record_minutes]

    @activity.defn(name=act.DECIDE_WITHIN_AUTHORITY)
    async def decide_within_authority(self, request: act.ApprovalRequest) -> act.ApprovalOutcome:
        with policy_errors():  # a region or date no pack answers for fails once (PolicyError), not for ever
            outcome = township_decision(request)
        first = await self._store.record_township_decision(request, outcome)
        # A retry returns what was decided the first time.
        return outcome.model_copy(update=first)

    @activity.defn(name=act.DECIDE_WITHIN_AUTHORITY_MANY)
    async def decide_within_authority_many(self, batch: act.ApprovalRequests) -> act.ApprovalOutcomes:
        """A lane's cases (docs/adr/0021): each decided and recorded as ``decide_within_authority`` does, in
        its own transaction; a case whose decision fails is None (the lane hands it over: its own workflow
        asks again, and gets the first decision if one was recorded)."""
        outcomes: list[act.ApprovalOutcome | None] = []
        for request in batch.requests:
            try:
                outcomes.append(await self.decide_within_authority(request))
            except Exception:  # noqa: BLE001 - this case goes on on its own, its error shows there
                activity.logger.warning("lane: the decision of %s failed; handed over", request.case_id,
                                        exc_info=True)
                outcomes.append(None)
        return act.ApprovalOutcomes(outcomes=outcomes)

    @activity.defn(name=act.RECORD_DECISION)
    async def record_decision(self, record: act.DecisionRecord) -> None:
        await self._store.record_decision(record)

    @activity.defn(name=act.OPEN_TASK)
    async def open_task(self, task: act.TaskOpen) -> str:
        return await self._store.open_task(task)

    @activity.defn(name=act.CLOSE_TASK)
    async def close_task(self, task: act.TaskClose) -> None:
        await self._store.close_task(task)

    @activity.defn(name=act.COMMITTEE_ROSTER)
    async def committee_roster(self, request: act.RosterRequest) -> act.Roster:
        county = request.region_code[:6]
        return act.Roster(county_code=county, members=await self._store.committee_members(county))

    @activity.defn(name=act.RECORD_MINUTES)
    async def record_minutes(self, minutes: act.Minutes) -> None:
        await self._store.record_minutes(minutes)
