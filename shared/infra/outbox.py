"""Transactional outbox (publish a domain event atomically with a state change) and inbox (dedupe).

A service writes the event row in the same transaction as its state change; ``OutboxRelay`` publishes
committed rows to JetStream with ``Nats-Msg-Id`` = event id, so a relay crash between publish and
mark only produces a duplicate that JetStream and the consumers' inboxes drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from faststream.nats import NatsBroker
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from shared.infra.bus import stream_for

log = logging.getLogger(__name__)
tracer = trace.get_tracer("doudi.outbox")


async def add_to_outbox(
    conn: asyncpg.Connection, *, schema: str, event_id: str, subject: str, payload: dict[str, Any]
) -> bool:
    """Stage an event inside the caller's transaction. Returns False if that event id was staged before."""
    headers: dict[str, str] = {}
    propagate.inject(headers)  # carry the trace of the change that caused the event
    row = await conn.fetchrow(
        "INSERT INTO outbox (event_id, subject, payload, headers) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING seq",
        event_id, subject, payload, headers,
    )
    if row is not None:
        await conn.execute("SELECT pg_notify($1, '')", f"{schema}_outbox")
    return row is not None


async def add_many_to_outbox(conn: asyncpg.Connection, *, schema: str,
                             events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Stage many (event_id, subject, payload) in the caller's transaction: one statement, one notify."""
    if not events:
        return
    headers: dict[str, str] = {}
    propagate.inject(headers)
    await conn.executemany(
        "INSERT INTO outbox (event_id, subject, payload, headers) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (event_id) DO NOTHING", [(e, s, p, headers) for e, s, p in events])
    await conn.execute("SELECT pg_notify($1, '')", f"{schema}_outbox")


async def first_delivery(conn: asyncpg.Connection, event_id: str, subject: str) -> bool:
    """Record an inbound event id inside the caller's transaction; False if it was seen before."""
    row = await conn.fetchrow(
        "INSERT INTO inbox (event_id, subject) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING event_id",
        event_id, subject,
    )
    return row is not None


class Content(enum.Enum):
    NEW = "new"              # first time this event id is seen
    SAME = "same"            # seen before with the same content: a redelivery, a no-op downstream
    CONFLICT = "conflict"    # seen before with different content: never applied, dead-lettered


def content_digest(subject: str, event: dict[str, Any]) -> str:
    """A digest of what an event says (subject and the whole CloudEvent, key order and spacing aside)."""
    canonical = json.dumps({"subject": subject, "event": event}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest()


async def claim_content(conn: asyncpg.Connection, event_id: str, subject: str, digest: str) -> Content:
    """Record what an inbound event id carried, once; compare a later delivery of the same id with it.
    One statement, so two deliveries of one id racing each other still see one winner."""
    row = await conn.fetchrow(
        "INSERT INTO inbound_content (event_id, subject, digest) VALUES ($1, $2, $3)"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id", event_id, subject, digest)
    if row is not None:
        return Content.NEW
    known = await conn.fetchval("SELECT digest FROM inbound_content WHERE event_id = $1", event_id)
    return Content.SAME if known == digest else Content.CONFLICT


async def release_content(conn: asyncpg.Connection, event_id: str) -> None:
    """Forget what an event id carried unless it was applied (its id is in the inbox): a message given up
    on, so that an operator's corrected redelivery (same id) is not taken for a conflicting duplicate."""
    await conn.execute("DELETE FROM inbound_content WHERE event_id = $1"
                       " AND NOT EXISTS (SELECT 1 FROM inbox WHERE event_id = $1)", event_id)


class OutboxRelay:
    """Publishes committed outbox rows in order; woken by NOTIFY, polling as a fallback."""

    def __init__(self, pool: asyncpg.Pool, dsn: str, schema: str, broker: NatsBroker, *, batch: int = 200):
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._broker = broker
        self._batch = batch
        self._wake = asyncio.Event()

    async def run(self) -> None:
        listener: asyncpg.Connection | None = None
        try:
            while True:
                try:
                    if listener is None or listener.is_closed():
                        listener = await asyncpg.connect(self._dsn)
                        await listener.add_listener(f"{self._schema}_outbox", lambda *_: self._wake.set())
                    published = await self.drain_once()
                    if published == 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                        self._wake.clear()
                except asyncio.CancelledError:
                    raise
                except Exception:  # keep relaying after a transient DB or NATS failure
                    log.exception("outbox relay (%s) failed; retrying", self._schema)
                    await asyncio.sleep(1.0)
        finally:
            if listener is not None and not listener.is_closed():
                await listener.close()

    async def drain_once(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT seq, event_id, subject, payload, headers FROM outbox"
                " WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch,
            )
            # pipelined: every row's publish is in flight at once (one round trip per batch, not per row); a
            # failure of any rolls the batch back, and its re-publish is dropped by Nats-Msg-Id. Consumers
            # order a case's events by their seq, not by arrival (services/operations/store.py)
            await asyncio.gather(*(self._publish(row) for row in rows))
            if rows:
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
                    [r["seq"] for r in rows],
                )
        return len(rows)

    async def _publish(self, row: asyncpg.Record) -> None:
        ctx = propagate.extract(row["headers"] or {})
        token = otel_context.attach(ctx)
        try:
            await self._broker.publish(
                json.dumps(row["payload"], ensure_ascii=False).encode(),
                row["subject"],
                headers={"Nats-Msg-Id": row["event_id"], "content-type": "application/cloudevents+json"},
                stream=stream_for(row["subject"]),
                timeout=5.0,
            )
        finally:
            otel_context.detach(token)


@dataclass(frozen=True)
class OutboxBacklog:
    rows: int           # committed, not yet published
    oldest_s: float     # age of the oldest of them (0: none)


async def outbox_backlog(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> OutboxBacklog:
    """The relay's backlog in this service's schema (``/metrics``: a growing one means NATS is away)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS rows, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_s"
        " FROM outbox WHERE published_at IS NULL")
    assert row is not None  # an aggregate always answers one row
    return OutboxBacklog(rows=int(row["rows"]), oldest_s=float(row["oldest_s"]))
