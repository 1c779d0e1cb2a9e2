"""Verification's activities (task queue ``verification``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from temporalio import activity

from services.verification.checks import check_economic_status, confirm_event
from services.verification.sources import DepartmentSource
from shared.contracts import activities as act
from shared.policy import PolicyLibrary


class VerificationActivities:
    def __init__(self, pool: asyncpg.Pool, sources: Sequence[DepartmentSource],
                 library: PolicyLibrary | None = None):
        self._pool = pool
        self._sources = list(sources)
        self._library = library

    def all(self) -> list[Callable[..., Any]]:
        """Every activity of the service: the worker registers these."""
        return [self.check_economic_status, self.confirm_event]

    @activity.defn(name=act.CHECK_ECONOMIC_STATUS)
    async def check_economic_status(self, request: act.EconomicCheckRequest) -> act.EconomicCheckResult:
        return await check_economic_status(self._pool, request, sources=self._sources, library=self._library)

    @activity.defn(name=act.CONFIRM_EVENT)
    async def confirm_event(self, request: act.EventCheckRequest) -> act.EventCheckResult:
        return confirm_event(request)
