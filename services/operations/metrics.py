"""What the front door adds to ``/metrics`` (shared/infra/metrics.py defines the names): cases by
pathway, stage and status and the stalled ones, from the read model; dead letters awaiting an operator
and open bus alerts; every stream's size and every consumer's lag, read live from JetStream (the same
reading as ``GET /api/admin/bus``)."""

from __future__ import annotations

from collections import Counter

from services.operations import bus_health, store
from services.operations.store import OperationsStore
from shared.infra import metrics
from shared.infra.metrics import MetricSource


def sources(ops: OperationsStore, nats_url: str) -> list[MetricSource]:
    async def read_model() -> None:
        async with ops.read() as conn:
            counts = await store.case_counts(conn)
            unresolved = await store.unresolved_dead_letter_count(conn)
            alerts = await store.open_alert_counts(conn)
        metrics.set_series(metrics.CASES, [((r["pathway"], r["stage"], r["status"]), r["cases"]) for r in counts])
        stalled: Counter[tuple[str, str]] = Counter()
        for r in counts:
            stalled[(r["pathway"], r["stage"])] += r["stalled"]
        metrics.set_series(metrics.CASES_STALLED, list(stalled.items()))
        metrics.DEAD_LETTERS_UNRESOLVED.set(unresolved)
        metrics.set_series(metrics.BUS_ALERTS_OPEN, [((r["kind"],), r["alerts"]) for r in alerts])

    async def bus() -> None:
        streams = await bus_health.stream_states(nats_url)
        consumers = [c for c in await bus_health.consumer_states(nats_url) if c.found]
        metrics.set_series(metrics.STREAM_MESSAGES, [((s.stream,), s.messages) for s in streams])
        metrics.set_series(metrics.STREAM_USED, [((s.stream,), s.used) for s in streams])
        metrics.set_series(metrics.CONSUMER_PENDING, [((c.stream, c.durable), c.pending) for c in consumers])
        metrics.set_series(metrics.CONSUMER_ACK_PENDING,
                           [((c.stream, c.durable), c.ack_pending) for c in consumers])
        metrics.set_series(metrics.CONSUMER_REDELIVERED,
                           [((c.stream, c.durable), c.redelivered) for c in consumers])

    return [read_model, bus]
