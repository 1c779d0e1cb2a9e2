"""The bus as operators see it (总线运行状况): streams against their limits, consumers' lag and
redeliveries, and alerts (every dead letter, a conflicting duplicate among them; a stream near its limit).

``GET /api/admin/bus`` (services/operations/admin.py) reads JetStream live; ``GET /api/admin/alerts``
reads the alerts the DLQ consumer (services/operations/subscribers.py) and the stream watcher
(``watch_streams``, a background job of the operations process) record in ``bus_alerts``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Literal

import asyncpg
from faststream.nats import NatsBroker
from nats.js.errors import NotFoundError
from pydantic import BaseModel

from services.operations import store
from services.operations.store import OperationsStore
from shared.contracts.events import DLQ_EVENTS_SUBJECT
from shared.infra import bus
from shared.infra.bus import ALERT_AT, STREAM_CASES, STREAM_EVENTS, STREAM_LIMITS, STREAM_PAYMENTS, STREAMS
from shared.infra.consumer import KIND_FAILED, Delivered, Poison, dead_letter
from shared.infra.nats_permissions import DLQ_PROJECTION, USERS

log = logging.getLogger(__name__)

KIND_STREAM_NEAR_LIMIT = "stream_near_limit"
AlertKind = Literal["conflicting_duplicate", "invalid", "failed", "projection", "stream_near_limit"]
WATCH_EVERY_S = 30.0


# -- recording -------------------------------------------------------------------------------------


async def record_dead_letter(pool: asyncpg.Pool, delivered: Delivered) -> None:
    """One alert per dead letter (keyed by its DLQ stream sequence: a redelivery records nothing new)."""
    h = delivered.headers
    kind = h.get("Doudi-Dlq-Kind") or (
        "projection" if delivered.subject.endswith(".projection") else "invalid")
    async with pool.acquire() as conn:
        await store.record_alert(
            conn, alert_id=f"dlq:{delivered.stream_seq}", kind=kind, subject=h.get("Doudi-Original-Subject"),
            event_id=h.get("Doudi-Event-Id"), reason=h.get("Doudi-Dlq-Reason") or "(no reason given)",
            detail={"dlq_subject": delivered.subject, "dlq_seq": delivered.stream_seq,
                    "deliveries": h.get("Doudi-Deliveries"), "truncated": h.get("Doudi-Dlq-Truncated")})


@dataclass(frozen=True)
class GaveUp:
    """The server's advisory that a consumer gave up on a message after ``max_deliver`` deliveries: its
    handler never answered (the wrapper dead-letters every failure it sees itself, at the last delivery at
    the latest), so the process died or hung on it each time."""

    stream: str
    consumer: str
    stream_seq: int
    deliveries: int


async def parse_gave_up(delivered: Delivered) -> GaveUp:
    advisory = json.loads(delivered.body)
    return GaveUp(stream=str(advisory["stream"]), consumer=str(advisory["consumer"]),
                  stream_seq=int(advisory["stream_seq"]), deliveries=int(advisory.get("deliveries") or 0))


async def dead_letter_gave_up(broker: NatsBroker, gave_up: GaveUp) -> None:
    """Dead-letter the message a consumer gave up on, from its stream, with the reason (nothing lost)."""
    what = (f"consumer {gave_up.consumer} of {gave_up.stream} gave up on message {gave_up.stream_seq} after"
            f" {gave_up.deliveries} deliveries without an answer (its process died or hung on it each time)")
    if gave_up.stream not in (STREAM_EVENTS, STREAM_CASES, STREAM_PAYMENTS):
        raise Poison(what)  # a dead letter itself: the advisory is kept as the dead letter
    try:
        original = await broker.connection.jetstream(timeout=5).get_msg(gave_up.stream, gave_up.stream_seq)
    except NotFoundError:
        raise Poison(f"{what}; it is no longer in the stream") from None
    headers = original.headers or {}
    await dead_letter(broker, DLQ_EVENTS_SUBJECT if gave_up.stream == STREAM_EVENTS else DLQ_PROJECTION,
                      original.subject or "", original.data or b"", what, headers.get("Nats-Msg-Id"),
                      kind=KIND_FAILED, deliveries=gave_up.deliveries)


class StreamState(BaseModel):
    stream: str
    messages: int
    bytes: int
    max_bytes: int
    max_age_s: float
    used: float                 # bytes / max_bytes
    near_limit: bool
    why: str


class ConsumerState(BaseModel):
    stream: str
    durable: str
    pending: int                # lag: messages not yet delivered
    ack_pending: int            # delivered, not yet acknowledged (in work or waiting for a redelivery)
    redelivered: int            # delivered more than once and not yet acknowledged
    max_deliver: int | None
    backoff_s: list[float]
    found: bool


async def stream_states(nats_url: str) -> list[StreamState]:
    nc = await bus.connect(nats_url, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=5)
        out = []
        for name in STREAMS:
            info = await js.stream_info(name)
            limits = STREAM_LIMITS[name]
            max_bytes = info.config.max_bytes or limits.max_bytes
            used = (info.state.bytes or 0) / max_bytes if max_bytes > 0 else 0.0
            out.append(StreamState(stream=name, messages=info.state.messages or 0,
                                   bytes=info.state.bytes or 0, max_bytes=max_bytes,
                                   max_age_s=info.config.max_age or 0.0, used=round(used, 6),
                                   near_limit=used >= ALERT_AT, why=limits.why))
        return out
    finally:
        await nc.close()


async def consumer_states(nats_url: str) -> list[ConsumerState]:
    nc = await bus.connect(nats_url, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=5)
        out = []
        for c in (c for u in USERS for c in u.consumes):
            try:
                info = await js.consumer_info(c.stream, c.durable)
            except NotFoundError:  # its service has not started yet
                out.append(ConsumerState(stream=c.stream, durable=c.durable, pending=0, ack_pending=0,
                                         redelivered=0, max_deliver=None, backoff_s=[], found=False))
                continue
            out.append(ConsumerState(stream=c.stream, durable=c.durable, pending=info.num_pending or 0,
                                     ack_pending=info.num_ack_pending or 0,
                                     redelivered=info.num_redelivered or 0,
                                     max_deliver=info.config.max_deliver,
                                     backoff_s=list(info.config.backoff or []), found=True))
        return out
    finally:
        await nc.close()


async def check_streams(ops: OperationsStore, nats_url: str) -> list[StreamState]:
    """Raise an alert for a stream at ``ALERT_AT`` of its bytes; clear it once it is below again."""
    states = await stream_states(nats_url)
    async with ops.read() as conn:
        for s in states:
            alert_id = f"stream:{s.stream}"
            if s.near_limit:
                await store.raise_alert(
                    conn, alert_id=alert_id, kind=KIND_STREAM_NEAR_LIMIT, subject=s.stream,
                    reason=(f"stream {s.stream} holds {s.used:.0%} of its {s.max_bytes} bytes (alert at "
                            f"{ALERT_AT:.0%}); when full it refuses new messages"),
                    detail={"bytes": s.bytes, "max_bytes": s.max_bytes, "messages": s.messages})
            else:
                await store.clear_alert(conn, alert_id)
    return states


async def watch_streams(ops: OperationsStore, nats_url: str, every_s: float = WATCH_EVERY_S) -> None:
    """The operations process's background job: check the streams' limits every ``every_s`` seconds."""
    while True:
        try:
            await check_streams(ops, nats_url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # NATS or the database away: the next round tries again
            log.warning("stream limit check failed: %r", exc)
        await asyncio.sleep(every_s)
