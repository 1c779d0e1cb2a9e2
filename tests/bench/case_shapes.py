"""Benchmark: the ceiling of each shape a case could take on this Temporal dev server, with no work in it.

Every shape runs as a burst of N cases at once against the same embedded dev server (the stack's settings),
its workers in this process, and prints cases/s and the CPU of every process per case. What it answers: how
much of the raw ceiling (one workflow, one no-op activity) a case of a given shape can reach before doudi
does any work at all (docs/adr/0021-the-ceiling-of-a-case-shape.md).

- ``raw``: one workflow, one activity (the storm bench's baseline).
- ``three activities``: doudi's paid emergency case, one activity for each of the three services that
  decide, pay and record it, one after the other.
- ``two activities``: two services' steps merged into one.
- ``three local activities``: the services' steps called from the workflow worker itself.
- ``a lane of 10``: one workflow settles ten cases, one batch activity per service.
- ``a lane of 10, each case's own record``: the same, and then each case's own workflow started with the
  lane's outcome as its input, which it returns at once (one workflow task, no activity): what keeps every
  per-case tool (letters, appeals, replay) working on a case the lane paid.

    python -m tests.bench.case_shapes [--cases 100] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from tests.bench.event_to_payment import BenchNoop, noop
from tests.bench.stack import bench_stack
from tests.bench.storm import cpu_seconds

STEP = timedelta(seconds=10)
SERVICES = ("approval", "payment", "intake")
LANE = 10


@activity.defn(name="bench.local_noop")
async def local_noop() -> None:
    return None


@activity.defn(name="bench.batch_noop")
async def batch_noop(cases: int) -> None:
    return None


@workflow.defn(name="BenchThreeActivities", sandboxed=False)
class ThreeActivities:
    @workflow.run
    async def run(self, prefix: str) -> None:
        for service in SERVICES:
            await workflow.execute_activity("bench.noop", task_queue=f"{prefix}-{service}",
                                            start_to_close_timeout=STEP)


@workflow.defn(name="BenchTwoActivities", sandboxed=False)
class TwoActivities:
    @workflow.run
    async def run(self, prefix: str) -> None:
        for service in SERVICES[:2]:
            await workflow.execute_activity("bench.noop", task_queue=f"{prefix}-{service}",
                                            start_to_close_timeout=STEP)


@workflow.defn(name="BenchThreeLocalActivities", sandboxed=False)
class ThreeLocalActivities:
    @workflow.run
    async def run(self, prefix: str) -> None:
        for _ in SERVICES:
            await workflow.execute_local_activity(local_noop, start_to_close_timeout=STEP)


@workflow.defn(name="BenchLane", sandboxed=False)
class Lane:
    @workflow.run
    async def run(self, prefix: str) -> None:
        for service in SERVICES:
            await workflow.execute_activity(batch_noop, LANE, task_queue=f"{prefix}-{service}",
                                            start_to_close_timeout=STEP)


@workflow.defn(name="BenchSettledCase", sandboxed=False)
class SettledCase:
    @workflow.run
    async def run(self, outcome: str) -> str:
        return outcome


@workflow.defn(name="BenchLaneWithRecords", sandboxed=False)
class LaneWithRecords:
    @workflow.run
    async def run(self, prefix: str) -> None:
        for service in SERVICES:
            await workflow.execute_activity(batch_noop, LANE, task_queue=f"{prefix}-{service}",
                                            start_to_close_timeout=STEP)
        await workflow.execute_activity(start_records, prefix, task_queue=f"{prefix}-intake",
                                        start_to_close_timeout=STEP)


@activity.defn(name="bench.start_records")
async def start_records(prefix: str) -> None:
    """Each case's own workflow, started with its outcome (as a lane would hand it over), run to its end."""
    client = activity.client()
    await asyncio.gather(*(client.execute_workflow(SettledCase.run, "paid", task_queue=prefix,
                                                 id=f"{prefix}-case-{uuid.uuid4()}") for _ in range(LANE)))


SHAPES: tuple[tuple[str, type, int], ...] = (
    ("raw (1 activity)", BenchNoop, 1),
    ("three activities (doudi's case)", ThreeActivities, 1),
    ("two activities", TwoActivities, 1),
    ("three local activities", ThreeLocalActivities, 1),
    (f"a lane of {LANE} (three batch activities)", Lane, LANE),
    (f"a lane of {LANE}, each case's own record (a workflow of one task)", LaneWithRecords, LANE),
)


async def burst(client: Client, shape: type, cases: int, per_workflow: int) -> tuple[float, float]:
    """Cases per second, and CPU ms per case of every process of the run (this one and its children: the
    stack and the shape's workers)."""
    prefix = f"bench-{uuid.uuid4()}"
    run = shape.run  # type: ignore[attr-defined]

    async def one(workflow_id: str) -> None:
        if shape is BenchNoop:
            await client.execute_workflow(BenchNoop.run, id=workflow_id, task_queue=prefix)
        else:
            await client.execute_workflow(run, prefix, id=workflow_id, task_queue=prefix)

    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(Worker(client, task_queue=prefix, workflows=[shape, SettledCase],
                                                 activities=[noop, local_noop]))
        for service in SERVICES:
            await workers.enter_async_context(Worker(client, task_queue=f"{prefix}-{service}",
                                                     activities=[noop, batch_noop, start_records]))
        await one(f"{prefix}-warm")
        before = cpu_seconds({"all": os.getpid()})["all"]
        t = time.perf_counter()
        await asyncio.gather(*(one(f"{prefix}-{i}") for i in range(cases // per_workflow)))
        wall = time.perf_counter() - t
        used = cpu_seconds({"all": os.getpid()})["all"] - before
    return cases / wall, used / cases * 1000


async def main(args: argparse.Namespace) -> None:
    async with bench_stack("case-shapes") as stack:
        client = await Client.connect(stack.temporal_address, namespace="doudi")
        for round_ in range(1, args.rounds + 1):
            raw_rate = 0.0
            for name, shape, per_workflow in SHAPES:
                rate, cpu = await burst(client, shape, args.cases, per_workflow)
                raw_rate = raw_rate or rate
                print(f"round {round_}: {name}: {rate:.1f} cases/s ({rate / raw_rate:.2f} of raw), "
                      f"{cpu:.0f} ms CPU per case (all processes)", flush=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100, help="cases per burst (default 100)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every shape (default 2)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
