"""The batch-subsidy workflow on the time-skipping server, with fake payment activities: installments
at their month starts (durable timers), re-checks before later installments, pause/resume/cancel,
continue-as-new in a long chunk loop, a rejected plan."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from services.payment.batch import CHINA
from shared.config import TASK_QUEUE_PAYMENT
from tests.support import wait_for
from tests.unit.fakes import workflow_idle
from workflows.batch_subsidy import contracts as c
from workflows.batch_subsidy.inputs import (
    BatchControl,
    BatchPlan,
    BatchRequest,
    BatchSubsidyInput,
    InstallmentPlan,
)
from workflows.batch_subsidy.workflow import BatchSubsidyWorkflow

RECIPIENTS_PER_CHUNK = 100


@dataclass
class Fakes:
    installments: list[InstallmentPlan]
    chunks: int = 3
    accepted: bool = True
    paid: dict[tuple[int, int], datetime] = field(default_factory=dict)   # (installment, chunk) -> when
    attempts: int = 0
    rechecks: list[tuple[int, date]] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    loads: int = 0
    run_ids: set[str] = field(default_factory=set)
    gate: asyncio.Event | None = None  # chunks wait for it (pause tests)
    fail_once: set[tuple[int, int]] = field(default_factory=set)

    def activities(self) -> list[Any]:
        @activity.defn(name=c.PLAN)
        async def plan(req: c.PlanBatch) -> BatchPlan:
            return BatchPlan(batch_id=req.batch_id, accepted=self.accepted, status="planned" if self.accepted
                             else "rejected", reason="planned" if self.accepted else "no pack in force",
                             installments=self.installments, region_prefix=req.request.region_prefix)

        @activity.defn(name=c.LOAD_COHORT)
        async def load(req: c.LoadCohort) -> c.CohortLoaded:
            self.loads += 1
            n = self.chunks * RECIPIENTS_PER_CHUNK
            return c.CohortLoaded(batch_id=req.batch_id, total=n, payable=n, chunks=self.chunks,
                                  expected_payments=n * len(self.installments), expected_fen=0)

        @activity.defn(name=c.RECHECK_COHORT)
        async def recheck(req: c.RecheckCohort) -> c.Rechecked:
            self.rechecks.append((req.installment, req.on))
            return c.Rechecked(batch_id=req.batch_id, installment=req.installment, stopped=0)

        @activity.defn(name=c.PAY_CHUNK)
        async def pay(req: c.PayChunk) -> c.ChunkPaid:
            self.attempts += 1
            self.run_ids.add(activity.info().workflow_run_id)
            if self.gate is not None:
                await self.gate.wait()
            key = (req.installment, req.chunk)
            already = key in self.paid
            if not already:  # the service's idempotency: a key pays once
                self.paid[key] = activity.info().current_attempt_scheduled_time
            if key in self.fail_once:
                self.fail_once.discard(key)
                raise RuntimeError("payment service killed after its commit")
            return c.ChunkPaid(batch_id=req.batch_id, installment=req.installment, chunk=req.chunk,
                               paid_count=RECIPIENTS_PER_CHUNK, paid_fen=RECIPIENTS_PER_CHUNK * 20000,
                               already_done=already)

        @activity.defn(name=c.SET_STATUS)
        async def set_status(req: c.StatusChange) -> bool:
            self.statuses.append(req.status)
            return True

        return [plan, load, recheck, pay, set_status]


class Batch:
    def __init__(self, env: WorkflowEnvironment, fakes: Fakes, **over: Any):
        self.env, self.fakes, self.over = env, fakes, over
        self.workers: list[Worker] = []

    async def __aenter__(self) -> WorkflowHandle:
        queue = f"wf-{uuid.uuid4()}"
        self.workers = [Worker(self.env.client, task_queue=queue, workflows=[BatchSubsidyWorkflow]),
                        Worker(self.env.client, task_queue=TASK_QUEUE_PAYMENT, activities=self.fakes.activities())]
        for w in self.workers:
            await w.__aenter__()
        batch_id = f"batch-test-{uuid.uuid4().hex[:8]}"
        inp = BatchSubsidyInput(batch_id=batch_id, request=BatchRequest(
            measure="one_time_living_subsidy", region_prefix="64", snapshot_on=date(2022, 6, 7)), **self.over)
        return await self.env.client.start_workflow(BatchSubsidyWorkflow.run, inp, id=batch_id, task_queue=queue)

    async def __aexit__(self, *exc: Any) -> None:
        for w in reversed(self.workers):
            await w.__aexit__(*exc)


async def month_starts(env: WorkflowEnvironment, n: int = 3) -> list[InstallmentPlan]:
    """The next n month starts (00:00 China time) of the test server's clock: Ningxia's 3 x 200 yuan
    (seed 002) shifted to the future, so the timers really wait."""
    now = (await env.get_current_time()).astimezone(CHINA)
    out = []
    for k in range(1, n + 1):
        idx = now.year * 12 + now.month - 1 + k
        due = datetime(idx // 12, idx % 12 + 1, 1, tzinfo=CHINA)
        out.append(InstallmentPlan(sequence=k, month=f"{due:%Y-%m}", due_at=due))
    return out


def control(action: str, **kw: Any) -> BatchControl:
    return BatchControl(**{**dict(action=action, official="finance-1", role="finance", region="64", reason="test"),
                           **kw})


async def test_three_installments_each_paid_at_its_month_start(env: WorkflowEnvironment):
    fakes = Fakes(installments=await month_starts(env))
    async with Batch(env, fakes) as handle:
        result = await handle.result()
    assert result.outcome == "completed"
    assert result.paid_count == 3 * 3 * RECIPIENTS_PER_CHUNK and result.chunks_done == 9
    for inst in fakes.installments:
        times = [t for (i, _), t in fakes.paid.items() if i == inst.sequence]
        assert len(times) == fakes.chunks
        assert inst.due_at is not None
        assert all(inst.due_at <= t < inst.due_at + timedelta(hours=1) for t in times), (inst, times)
    # the cohort is loaded once and re-checked as of each later installment's date
    assert fakes.loads == 1
    assert fakes.rechecks == [(2, fakes.installments[1].due_at.date()), (3, fakes.installments[2].due_at.date())]
    assert fakes.statuses[0] == "loading" and fakes.statuses[-1] == "completed"
    assert fakes.statuses.count("waiting") == 3 and fakes.statuses.count("paying") == 3


async def test_installments_already_due_are_paid_at_once_in_order(env: WorkflowEnvironment):
    past = [InstallmentPlan(sequence=k, month=f"2022-0{5 + k}", due_at=datetime(2022, 5 + k, 1, tzinfo=CHINA))
            for k in (1, 2, 3)]
    fakes = Fakes(installments=past)
    start = await env.get_current_time()
    async with Batch(env, fakes) as handle:
        result = await handle.result()
    assert result.outcome == "completed" and len(fakes.paid) == 9
    assert all(t - start < timedelta(minutes=5) for t in fakes.paid.values())  # no waiting
    assert "waiting" not in fakes.statuses


async def test_cancel_while_waiting_for_the_second_installment(env: WorkflowEnvironment):
    fakes = Fakes(installments=await month_starts(env))
    async with Batch(env, fakes) as handle:
        await env.sleep(fakes.installments[0].due_at - await env.get_current_time() + timedelta(hours=2))
        await wait_for(lambda: _true(len(fakes.paid) == fakes.chunks), timeout=20, interval=0.05)
        with pytest.raises(WorkflowUpdateFailedError):  # a clerk may not
            await handle.execute_update(BatchSubsidyWorkflow.control, control("cancel", role="clerk"))
        await handle.execute_update(BatchSubsidyWorkflow.control, control("cancel", reason="budget withdrawn"))
        result = await handle.result()
    assert result.outcome == "cancelled" and "budget withdrawn" in result.reason
    assert {i for i, _ in fakes.paid} == {1}
    assert fakes.statuses[-1] == "cancelled"


async def test_pause_holds_chunks_until_resume(env: WorkflowEnvironment):
    fakes = Fakes(installments=[InstallmentPlan(sequence=1, month="2022-07", due_at=None)], chunks=6,
                  gate=asyncio.Event())
    async with Batch(env, fakes, parallel_chunks=1) as handle:
        await wait_for(lambda: _true(fakes.attempts >= 1), timeout=20, interval=0.05)
        await handle.execute_update(BatchSubsidyWorkflow.control, control("pause"))
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(BatchSubsidyWorkflow.control, control("pause"))
        fakes.gate.set()  # the chunk in flight finishes; no other starts while paused
        await wait_for(lambda: _true(len(fakes.paid) == 1 and "paused" in fakes.statuses), timeout=20, interval=0.05)
        await wait_for(lambda: workflow_idle(handle), timeout=20, interval=0.05)  # paused, nothing scheduled
        assert fakes.attempts == 1
        await handle.execute_update(BatchSubsidyWorkflow.control, control("resume"))
        result = await handle.result()
    assert result.outcome == "completed" and len(fakes.paid) == 6
    assert fakes.statuses[-3:] == ["paused", "paying", "completed"]


async def test_a_long_chunk_loop_continues_as_new_and_pays_every_chunk_once(env: WorkflowEnvironment):
    fakes = Fakes(installments=[InstallmentPlan(sequence=1, month="2022-07", due_at=None),
                                InstallmentPlan(sequence=2, month="2022-08", due_at=None)],
                  chunks=10, fail_once={(1, 4), (2, 7)})
    async with Batch(env, fakes, chunks_per_run=3, parallel_chunks=2) as handle:
        result = await handle.result()
    assert result.outcome == "completed"
    assert sorted(fakes.paid) == [(i, k) for i in (1, 2) for k in range(10)]
    # the two chunks that failed after "committing" were retried and counted once
    assert result.chunks_done == 20 and result.paid_count == 20 * RECIPIENTS_PER_CHUNK
    assert fakes.loads == 1 and len(fakes.run_ids) >= 6


async def test_a_rejected_plan_loads_and_pays_nothing(env: WorkflowEnvironment):
    fakes = Fakes(installments=[], accepted=False)
    async with Batch(env, fakes) as handle:
        result = await handle.result()
    assert result.outcome == "rejected" and result.reason == "no pack in force"
    assert fakes.loads == 0 and not fakes.paid


async def _true(value: bool) -> bool:
    return value
