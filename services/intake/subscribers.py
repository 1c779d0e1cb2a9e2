"""Intake's bus entry point: inbound facts from the source agencies on ``doudi.events.<family>.*``.

Every family has its own durable consumer, and every consumer goes through the one wrapper
(``shared/infra/consumer.py``): a message that breaks the contract, or whose family does not belong to
the agency the server let publish on its subject (``shared/contracts/sources.py``), or that reuses an
event id with different content, goes to ``doudi.dlq.events`` with the reason and its original bytes
and is acknowledged; it never blocks the consumer and never opens a case. A valid one is handed to the
service layer (a price-linkage event to its batch); the message is acknowledged only after its case is
durable and its workflow started, so a crash in between means a redelivery, never a lost case.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import asyncpg
from faststream.nats import NatsBroker
from temporalio.client import Client

from services.intake.cohort import start_price_linkage_batch
from shared.contracts.events import (
    DLQ_EVENTS_SUBJECT,
    EVENTS_SUBJECT_PREFIX,
    InboundEvent,
    InvalidEvent,
    parse_inbound,
)
from shared.contracts.pathways import event_families
from shared.contracts.sources import verify_source
from shared.infra.bus import STREAM_EVENTS
from shared.infra.consumer import KIND_CONFLICTING_DUPLICATE, Delivered, Poison, durable_consumer
from shared.infra.db import unit_of_work
from shared.infra.outbox import Content, claim_content, content_digest, release_content

log = logging.getLogger(__name__)

# Event families intake consumes: every family a pathway starts from (shared/contracts/pathways.py); each
# gets its own durable consumer (so one family's backlog never delays another's), owned by one source
# agency each. The NATS permission table declares the same consumers from the same registry.
CONSUMED: dict[str, str] = {family: f"{EVENTS_SUBJECT_PREFIX}{family}.>" for family in event_families()}

CONCURRENCY = 16


async def parse_from_source(delivered: Delivered) -> InboundEvent:
    """The contract, then the source: the agency is the one the server let publish on the subject."""
    subject = delivered.subject
    try:
        event = parse_inbound(subject, delivered.body, delivered.headers)
    except InvalidEvent as invalid:
        raise Poison(invalid.reason, event_id=invalid.event_id) from None
    try:
        verify_source(subject, event.name, event.envelope.source)
    except InvalidEvent as invalid:
        raise Poison(invalid.reason, event_id=event.id) from None
    return event


class InboundClaims:
    """What each inbound event id carried (``inbound_content``, shared/infra/outbox.py), read and written
    through the pool; the subscriber tests put an in-memory one in its place (tests/unit/fakes.py)."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def claim(self, event_id: str, subject: str, digest: str) -> Content:
        async with unit_of_work(self._pool) as conn:
            return await claim_content(conn, event_id, subject, digest)

    async def release(self, event_id: str) -> None:
        async with unit_of_work(self._pool) as conn:
            await release_content(conn, event_id)


class Claims(Protocol):
    async def claim(self, event_id: str, subject: str, digest: str) -> Content: ...

    async def release(self, event_id: str) -> None: ...


class CaseOpener(Protocol):
    async def accept_event(self, event: InboundEvent, subject: str) -> str | None: ...


def register(broker: NatsBroker, service: CaseOpener, *, pool: asyncpg.Pool, temporal: Client,
             claims: Claims | None = None) -> None:
    """Every family's durable consumer. ``claims`` defaults to the pool's ``inbound_content``."""
    held: Claims = claims if claims is not None else InboundClaims(pool)

    async def claim(event: InboundEvent, subject: str) -> None:
        """Same id, same content: a redelivery (the service layer makes it a no-op). Same id, different
        content: never applied; dead letter "conflicting duplicate" (operations raises an alert)."""
        digest = content_digest(subject, event.envelope.model_dump(mode="json"))
        if await held.claim(event.id, subject, digest) is Content.CONFLICT:
            raise Poison(f"conflicting duplicate: event id {event.id!r} was received before with different"
                         " content; this one is not applied", event_id=event.id,
                         kind=KIND_CONFLICTING_DUPLICATE)

    async def release(event: InboundEvent, subject: str) -> None:
        """A message dead-lettered after failing: forget its content unless it was applied, so that an
        operator's corrected redelivery (same id) is not taken for a conflicting duplicate."""
        await held.release(event.id)

    async def open_case(event: InboundEvent, subject: str) -> None:
        await service.accept_event(event, subject)

    async def start_batch(event: InboundEvent, subject: str) -> None:
        await start_price_linkage_batch(temporal, event)

    for family, subject in CONSUMED.items():
        effect = start_batch if family == "price" else open_case
        durable_consumer(
            broker, stream=STREAM_EVENTS, subject=subject, durable=f"intake-{family}",
            dlq_subject=DLQ_EVENTS_SUBJECT,
            parse=parse_from_source, handle=_claimed_first(claim, effect), on_give_up=release,
            # events are independent; order within an incident is settled by the case id
            max_workers=1 if family == "price" else CONCURRENCY, title=f"intake:{family}")


Effect = Callable[[InboundEvent, str], Awaitable[None]]


def _claimed_first(claim: Effect, effect: Effect) -> Effect:
    """Every family's handler: the content claim (a conflicting duplicate is never applied), then its
    effect."""

    async def handle(event: InboundEvent, subject: str) -> None:
        await claim(event, subject)
        await effect(event, subject)

    return handle
