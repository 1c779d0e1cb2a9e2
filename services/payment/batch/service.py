"""Registering and steering batches: the HTTP side (submit, the second approval, pause/resume/cancel,
reading) and the workflow's first step, ``plan``. The batch id is derived (measure, region, occasion),
so a repeat is the same batch; an overlapping batch of the same measure and occasion is refused (it
would pay the same people twice)."""

from __future__ import annotations

import json
import logging

import asyncpg
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from services.payment.batch.errors import BatchNotFound, BatchNotRunning, BatchRejected
from services.payment.batch.plan import (
    AWAITING_SECOND,
    Planned,
    first_official,
    open_amount_reason,
    plan_request,
)
from services.payment.batch.views import FINAL, BatchAccepted, BatchList, BatchView, batch_view, status_url
from services.payment.store import Conn
from services.payment.store import batches as store
from shared.assertions import Signatory
from shared.infra.case_updates import signed
from shared.infra.db import unit_of_work
from shared.policy import PolicyLibrary
from workflows.batch_subsidy import contracts as c
from workflows.batch_subsidy.inputs import BatchControl, BatchPlan, BatchRequest, InstallmentPlan
from workflows.batch_subsidy.starter import start_batch
from workflows.batch_subsidy.workflow import BatchSubsidyWorkflow

log = logging.getLogger(__name__)


def _occasion_lock(req: BatchRequest, planned: Planned) -> str:
    return f"occasion:{req.measure}:{planned.occasion}"


def _request_of(row: asyncpg.Record) -> BatchRequest:
    """The request a registered batch was planned from (its ``params`` and settings)."""
    params = row["params"]
    return BatchRequest(measure=params["measure"], region_prefix=params["region_prefix"],
                        snapshot_on=params["snapshot_on"], amount_fen_per_person=params["amount_fen_per_person"],
                        categories=params["categories"], month=params["month"], chunk_size=row["chunk_size"],
                        payment_events=row["payment_events"], cause_event_id=row["cause_event_id"],
                        requested_by=row["requested_by"])


class BatchService:
    def __init__(self, pool: asyncpg.Pool, temporal: Client, lib: PolicyLibrary):
        self._pool = pool
        self._temporal = temporal
        self._lib = lib

    # -- submitting (HTTP) -------------------------------------------------------------------------

    async def submit(self, req: BatchRequest) -> BatchAccepted:
        """Register the batch (idempotent by its derived id) and start its workflow; one that needs a
        second official's approval (four eyes) waits for it unstarted."""
        planned = plan_request(req, self._lib)
        async with unit_of_work(self._pool) as conn:
            await store.advisory_lock(conn, _occasion_lock(req, planned))
            row = await store.get(conn, planned.batch_id, for_update=True)
            created, restart = row is None, False
            if row is not None:
                restart = await self._replace_rejected(conn, req, planned, row)
                row = None if restart else row
            if row is None:
                second = open_amount_reason(req, self._lib)
                status = AWAITING_SECOND if second else "planned"
                await self._conflicts(conn, req, planned)
                await self._insert(conn, req, planned, status=status,
                                   note=f"awaiting a second official's approval (four eyes): {second}" if second
                                   else "planned")
            else:
                status = row["status"]
            if status == "planned":
                # started before the row commits: if the start fails nothing is registered (the caller
                # retries); if the commit fails the workflow's plan step registers the same batch itself
                await start_batch(self._temporal, planned.batch_id, req, allow_rerun=restart)
        return BatchAccepted(batch_id=planned.batch_id, status=status, created=created,
                             status_url=status_url(planned.batch_id))

    async def _replace_rejected(self, conn: Conn, req: BatchRequest, planned: Planned, row: asyncpg.Record) -> bool:
        """A repeat must be the same request (409 otherwise); a rejected batch is replaced by the new
        request (True), any other is answered as it stands (False)."""
        if row["params"] != req.identity():
            raise BatchRejected(
                f"batch {planned.batch_id} for {req.measure} in {req.region_prefix} ({planned.occasion}) "
                f"already exists with other parameters: {json.dumps(row['params'], ensure_ascii=False)}", 409)
        if row["status"] != "rejected":
            return False
        await self._conflicts(conn, req, planned)
        await store.delete(conn, planned.batch_id)
        return True

    async def _conflicts(self, conn: Conn, req: BatchRequest, planned: Planned) -> None:
        other = await store.overlapping(conn, measure=req.measure, occasion=planned.occasion,
                                        batch_id=planned.batch_id, region_prefix=req.region_prefix)
        if other is not None:
            raise BatchRejected(
                f"batch {other['batch_id']} ({other['status']}) already pays {req.measure} for "
                f"{other['region_prefix']} ({planned.occasion}); {req.region_prefix} overlaps it and its "
                "recipients would be paid twice", 409)

    @staticmethod
    async def _insert(conn: Conn, req: BatchRequest, planned: Planned, *, status: str, note: str) -> None:
        await store.insert(
            conn, batch_id=planned.batch_id, measure=req.measure, region_prefix=req.region_prefix,
            occasion=planned.occasion, snapshot_on=planned.snapshot_on or req.snapshot_on, month=req.month,
            categories=planned.categories, requested_amount_fen=req.amount_fen_per_person, params=req.identity(),
            policy=planned.policy, amount_note=planned.amount_note,
            installments=[i.model_dump(mode="json") for i in planned.installments],
            cause_event_id=req.cause_event_id, requested_by=req.requested_by, chunk_size=req.chunk_size,
            payment_events=req.payment_events, status=status, note=note)

    # -- the workflow's first step -------------------------------------------------------------------

    async def plan(self, p: c.PlanBatch) -> BatchPlan:
        """The workflow's first step: the registered batch, or (a batch started from an event) register
        it now; a request the policy refuses is recorded as ``rejected`` with the reason."""
        async with unit_of_work(self._pool) as conn:
            row = await store.get(conn, p.batch_id)
            if row is None:
                await self._register_from_workflow(conn, p)
                row = await store.get(conn, p.batch_id)
        assert row is not None
        return BatchPlan(batch_id=p.batch_id, accepted=row["status"] != "rejected", reason=row["note"],
                         status=row["status"], region_prefix=row["region_prefix"],
                         installments=[InstallmentPlan.model_validate(i) for i in row["installments"] or []],
                         policy=row["policy"])

    async def _register_from_workflow(self, conn: Conn, p: c.PlanBatch) -> None:
        req = p.request
        try:
            planned = plan_request(req, self._lib)
            if planned.batch_id != p.batch_id:
                raise BatchRejected(f"the request derives batch id {planned.batch_id}, not {p.batch_id}")
            await store.advisory_lock(conn, _occasion_lock(req, planned))
            await self._conflicts(conn, req, planned)
            await self._insert(conn, req, planned, status="planned", note="planned")
        except BatchRejected as rejected:
            await store.insert_rejected(
                conn, batch_id=p.batch_id, measure=req.measure, region_prefix=req.region_prefix,
                snapshot_on=req.snapshot_on, month=req.month, categories=req.categories or [],
                requested_amount_fen=req.amount_fen_per_person, params=req.identity(),
                requested_by=req.requested_by, cause_event_id=req.cause_event_id, chunk_size=req.chunk_size,
                reason=rejected.reason)
            log.warning("batch %s rejected: %s", p.batch_id, rejected.reason)

    # -- control (HTTP) --------------------------------------------------------------------------

    async def approve(self, batch_id: str, official: str, role: str, reason: str) -> None:
        """The second official approves a batch whose amount a person set (four eyes): never the one who
        asked. Both are recorded on the batch; then, and only then, its workflow starts."""
        async with unit_of_work(self._pool) as conn:
            row = await store.get(conn, batch_id, for_update=True)
            if row is None:
                raise BatchNotFound(batch_id)
            if row["status"] != AWAITING_SECOND:
                raise BatchNotRunning(f"batch {batch_id} is {row['status']}, not awaiting a second approval")
            if first_official(row["requested_by"]) == official:
                raise BatchNotRunning("四眼原则：申请人不能自己批准 / four eyes: the official who asked for the batch "
                                      "cannot approve it; a second official must")
            await store.record_second_approval(
                conn, batch_id, approved_by=f"{role}:{official}",
                note=f"approved by a second official ({role}:{official}): {reason}")
            await start_batch(self._temporal, batch_id, _request_of(row))

    async def control(self, batch_id: str, req: BatchControl) -> None:
        """Pause, resume or cancel the batch's workflow by a signed update (the workflow verifies who)."""
        async with self._pool.acquire() as conn:
            status = await store.status(conn, batch_id)
        if status is None:
            raise BatchNotFound(batch_id)
        if status in FINAL:
            raise BatchNotRunning(f"batch {batch_id} is {status}")
        handle = self._temporal.get_workflow_handle(batch_id)
        try:
            by = Signatory(subject=req.official, role=req.role, region=req.region)
            update = BatchSubsidyWorkflow.control
            await handle.execute_update(update, signed(batch_id, update, req, by))
        except WorkflowUpdateFailedError as exc:
            raise BatchNotRunning(str(exc.cause or exc)) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise BatchNotRunning(f"batch {batch_id} has no running workflow") from None
            raise

    # -- reading ---------------------------------------------------------------------------------

    async def view(self, batch_id: str) -> BatchView | None:
        async with self._pool.acquire() as conn:
            row = await store.get(conn, batch_id)
            if row is None:
                return None
            return await batch_view(conn, row)

    async def list(self, *, jurisdiction: str, status: str | None, measure: str | None, limit: int) -> BatchList:
        async with self._pool.acquire() as conn:
            rows, total = await store.listed(conn, jurisdiction=jurisdiction, status=status, measure=measure,
                                             limit=limit)
            return BatchList(items=[await batch_view(conn, r) for r in rows], total=total)
