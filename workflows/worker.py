"""The workflow worker: runs every pathway's workflow (``workflows/registry.py``) and the policy local
activities on the ``doudi-cases`` task queue. Service activities run in their own processes, on their own
queues."""

from __future__ import annotations

import asyncio
import logging
import signal

from temporalio.client import Client
from temporalio.worker import Worker

from shared.assertions import trust_configured_keys
from shared.config import TASK_QUEUE_WORKFLOWS, get_settings
from shared.infra import loop as event_loop
from shared.infra.process import configure_logging
from shared.infra.temporal import connect_temporal, metrics_runtime
from shared.policy import load_library
from shared.telemetry import setup_telemetry
from workflows import registry

log = logging.getLogger("doudi.workflows")

# what the worker registers at start (the replay tests read it); build_worker asks the registry afresh
WORKFLOWS = registry.workflows()


def build_worker(client: Client, task_queue: str = TASK_QUEUE_WORKFLOWS) -> Worker:
    """Every registered pathway's workflow (workflows/registry.py), the support workflows and the policy
    local activities."""
    missing = registry.missing_bindings()
    if missing:
        raise RuntimeError(f"pathways registered without a workflow: {missing} (workflows/registry.py)")
    elsewhere = [q for q in registry.task_queues() if q != task_queue]
    if elsewhere:  # this process polls one queue: a pathway on another would never run
        raise RuntimeError(f"pathways on task queues this worker does not poll: {elsewhere}")
    return Worker(client, task_queue=task_queue, workflows=registry.workflows(task_queue),
                  activities=list(registry.LOCAL_ACTIVITIES))


async def main() -> None:
    configure_logging("workflows")
    setup_telemetry("workflows")
    load_library()  # fail at start-up, not mid-case, if a policy pack is broken
    # the public keys human updates are verified with (shared/assertions.py): refuse to start without them
    log.info("trusting principal assertions signed by %s", sorted(trust_configured_keys()))
    settings = get_settings()
    # the SDK's metrics for Prometheus, where a port is set (docker-compose; the embedded stack sets none)
    runtime = metrics_runtime(f"{settings.http_host}:{settings.metrics_port}") if settings.metrics_port else None
    client = await connect_temporal(settings.temporal_address, settings.temporal_namespace, runtime=runtime)
    worker = build_worker(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    run = asyncio.create_task(worker.run())
    log.info("workflow worker polling %s", TASK_QUEUE_WORKFLOWS)
    await asyncio.wait([run, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not run.done():
        await worker.shutdown()
    await run


if __name__ == "__main__":
    event_loop.run(main())
