"""Operations' bus entry point: every domain event feeds the read model; every dead letter becomes an alert.

All three consumers go through the one wrapper (``shared/infra/consumer.py``): a domain event that cannot
be read or projected is dead-lettered to ``doudi.dlq.projection`` (with the reason and the original bytes)
rather than blocking the stream; the database being away is a retry, never a loss.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg
from faststream.nats import NatsBroker

from services.operations import bus_health
from services.operations.projection import project
from shared.infra.bus import MAX_DELIVERIES_ADVISORY, STREAM_CASES, STREAM_DLQ, STREAM_PAYMENTS
from shared.infra.consumer import Delivered, Poison, durable_consumer, event_id_of

log = logging.getLogger(__name__)
DLQ_PROJECTION = "doudi.dlq.projection"


async def _domain_event(delivered: Delivered) -> dict[str, Any]:
    """A CloudEvent object with a string id and a data object; anything else is dead-lettered at once
    (with its id where it has one, the body cut to the bus's limit as every dead letter)."""
    try:
        event = json.loads(delivered.body)
    except ValueError as exc:  # not JSON, or not UTF-8
        raise Poison(f"not JSON: {exc}") from None
    has_id = isinstance(event, dict) and isinstance(event.get("id"), str)
    if not has_id or not isinstance(event.get("data"), dict):
        raise Poison("not a doudi domain event (a JSON object with a string id and a data object)",
                     event_id=event_id_of(event))
    return event


async def _delivered(delivered: Delivered) -> Delivered:
    return delivered


def register(broker: NatsBroker, pool: asyncpg.Pool) -> None:
    async def on_domain_event(event: dict[str, Any], subject: str) -> None:
        await project(pool, subject, event)

    for stream, subject, durable in (
        (STREAM_CASES, "doudi.case.>", "operations-cases"),
        (STREAM_PAYMENTS, "doudi.payment.>", "operations-payments"),
    ):
        durable_consumer(broker, stream=stream, subject=subject, durable=durable, dlq_subject=DLQ_PROJECTION,
                         parse=_domain_event, handle=on_domain_event, batch_size=64, title=durable)

    async def on_dead_letter(delivered: Delivered, subject: str) -> None:
        await bus_health.record_dead_letter(pool, delivered)

    # a dead letter that cannot be recorded is retried, and in the end kept on the DLQ stream itself
    durable_consumer(broker, stream=STREAM_DLQ, subject="doudi.dlq.>", durable="operations-dlq",
                     dlq_subject=DLQ_PROJECTION, parse=_delivered, handle=on_dead_letter, batch_size=64,
                     title="operations-dlq")

    async def on_gave_up(gave_up: bus_health.GaveUp, subject: str) -> None:
        await bus_health.dead_letter_gave_up(broker, gave_up)

    # the backstop: a message a consumer's process died on max_deliver times becomes a dead letter too
    durable_consumer(broker, stream=STREAM_DLQ, subject=f"{MAX_DELIVERIES_ADVISORY}.>",
                     durable="operations-max-deliveries", dlq_subject=DLQ_PROJECTION,
                     parse=bus_health.parse_gave_up, handle=on_gave_up, title="operations-max-deliveries")
