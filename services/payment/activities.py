"""Payment's activities (task queue ``payment``): the one place they are registered. Each delegates to
the module that holds its rules; names and models are the contracts' (``shared.contracts.activities``,
``workflows.batch_subsidy.contracts``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
from temporalio import activity

from services.payment import ledger, recovery
from services.payment.batch.load import CohortLoader
from services.payment.batch.pay import ChunkPayer
from services.payment.batch.service import BatchService
from services.payment.periods import PeriodPayments
from shared.contracts import activities as act
from workflows.batch_subsidy import contracts as c
from workflows.batch_subsidy.inputs import BatchPlan


class PaymentActivities:
    def __init__(self, pool: asyncpg.Pool, *, batches: BatchService, cohorts: CohortLoader, chunks: ChunkPayer,
                 periods: PeriodPayments):
        self._pool = pool
        self._batches = batches
        self._cohorts = cohorts
        self._chunks = chunks
        self._periods = periods

    # -- a case's payment and recovery --------------------------------------------------------------

    @activity.defn(name=act.DISBURSE)
    async def disburse(self, request: act.DisbursementRequest) -> act.Disbursement:
        """Pay, or (from a township reserve that cannot cover it) answer ``waiting_for_reserve``."""
        return await ledger.disburse(self._pool, request)

    @activity.defn(name=act.DISBURSE_MANY)
    async def disburse_many(self, batch: act.DisbursementRequests) -> act.Disbursements:
        """A lane's cases (docs/adr/0021): each paid as ``disburse`` pays it, under its own key and in its own
        transaction; a case whose payment fails is None (the lane hands it over: its own workflow pays under
        the same key, so nothing is paid twice)."""
        results: list[act.Disbursement | None] = []
        for request in batch.requests:
            try:
                results.append(await ledger.disburse(self._pool, request))
            except Exception:  # noqa: BLE001 - this case goes on on its own, its error shows there
                activity.logger.warning("lane: the payment of %s failed; handed over", request.case_id,
                                        exc_info=True)
                results.append(None)
        return act.Disbursements(results=results)

    @activity.defn(name=act.OPEN_RECOVERY)
    async def open_recovery(self, request: act.RecoveryRequest) -> act.RecoveryClaim:
        """Open the case's one recovery claim (追回); idempotent per case."""
        return await recovery.open_recovery(self._pool, request)

    # -- the batch pathway ---------------------------------------------------------------------------

    @activity.defn(name=c.PLAN)
    async def batch_plan(self, req: c.PlanBatch) -> BatchPlan:
        return await self._batches.plan(req)

    @activity.defn(name=c.LOAD_COHORT)
    async def batch_load_cohort(self, req: c.LoadCohort) -> c.CohortLoaded:
        return await self._cohorts.load_cohort(req)

    @activity.defn(name=c.RECHECK_COHORT)
    async def batch_recheck_cohort(self, req: c.RecheckCohort) -> c.Rechecked:
        return await self._cohorts.recheck(req)

    @activity.defn(name=c.PAY_CHUNK)
    async def batch_pay_chunk(self, req: c.PayChunk) -> c.ChunkPaid:
        return await self._chunks.pay_chunk(req)

    @activity.defn(name=c.SET_STATUS)
    async def batch_set_status(self, req: c.StatusChange) -> bool:
        return await self._chunks.set_status(req)

    # -- monthly benefits ----------------------------------------------------------------------------

    @activity.defn(name=act.PAY_PERIOD_ROLL)
    async def pay_period_roll(self, req: act.PayPeriodRoll) -> act.PeriodRollPaid:
        return await self._periods.pay(req)

    def all(self) -> list[Callable[..., Any]]:
        """Every activity the payment worker runs."""
        return [self.disburse, self.disburse_many, self.open_recovery, self.batch_plan, self.batch_load_cohort,
                self.batch_recheck_cohort, self.batch_pay_chunk, self.batch_set_status, self.pay_period_roll]
