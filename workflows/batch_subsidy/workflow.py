"""The batch-subsidy workflow: ONE process per batch, paying in chunks.

plan -> load the cohort (one heartbeating activity) -> for each installment: a durable timer until its
month start (Ningxia: 2022-06, -07, -08), a re-check of who is still a recipient (later installments),
then the chunks, a few at a time (``parallel_chunks``), each one activity and one transaction in the
payment service. Pause, resume and cancel are validated updates. After ``chunks_per_run`` chunk
activities the workflow continues as new with its place in the loop, so its history stays small
whatever the cohort's size.

Money never moves in here: a chunk activity pays with keys ``batch:<batch_id>:<person_id>:<installment>``
and records the chunk in the same transaction, so a retried (or duplicated) chunk pays nothing twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.common import verified_principal

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_PAYMENT
    from workflows.batch_subsidy import contracts as c
    from workflows.batch_subsidy.inputs import (
        WORKFLOW,
        BatchControl,
        BatchPlan,
        BatchProgress,
        BatchRequestView,
        BatchResult,
        BatchResume,
        BatchSubsidyInput,
        InstallmentPlan,
    )

CONTROLLERS = ("finance", "admin")
RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=10),
                    non_retryable_error_types=["BatchRejected", "CohortMismatch"])
STEP_TIMEOUT = timedelta(seconds=30)
LOAD_TIMEOUT = timedelta(minutes=30)
LOAD_HEARTBEAT = timedelta(seconds=10)
CHUNK_TIMEOUT = timedelta(minutes=5)
CHUNK_HEARTBEAT = timedelta(seconds=5)


@workflow.defn(name=WORKFLOW)
class BatchSubsidyWorkflow:
    @workflow.init
    def __init__(self, inp: BatchSubsidyInput) -> None:
        self._inp = inp
        self._batch_id = inp.batch_id
        r = inp.resume
        self._plan: BatchPlan | None = r.plan if r else None
        self._chunks = r.chunks if r else 0
        self._installment_index = r.installment_index if r else 0
        self._next_chunk = r.next_chunk if r else 0
        self._paid_count = r.paid_count if r else 0
        self._paid_fen = r.paid_fen if r else 0
        self._chunks_done = r.chunks_done if r else 0
        self._paused = r.paused if r else False
        self._cancel: BatchControl | None = None
        self._run_chunks = 0
        self._stage = "planning"
        # Status writes go through one keeper, in order. The main loop sets the active status (loading,
        # waiting, paying, then a final one); a pause overrides it until the resume.
        self._active: c.StatusChange | None = None
        self._pause_status: c.StatusChange | None = None
        self._written: c.StatusChange | None = None
        if r is not None:  # what the previous run had written stays in force
            self._active = c.StatusChange(batch_id=self._batch_id, status="paying", note="continued as new")
            if r.paused:
                self._pause_status = c.StatusChange(batch_id=self._batch_id, status="paused", note="paused")
            self._written = self._effective()

    # -- queries and updates ---------------------------------------------------------------------

    @workflow.query
    def progress(self) -> BatchProgress:
        return BatchProgress(batch_id=self._batch_id, stage=self._stage, paused=self._paused,
                             cancelled=self._cancel is not None, installment_index=self._installment_index,
                             next_chunk=self._next_chunk, chunks=self._chunks, paid_count=self._paid_count,
                             paid_fen=self._paid_fen, chunks_done=self._chunks_done)

    @workflow.query
    def request(self) -> BatchRequestView:
        """What the batch pays (its request's identity) and which event started it."""
        return BatchRequestView(**self._inp.request.identity(), cause_event_id=self._inp.request.cause_event_id)

    @workflow.update
    async def control(self, req: BatchControl) -> BatchProgress:
        if req.action == "cancel":
            self._cancel = req
        elif req.action == "pause":
            self._pause_status = c.StatusChange(batch_id=self._batch_id, status="paused",
                                                note=f"paused by {req.official}: {req.reason}")
            self._paused = True
        else:
            self._paused = False
        return self.progress()

    @control.validator
    def _validate_control(self, req: BatchControl) -> None:
        # the signed principal, not the payload's role fields: nobody reaching Temporal directly
        # pauses, resumes or cancels a region's batch
        verified_principal(req, "control", subject=req.official, role=req.role, region=req.region)
        if req.role not in CONTROLLERS:
            raise ValueError(f"role {req.role} cannot {req.action} a batch (finance or admin)")
        region = self._inp.request.region_prefix
        if req.region and not region.startswith(req.region):
            raise ValueError(f"batch region {region} is outside jurisdiction {req.region}")
        if self._cancel is not None:
            raise ValueError("the batch is being cancelled")
        if self._stage in ("completed", "rejected", "cancelled"):
            raise ValueError(f"the batch is {self._stage}")
        if req.action == "pause" and self._paused:
            raise ValueError("the batch is already paused")
        if req.action == "resume" and not self._paused:
            raise ValueError("the batch is not paused")

    # -- the process -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: BatchSubsidyInput) -> BatchResult:
        keeper = asyncio.create_task(self._status_keeper())
        try:
            return await self._run(inp)
        finally:
            await workflow.wait_condition(workflow.all_handlers_finished)
            keeper.cancel()

    async def _run(self, inp: BatchSubsidyInput) -> BatchResult:
        if self._plan is None:
            self._plan = await workflow.execute_activity(
                c.PLAN, c.PlanBatch(batch_id=inp.batch_id, request=inp.request), task_queue=TASK_QUEUE_PAYMENT,
                start_to_close_timeout=STEP_TIMEOUT, retry_policy=RETRY, result_type=BatchPlan)
            if not self._plan.accepted:
                self._stage = "rejected"
                return self._result("rejected", self._plan.reason)
            self._stage = "loading"
            self._want("loading", "loading the cohort from the registry")
            await self._flush()
            loaded = await workflow.execute_activity(
                c.LOAD_COHORT, c.LoadCohort(batch_id=inp.batch_id), task_queue=TASK_QUEUE_PAYMENT,
                start_to_close_timeout=LOAD_TIMEOUT, heartbeat_timeout=LOAD_HEARTBEAT, retry_policy=RETRY,
                result_type=c.CohortLoaded)
            self._chunks = loaded.chunks
        plan = self._plan
        while self._installment_index < len(plan.installments) and self._chunks > 0:
            if self._run_chunks >= inp.chunks_per_run:
                await self._continue_as_new(inp)
            inst = plan.installments[self._installment_index]
            if self._next_chunk == 0 and not await self._start_installment(inst):
                break
            self._stage = f"paying installment {inst.sequence}"
            await self._pay_chunks(inst)
            if self._next_chunk < self._chunks:  # stopped mid-installment: cancelled, or the run's budget spent
                if self._cancel is not None:
                    break
                await self._continue_as_new(inp)
            self._installment_index += 1
            self._next_chunk = 0
        self._paused = False  # a final status overrides a pause
        if self._cancel is not None and self._installment_index < len(plan.installments):
            note = f"cancelled by {self._cancel.official}: {self._cancel.reason}"
            self._stage = "cancelled"
            self._want("cancelled", note)
            await self._flush()
            return self._result("cancelled", note)
        self._stage = "completed"
        note = (f"{self._paid_count} payments, {self._paid_fen} fen" if self._chunks
                else "no one in the cohort is paid by this measure")
        self._want("completed", note)
        await self._flush()
        return self._result("completed", note)

    async def _continue_as_new(self, inp: BatchSubsidyInput) -> None:
        """A fresh history (the loop's place carried over); raises ContinueAsNewError."""
        await self._flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._carry_over(inp))

    async def _start_installment(self, inst: InstallmentPlan) -> bool:
        """Wait for the installment's month start (a durable timer; a cancel ends the wait), re-check the
        cohort for a later installment. False when the batch was cancelled meanwhile."""
        if inst.due_at is not None and inst.due_at > workflow.now():
            self._stage = f"waiting for installment {inst.sequence}"
            self._want("waiting", f"installment {inst.sequence} ({inst.month}) is due {inst.due_at.isoformat()}",
                       installment=inst.sequence, next_due_at=inst.due_at)
            try:
                await workflow.wait_condition(lambda: self._cancel is not None,
                                              timeout=inst.due_at - workflow.now())
            except TimeoutError:
                pass
        if self._cancel is not None:
            return False
        if inst.sequence > 1:
            self._stage = f"re-checking the cohort for installment {inst.sequence}"
            on = (inst.due_at or workflow.now()).date()
            await workflow.execute_activity(
                c.RECHECK_COHORT, c.RecheckCohort(batch_id=self._batch_id, installment=inst.sequence, on=on),
                task_queue=TASK_QUEUE_PAYMENT, start_to_close_timeout=LOAD_TIMEOUT,
                heartbeat_timeout=LOAD_HEARTBEAT, retry_policy=RETRY, result_type=c.Rechecked)
        self._want("paying", f"installment {inst.sequence} ({inst.month})", installment=inst.sequence)
        return True

    async def _pay_chunks(self, inst: InstallmentPlan) -> None:
        """Lanes take the next chunk in order; all of them stop on cancel, wait while paused, and stop
        taking chunks once the run's budget is spent. Every chunk taken is awaited, so when the lanes are
        done every chunk below ``_next_chunk`` is paid."""

        async def lane() -> None:
            while True:
                await workflow.wait_condition(lambda: not self._paused or self._cancel is not None)
                if (self._cancel is not None or self._next_chunk >= self._chunks
                        or self._run_chunks >= self._inp.chunks_per_run):
                    return
                chunk = self._next_chunk
                self._next_chunk += 1
                self._run_chunks += 1
                paid = await workflow.execute_activity(
                    c.PAY_CHUNK, c.PayChunk(batch_id=self._batch_id, installment=inst.sequence, chunk=chunk),
                    task_queue=TASK_QUEUE_PAYMENT, start_to_close_timeout=CHUNK_TIMEOUT,
                    heartbeat_timeout=CHUNK_HEARTBEAT, retry_policy=RETRY, result_type=c.ChunkPaid)
                self._paid_count += paid.paid_count
                self._paid_fen += paid.paid_fen
                self._chunks_done += 1

        await asyncio.gather(*(lane() for _ in range(self._inp.parallel_chunks)))

    # -- status keeper ---------------------------------------------------------------------------

    def _want(self, status: str, note: str, *, installment: int | None = None, next_due_at: Any = None) -> None:
        self._active = c.StatusChange(batch_id=self._batch_id, status=status, note=note, installment=installment,
                                      next_due_at=next_due_at)

    def _effective(self) -> c.StatusChange | None:
        return self._pause_status if self._paused and self._pause_status is not None else self._active

    async def _status_keeper(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._effective() is not None
                                          and self._effective() is not self._written)
            change = self._effective()
            assert change is not None
            await workflow.execute_activity(c.SET_STATUS, change, task_queue=TASK_QUEUE_PAYMENT,
                                            start_to_close_timeout=STEP_TIMEOUT, retry_policy=RETRY)
            self._written = change

    async def _flush(self) -> None:
        await workflow.wait_condition(lambda: self._effective() is None or self._effective() is self._written)

    # -- helpers ---------------------------------------------------------------------------------

    def _carry_over(self, inp: BatchSubsidyInput) -> BatchSubsidyInput:
        assert self._plan is not None
        return inp.model_copy(update={"resume": BatchResume(
            plan=self._plan, chunks=self._chunks, installment_index=self._installment_index,
            next_chunk=self._next_chunk, paid_count=self._paid_count, paid_fen=self._paid_fen,
            chunks_done=self._chunks_done, paused=self._paused)})

    def _result(self, outcome: str, reason: str) -> BatchResult:
        return BatchResult(batch_id=self._batch_id, outcome=outcome, paid_count=self._paid_count,
                           paid_fen=self._paid_fen, chunks_done=self._chunks_done, reason=reason)
