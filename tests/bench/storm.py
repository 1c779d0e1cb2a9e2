"""Benchmark: a storm of quarantine reports (a COVID wave in one province), on the embedded stack.

Publishes health.quarantined for registered dibao recipients (one household each, as
tests/bench/event_to_payment.py does) at a steady 10/s for 60 s, then at 25/s for 60 s, and prints for
each rate the sustained payments/s and the p50/p99 from the publish to the payment's ledger row. Then a
burst (N at once) against the raw Temporal dev server's ceiling in the same run (the same server and
persistence settings: a workflow with one no-op activity, N at once), and what one emergency case costs
Temporal (its history events and workflow tasks, read from the case's history).

    python -m tests.bench.storm [--seconds 60] [--rates 10,25] [--burst 100]

The last two lines are the issue's figures: ``storm 10/s: p99 <N> ms`` and
``burst throughput ratio doudi/raw: <0.NN>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import psutil
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from tests.bench.event_to_payment import BenchNoop, noop, pct
from tests.bench.stack import bench_stack
from tests.support import StackClient, household, national_id, wait_for

REGION = "640104"  # Ningxia, Yinchuan: quarantine aid 3 x 650 yuan (seed 002)
STEP = timedelta(seconds=10)
SHAPE_QUEUES = ("approval", "payment", "intake")  # the three services a paid case's activities go to


@activity.defn(name="bench.shape_policy")
async def shape_policy() -> None:
    return None


@workflow.defn(name="BenchCaseShape", sandboxed=False)
class BenchCaseShape:
    """What a paid emergency case asks of Temporal, with no work in it: started with doudi's two search
    attributes; one patch marker (and its upsert) and two local activities (the policy) in the first task;
    then three activities on three task queues, one after the other (the approval; the payment, raced
    against a timer that it wins; the case record). The ceiling of any doudi case of this shape on this
    server: services, worker logic, PostgreSQL and NATS cost nothing here."""

    @workflow.run
    async def run(self, queue_prefix: str) -> None:
        workflow.patched("bench-case-shape")
        for _ in range(2):
            await workflow.execute_local_activity(shape_policy, start_to_close_timeout=STEP)
        await workflow.execute_activity("bench.noop", task_queue=f"{queue_prefix}-approval",
                                        start_to_close_timeout=STEP)
        paying = asyncio.ensure_future(workflow.execute_activity(
            "bench.noop", task_queue=f"{queue_prefix}-payment", start_to_close_timeout=STEP))
        await workflow.wait([paying], timeout=STEP.total_seconds())
        await paying
        await workflow.execute_activity("bench.noop", task_queue=f"{queue_prefix}-intake",
                                        start_to_close_timeout=STEP)


@dataclass
class Phase:
    rate: int
    paid: int
    published: int
    latencies: list[float]   # seconds, publish -> ledger row
    wall: float              # first publish -> last ledger row

    @property
    def per_s(self) -> float:
        return self.paid / self.wall if self.wall > 0 else 0.0


def quarantine(pid: str) -> dict[str, str]:
    return {"person_id": pid, "region_code": REGION, "quarantined_on": "2022-08-10"}


async def register_all(client: StackClient, people: list[str], concurrency: int = 8) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(pid: str) -> None:
        async with gate:
            await client.register(household(pid, region=REGION, categories=["dibao"]))

    await asyncio.gather(*(one(p) for p in people))


async def bus_quiet(client: StackClient, timeout: float = 300.0) -> float:
    """Wait until every durable consumer of every stream has nothing pending or unacknowledged (the
    registrations' events projected, the warm-up case's events consumed): the storm is measured on a quiet
    stack, not on the tail of its own set-up. Returns the seconds waited."""
    js = (await client.nc()).jetstream()
    t = time.monotonic()

    async def quiet() -> bool | None:
        for stream in await js.streams_info():
            for consumer in await js.consumers_info(stream.config.name or ""):
                if consumer.num_pending or consumer.num_ack_pending:
                    return None
        return True

    await wait_for(quiet, timeout=timeout, interval=1.0)
    return time.monotonic() - t


async def all_settled(client: StackClient, raw: Client, timeout: float = 300.0) -> float:
    """Wait until the stack has finished with a burst: every workflow but the stalled-case sweep's loop closed
    (cases, lanes, their records) and the bus quiet (every case event projected). Returns the seconds waited:
    the CPU a burst's cases cost is read after it, and the raw baseline runs on an idle stack."""
    t = time.monotonic()

    async def closed() -> bool | None:
        async for execution in raw.list_workflows("ExecutionStatus = 'Running'"):
            if execution.workflow_type != "StalledCaseSweepLoop":
                return None
        return True

    await wait_for(closed, timeout=timeout, interval=0.5)
    await bus_quiet(client, timeout=timeout)
    return time.monotonic() - t


async def paid_at(pool: asyncpg.Pool, people: list[str], timeout: float) -> dict[str, float]:
    """When each person's ledger row was written (the row's own timestamp), polled lightly (once a
    second: the measuring must not load the machine it measures). Partial after ``timeout``."""
    deadline = time.time() + timeout
    found: dict[str, float] = {}
    while len(found) < len(people) and time.time() < deadline:
        rows = await pool.fetch("SELECT person_id, extract(epoch FROM created_at) AS t FROM payment.ledger"
                                " WHERE person_id = ANY($1::text[])", [p for p in people if p not in found])
        found.update({r["person_id"]: float(r["t"]) for r in rows})
        if len(found) < len(people):
            await asyncio.sleep(1.0)
    return found


async def steady(client: StackClient, pool: asyncpg.Pool, people: list[str], rate: int) -> Phase:
    """Publish one event every 1/rate s on a fixed schedule (a slow publish never delays the next)."""
    sent: dict[str, float] = {}
    t0 = time.time() + 0.5

    async def publish_at(i: int, pid: str) -> None:
        await asyncio.sleep(max(0.0, t0 + i / rate - time.time()))
        sent[pid] = time.time()
        await client.publish("health.quarantined", quarantine(pid))

    await asyncio.gather(*(publish_at(i, p) for i, p in enumerate(people)))
    paid = await paid_at(pool, people, timeout=300)
    latencies = [paid[p] - sent[p] for p in people if p in paid]
    wall = (max(paid.values()) - t0) if paid else 0.0
    return Phase(rate=rate, paid=len(paid), published=len(people), latencies=latencies, wall=wall)


async def burst_doudi(client: StackClient, pool: asyncpg.Pool, people: list[str]) -> float:
    """Seconds until all are paid (a burst not all paid within 5 minutes counts as taking infinitely long)."""
    t0 = time.time()
    await asyncio.gather(*(client.publish("health.quarantined", quarantine(p)) for p in people))
    paid = await paid_at(pool, people, timeout=300)
    if len(paid) < len(people):
        print(f"burst: {len(people) - len(paid)} of {len(people)} not paid within 300 s", flush=True)
        return float("inf")
    return max(paid.values()) - t0


async def burst_raw(raw: Client, n: int) -> tuple[float, str]:
    """The ceiling: n workflows of one no-op activity each, started at once, on the same dev server."""
    queue = f"bench-{uuid.uuid4()}"
    async with Worker(raw, task_queue=queue, workflows=[BenchNoop], activities=[noop]):
        await raw.execute_workflow(BenchNoop.run, id=f"bench-warm-{uuid.uuid4()}", task_queue=queue)
        t = time.perf_counter()
        ids = [f"bench-{uuid.uuid4()}" for _ in range(n)]
        await asyncio.gather(*(raw.execute_workflow(BenchNoop.run, id=i, task_queue=queue) for i in ids))
        return time.perf_counter() - t, ids[0]


async def burst_shape(raw: Client, n: int) -> tuple[float, str]:
    """The ceiling of doudi's case shape: n ``BenchCaseShape`` workflows started at once (a worker for the
    workflows and one per service queue, all in this process, as the raw baseline's)."""
    prefix = f"bench-shape-{uuid.uuid4()}"
    pathway = SearchAttributeKey.for_keyword("DoudiPathway")
    region = SearchAttributeKey.for_keyword("DoudiRegion")
    attributes = TypedSearchAttributes([SearchAttributePair(pathway, "emergency_relief"),
                                        SearchAttributePair(region, REGION)])
    async with contextlib.AsyncExitStack() as workers:
        await workers.enter_async_context(Worker(raw, task_queue=prefix, workflows=[BenchCaseShape],
                                                 activities=[shape_policy]))
        for service in SHAPE_QUEUES:
            await workers.enter_async_context(Worker(raw, task_queue=f"{prefix}-{service}", activities=[noop]))

        async def one(workflow_id: str) -> None:
            await raw.execute_workflow(BenchCaseShape.run, prefix, id=workflow_id, task_queue=prefix,
                                       search_attributes=attributes)

        await one(f"{prefix}-warm")
        t = time.perf_counter()
        ids = [f"{prefix}-{i}" for i in range(n)]
        await asyncio.gather(*(one(i) for i in ids))
        return time.perf_counter() - t, ids[0]


async def history_cost(raw: Client, workflow_id: str) -> tuple[int, int, Counter[str]]:
    """Events, workflow tasks completed, and the events by type of one workflow's (closed) history."""
    handle = raw.get_workflow_handle(workflow_id)

    async def closed() -> bool | None:
        return True if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING else None

    await wait_for(closed, timeout=60, interval=0.5)
    history = await handle.fetch_history()
    kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events)
    return len(history.events), kinds["WORKFLOW_TASK_COMPLETED"], kinds


def cpu_seconds(procs: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds (user + system) each of the stack's processes has used so far, its children included
    (PostgreSQL's backends): where a case's cost goes."""
    out: dict[str, float] = {}
    for name, pid in procs.items():
        if pid is None:
            continue
        try:
            root = psutil.Process(pid)
            total = 0.0
            for p in [root, *root.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
            out[name] = total
        except psutil.Error:
            pass
    return out


def describe_cpu(before: dict[str, float], after: dict[str, float], cases: int) -> str:
    used = {n: after[n] - before.get(n, 0.0) for n in after}
    total = sum(used.values())
    parts = "  ".join(f"{n} {v / cases * 1000:.0f}" for n, v in sorted(used.items(), key=lambda kv: -kv[1]) if v > 0)
    return f"CPU ms per case, by process (total {total / cases * 1000:.0f}): {parts}"


def describe_pair(before: dict[str, float], after: dict[str, float], n: int) -> str:
    """CPU ms per workflow of each process between two readings (``all``: every process of the run)."""
    return ", ".join(f"{name} {(after[name] - before.get(name, 0.0)) / n * 1000:.0f}" for name in after)


def describe(phase: Phase) -> str:
    ms = [x * 1000 for x in phase.latencies]
    lat = (f"p50 {pct(ms, 50):.0f} ms   p99 {pct(ms, 99):.0f} ms   max {max(ms):.0f} ms" if ms else "none paid")
    return (f"storm {phase.rate}/s for {phase.published / phase.rate:.0f} s: {phase.paid}/{phase.published} paid, "
            f"sustained {phase.per_s:.1f} payments/s; event -> ledger {lat}")


async def main(args: argparse.Namespace) -> None:
    rates = [int(r) for r in args.rates.split(",")]
    async with bench_stack("storm", keep=args.keep) as stack:
        client = StackClient(stack.api_url, stack.admin_nats_url, stack.database_url)
        pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=4)
        raw = await Client.connect(stack.temporal_address, namespace="doudi")
        try:
            per_phase = [national_id(REGION) for _ in range(sum(r * args.seconds for r in rates))]
            burst_people = [national_id(REGION) for _ in range(args.burst)]
            warm = national_id(REGION)
            t = time.monotonic()
            await register_all(client, [warm, *per_phase, *burst_people])
            print(f"registered {len(per_phase) + args.burst + 1} households in {time.monotonic() - t:.0f} s",
                  flush=True)
            await client.publish("health.quarantined", quarantine(warm))
            await paid_at(pool, [warm], 60)
            case_id = await pool.fetchval("SELECT case_id FROM intake.cases WHERE person_id = $1", warm)
            print(f"the bus settled {await bus_quiet(client):.0f} s after the set-up", flush=True)
            events, tasks, kinds = await history_cost(raw, case_id)
            print(f"one emergency case ({case_id}): {events} history events, {tasks} workflow tasks, "
                  f"{kinds['ACTIVITY_TASK_SCHEDULED']} activities, {kinds['MARKER_RECORDED']} markers "
                  f"(local activities and patches), {kinds['UPSERT_WORKFLOW_SEARCH_ATTRIBUTES']} search "
                  "attribute upserts", flush=True)

            pids = {name: proc.pid for name, proc in stack.procs.items()}
            phases, start = [], 0
            for rate in rates:
                people = per_phase[start:start + rate * args.seconds]
                start += len(people)
                cpu_phase = cpu_seconds(pids)
                phase = await steady(client, pool, people, rate)
                phases.append(phase)
                print(describe(phase), f"(load average {os.getloadavg()[0]:.1f})", flush=True)
                # until its last payment: at a steady rate, the CPU a case costs decides whether the stack keeps up
                print(f"  {describe_cpu(cpu_phase, cpu_seconds(pids), len(people))}", flush=True)

            # the burst starts on a drained system (a storm the stack could not keep up with leaves a backlog)
            t = time.monotonic()
            left = len(per_phase) - len(await paid_at(pool, per_phase, timeout=900))
            print(f"storm backlog drained in {time.monotonic() - t:.0f} s ({left} still unpaid); every case closed "
                  f"and every event projected {await all_settled(client, raw, timeout=900):.0f} s later", flush=True)
            cpu_before = cpu_seconds(pids)
            doudi_wall = await burst_doudi(client, pool, burst_people)
            tail = await all_settled(client, raw)
            cpu_line = describe_cpu(cpu_before, cpu_seconds(pids), args.burst)
            # this process with its children is every process of the run: the stack and the baselines' workers
            server = {"all": os.getpid(), "temporal": pids.get("temporal")}
            before = cpu_seconds(server)
            raw_wall, raw_id = await burst_raw(raw, args.burst)
            middle = cpu_seconds(server)
            shape_wall, shape_id = await burst_shape(raw, args.burst)
            after = cpu_seconds(server)
            load = os.getloadavg()

            raw_events, raw_tasks, _ = await history_cost(raw, raw_id)
            shape_events, shape_tasks, _ = await history_cost(raw, shape_id)
            print(f"\none emergency case: {events} history events, {tasks} workflow tasks; raw workflow + 1 no-op "
                  f"activity: {raw_events} events, {raw_tasks} workflow tasks; the case's shape with no work in it: "
                  f"{shape_events} events, {shape_tasks} workflow tasks")
            print(f"burst of {args.burst}: doudi paid all in {doudi_wall:.2f} s ({args.burst / doudi_wall:.1f} "
                  f"payments/s); raw Temporal ran all in {raw_wall:.2f} s ({args.burst / raw_wall:.1f}/s); the "
                  f"case's shape with no work in it, in {shape_wall:.2f} s ({args.burst / shape_wall:.1f}/s)")
            print(f"ceiling of the case's shape: {raw_wall / shape_wall:.2f} of raw; doudi reaches "
                  f"{shape_wall / doudi_wall:.2f} of its shape's ceiling")
            print(f"{cpu_line} (until every case was closed and every event projected, {tail:.1f} s after "
                  "the last payment)")
            print(f"CPU ms per workflow: raw {describe_pair(before, middle, args.burst)}; the case's shape with no "
                  f"work in it {describe_pair(middle, after, args.burst)}")
            print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
            first = next((p for p in phases if p.rate == 10), phases[0])
            p99 = pct([x * 1000 for x in first.latencies], 99) if first.latencies else float("inf")
            print(f"storm {first.rate}/s: p99 {p99:.0f} ms")
            print(f"burst throughput ratio doudi/raw: {raw_wall / doudi_wall:.2f}")
        finally:
            await client.close()
            await pool.close()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60, help="length of each steady phase (default 60)")
    parser.add_argument("--rates", default="10,25", help="events per second of each phase (default 10,25)")
    parser.add_argument("--burst", type=int, default=100, help="events at once, and raw workflows at once")
    parser.add_argument("--keep", action="store_true", help="keep the stack's data folder")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
