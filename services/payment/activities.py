"""Payment's activities (task queue ``payment``)."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from services.payment import ledger, recovery
from shared.contracts import activities as act


class PaymentActivities:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @activity.defn(name=act.DISBURSE)
    async def disburse(self, request: act.DisbursementRequest) -> act.Disbursement:
        """Pay, or (from a township reserve that cannot cover it) answer ``waiting_for_reserve``."""
        return await ledger.disburse(self._pool, request)

    @activity.defn(name=act.OPEN_RECOVERY)
    async def open_recovery(self, request: act.RecoveryRequest) -> act.RecoveryClaim:
        """Open the case's one recovery claim (追回); idempotent per case."""
        return await recovery.open_recovery(self._pool, request)
