"""Payment's activities (task queue ``payment``)."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from services.payment import ledger
from shared.contracts import activities as act


class PaymentActivities:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @activity.defn(name=act.DISBURSE)
    async def disburse(self, request: act.DisbursementRequest) -> act.Disbursement:
        return await ledger.disburse(self._pool, request)
