"""Benchmark: an agency's event to the payment in the ledger, on the embedded stack.

Publishes N health.quarantined events (one at a time, and then N at once) for registered dibao
recipients and measures, for each, the time from the publish to its ledger row. In the same run, the
baseline: the raw Temporal dev server on this machine running a workflow with one no-op activity
(start to result), so the figures say what doudi adds on top of Temporal itself.

    python -m tests.bench.event_to_payment [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from deploy.embedded import EmbeddedStack, Ports
from tests.support import StackClient, household, national_id


@activity.defn(name="bench.noop")
async def noop() -> None:
    return None


@workflow.defn(name="BenchNoop", sandboxed=False)
class BenchNoop:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity("bench.noop", start_to_close_timeout=timedelta(seconds=10))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def ledger_times(pool: asyncpg.Pool, people: list[str], timeout: float) -> dict[str, float]:
    """Wall-clock times (time.time) at which each person's ledger row was committed, from the row's own
    timestamp: one light poll for all, so the measuring does not load the machine it measures."""
    deadline = time.time() + timeout
    found: dict[str, float] = {}
    while len(found) < len(people):
        rows = await pool.fetch("SELECT person_id, extract(epoch FROM created_at) AS t FROM payment.ledger"
                                " WHERE person_id = ANY($1::text[])", [p for p in people if p not in found])
        found.update({r["person_id"]: float(r["t"]) for r in rows})
        if time.time() > deadline:
            raise TimeoutError(f"{len(people) - len(found)} not paid")
        await asyncio.sleep(0.05)
    return found


async def main(n: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="doudi-bench-"))
    stack = EmbeddedStack(data, Ports.free(), extra_env={"DOUDI_ENV": "test"})
    await stack.start()
    stop = asyncio.Event()
    supervisor = asyncio.create_task(stack.supervise(stop))
    client = StackClient(stack.api_url, stack.admin_nats_url, stack.database_url)
    pool = await asyncpg.create_pool(stack.database_url, min_size=2, max_size=10)
    try:
        people = [national_id("640104") for _ in range(2 * n)]
        for pid in people:
            await client.register(household(pid, region="640104", categories=["dibao"]))
        data_of = {pid: {"person_id": pid, "region_code": "640104", "quarantined_on": "2022-08-10"} for pid in people}

        # warm-up
        await client.publish("health.quarantined", data_of[people[0]])
        await ledger_times(pool, people[:1], 30)

        sequential = []
        for pid in people[1:n]:
            t0 = time.time()
            await client.publish("health.quarantined", data_of[pid])
            sequential.append((await ledger_times(pool, [pid], 30))[pid] - t0)

        burst_people = people[n:]
        t0 = time.time()
        await asyncio.gather(*(client.publish("health.quarantined", data_of[p]) for p in burst_people))
        burst = await ledger_times(pool, burst_people, 180)
        burst_wall = max(burst.values()) - t0

        # baseline: the raw Temporal dev server of the same stack, one workflow with one no-op activity
        raw = await Client.connect(stack.temporal_address, namespace="doudi")
        queue = f"bench-{uuid.uuid4()}"
        baseline = []
        async with Worker(raw, task_queue=queue, workflows=[BenchNoop], activities=[noop]):
            for _ in range(n):
                t1 = time.perf_counter()
                await raw.execute_workflow(BenchNoop.run, id=f"bench-{uuid.uuid4()}", task_queue=queue)
                baseline.append(time.perf_counter() - t1)
            t1 = time.perf_counter()
            await asyncio.gather(*(raw.execute_workflow(BenchNoop.run, id=f"bench-{uuid.uuid4()}", task_queue=queue)
                                   for _ in range(n)))
            raw_burst = time.perf_counter() - t1

        print(f"\nevent -> payment in the ledger, {len(sequential)} events one at a time:")
        print(f"  p50 {statistics.median(sequential) * 1000:.0f} ms   p95 {pct(sequential, 95) * 1000:.0f} ms   "
              f"max {max(sequential) * 1000:.0f} ms")
        print(f"{len(burst_people)} events at once: all paid in {burst_wall:.2f} s "
              f"({len(burst_people) / burst_wall:.1f} payments/s)")
        print(f"baseline, raw Temporal (workflow + 1 no-op activity), {n} runs: "
              f"p50 {statistics.median(baseline) * 1000:.0f} ms   p95 {pct(baseline, 95) * 1000:.0f} ms")
        print(f"baseline, raw Temporal, {n} workflows at once: {raw_burst:.2f} s ({n / raw_burst:.1f}/s)")
        print(f"ratio p50 doudi/raw: {statistics.median(sequential) / statistics.median(baseline):.1f}x "
              "(doudi: 5 activities across 4 services, 2 outbox hops, the bus, policy evaluation)")
    finally:
        await client.close()
        await pool.close()
        stop.set()
        await supervisor
        stack.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
