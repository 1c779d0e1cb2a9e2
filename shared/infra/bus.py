"""NATS JetStream: the streams doudi uses, created idempotently, and a FastStream broker factory."""

from __future__ import annotations

import logging

import nats
from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

STREAM_EVENTS = "DOUDI_EVENTS"
STREAM_CASES = "DOUDI_CASES"
STREAM_PAYMENTS = "DOUDI_PAYMENTS"
STREAM_DLQ = "DOUDI_DLQ"

STREAMS: dict[str, list[str]] = {
    STREAM_EVENTS: ["doudi.events.>"],
    STREAM_CASES: ["doudi.case.>"],
    STREAM_PAYMENTS: ["doudi.payment.>"],
    STREAM_DLQ: ["doudi.dlq.>"],
}

# JetStream deduplicates Nats-Msg-Id within this window; the services' inboxes dedupe beyond it.
DUPLICATE_WINDOW_S = 120.0


def stream_for(subject: str) -> str:
    for name, subjects in STREAMS.items():
        if subject.startswith(subjects[0][:-1]):
            return name
    raise ValueError(f"no doudi stream holds subject {subject}")


async def ensure_streams(nats_url: str, *, replicas: int = 1) -> None:
    """Create or update every doudi stream; safe to call from every process at start-up."""
    nc = await nats.connect(nats_url.split(","), connect_timeout=5)
    try:
        js = nc.jetstream()
        for name, subjects in STREAMS.items():
            config = StreamConfig(
                name=name,
                subjects=subjects,
                storage=StorageType.FILE,
                num_replicas=replicas,
                duplicate_window=DUPLICATE_WINDOW_S,
            )
            try:
                await js.stream_info(name)
                await js.update_stream(config)
            except NotFoundError:
                await js.add_stream(config)
                log.info("created stream %s %s", name, subjects)
    finally:
        await nc.close()


def make_broker(nats_url: str, service_name: str) -> NatsBroker:
    from opentelemetry import trace

    return NatsBroker(
        nats_url.split(","),
        middlewares=[NatsTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        name=f"doudi-{service_name}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        graceful_timeout=10,
        log_level=logging.DEBUG,  # one line per message is noise at INFO; failures still log as errors
    )
