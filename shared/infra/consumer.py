"""The one consumer wrapper every durable bus subscriber goes through: poison never blocks.

``durable_consumer`` declares a JetStream pull consumer with ``max_deliver`` and a backoff, and wraps the
handler so that every message ends in exactly one of:

* **acknowledged** after the handler succeeded;
* **dead-lettered at once** (with the reason and the original bytes, then acknowledged) when it cannot
  be parsed or breaks the contract: ``parse`` raised ``Poison`` or *any* exception, ``RecursionError``
  from a CloudEvent nested thousands of levels deep included; or when the handler itself says the
  message is poison (``Poison``, e.g. a conflicting duplicate);
* **retried with a delay** (``nak`` with the policy's backoff) after a failure, and **dead-lettered** once
  it failed ``dead_letter_after`` deliveries (a deterministic failure: the same bug every time), or, when
  every failure was transient (database, NATS or Temporal away), at the consumer's last delivery.

A dead letter's headers: ``Doudi-Dlq-Reason``, ``Doudi-Dlq-Kind`` (``invalid``, ``conflicting_duplicate``,
``failed``), ``Doudi-Original-Subject``, ``Doudi-Deliveries`` and, where it can be one, ``Doudi-Event-Id``;
a binary-mode CloudEvent's ``ce-`` headers and ``Doudi-Original-Content-Type`` (its attributes).
Operations projects every dead letter into its alerts (services/operations/subscribers.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import asyncpg
import nats.errors
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.msg import Msg
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig
from temporalio.service import RPCError, RPCStatusCode

from shared.contracts.cloudevent_binding import kept_for_dead_letter
from shared.infra.bus import STREAM_DLQ

log = logging.getLogger(__name__)
T = TypeVar("T")

KIND_INVALID = "invalid"
KIND_CONFLICTING_DUPLICATE = "conflicting_duplicate"
KIND_FAILED = "failed"
DEFAULT_MAX_PAYLOAD = 1024 * 1024  # NATS's default max_payload


class Poison(Exception):
    """A message that will never succeed: dead-letter it now, with this reason."""

    def __init__(self, reason: str, *, event_id: str | None = None, kind: str = KIND_INVALID):
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id
        self.kind = kind


@dataclass(frozen=True)
class Redelivery:
    """How a consumer retries. ``max_deliver`` and ``ack_timeouts`` are the server's (JetStream
    ``max_deliver`` and ``backoff``: the redelivery delays when a handler never answers, e.g. its process
    died); ``nak_delays`` are the wrapper's delays after a failure it caught."""

    max_deliver: int = 50
    dead_letter_after: int = 5
    nak_delays: tuple[float, ...] = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)
    ack_timeouts: tuple[float, ...] = (30.0, 60.0, 120.0, 300.0)
    max_ack_pending: int = 1000

    def nak_delay(self, delivered: int) -> float:
        return self.nak_delays[min(max(delivered, 1), len(self.nak_delays)) - 1]

    def is_last(self, delivered: int, *, transient: bool) -> bool:
        """The last delivery of a failing message: the server's last, or, for a failure of the message
        itself (not of the infrastructure), ``dead_letter_after``."""
        return delivered >= self.max_deliver or (not transient and delivered >= self.dead_letter_after)


DEFAULT_REDELIVERY = Redelivery()

# Failures of the infrastructure, not of the message: they never count as deterministic.
_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError, asyncio.TimeoutError, nats.errors.Error, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
    asyncpg.exceptions.TransactionRollbackError, asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError, asyncpg.exceptions.QueryCanceledError,
)
_TRANSIENT_RPC = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
                  RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.ABORTED, RPCStatusCode.CANCELLED}


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, RPCError):
        return exc.status in _TRANSIENT_RPC
    return isinstance(exc, _TRANSIENT)


def _header_value(value: str, limit: int) -> str:
    """A header value is one line of text: control characters (CR/LF would end the header) escaped,
    bounded."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value[:limit])[:limit]


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # an exception whose str() fails still gets a reason
        text = ""
    return f"{type(exc).__name__}: {text[:1500]}"


async def dead_letter(broker: NatsBroker, dlq_subject: str, subject: str, raw: bytes, reason: str,
                      event_id: str | None, *, kind: str = KIND_INVALID,
                      deliveries: int | None = None, original_headers: Mapping[str, str] | None = None) -> None:
    """Publish ``raw`` to ``dlq_subject`` with the reason (JetStream-deduplicated per subject and bytes), and a
    binary-mode CloudEvent's attribute headers from ``original_headers`` (a redelivery restores them)."""
    kept = kept_for_dead_letter(original_headers)
    identity = subject.encode() + b"\0" + raw
    if kept:  # the same data with other attributes is another event, hence another dead letter
        identity += json.dumps(kept, sort_keys=True).encode()
    digest = hashlib.sha256(identity).hexdigest()
    headers = {
        **kept,
        "Nats-Msg-Id": f"dlq-{digest}",
        "Doudi-Dlq-Reason": _header_value(reason, 2000),
        "Doudi-Dlq-Kind": kind,
        "Doudi-Original-Subject": _header_value(subject, 500),
        "content-type": "application/octet-stream",
    }
    if deliveries is not None:
        headers["Doudi-Deliveries"] = str(deliveries)
    # the id only where it can be one (the contract's 200 characters): a huge "id" stays in the body only
    if event_id and len(event_id) <= 200:
        headers["Doudi-Event-Id"] = _header_value(event_id, 200)
    # the server counts headers too: a body at the size limit would close the connection (every consumer of
    # this process with it), so such a body is cut, and the header says so and how to recognise the original
    max_payload = getattr(broker.connection, "max_payload", None)
    if not isinstance(max_payload, int):  # not connected to a server (the in-memory test broker)
        max_payload = DEFAULT_MAX_PAYLOAD
    room = max_payload - sum(len(k) + len(v.encode()) + 4 for k, v in headers.items()) - 1024
    if len(raw) > room:
        digest_of_original = hashlib.sha256(raw).hexdigest()
        headers["Doudi-Dlq-Truncated"] = f"original {len(raw)} bytes, sha256 {digest_of_original}"
        raw = raw[:room]
    await broker.publish(raw, dlq_subject, headers=headers, stream=STREAM_DLQ, timeout=5.0)
    log.warning("dead-lettered message on %s (%s): %s", subject, kind, reason[:300])


@dataclass(frozen=True)
class Delivered:
    """One delivery as the parser sees it: the subject the server accepted, the original bytes."""

    subject: str
    body: bytes
    headers: dict[str, str]
    stream_seq: int | None
    deliveries: int


Parse = Callable[[Delivered], Awaitable[T]]
Handle = Callable[[T, str], Awaitable[None]]


class _Consumer(Generic[T]):
    def __init__(self, broker: NatsBroker, dlq_subject: str, parse: Parse[T], handle: Handle[T],
                 policy: Redelivery, on_give_up: Handle[T] | None):
        self.broker, self.dlq_subject, self.policy = broker, dlq_subject, policy
        self.parse, self.handle, self.on_give_up = parse, handle, on_give_up

    async def on_message(self, body: bytes, msg: NatsMessage) -> None:
        """Parse, handle, acknowledge; poison is dead-lettered at once, a failure retried or given up on."""
        raw = msg.raw_message
        meta = _metadata(raw)
        delivery = Delivered(subject=raw.subject, body=body, headers=dict(raw.headers or {}),
                             stream_seq=meta.sequence.stream if meta is not None else None,
                             deliveries=meta.num_delivered if meta is not None else 1)
        try:
            item = await self.parse(delivery)
        except Poison as poison:
            return await self._give_up(msg, delivery, poison.reason, poison.event_id, poison.kind)
        except Exception as exc:  # RecursionError, MemoryError on a huge nesting, a parser bug: never a loop
            return await self._give_up(msg, delivery, f"cannot parse: {_describe(exc)}", None, KIND_INVALID)
        try:
            await self.handle(item, delivery.subject)
        except Poison as poison:
            return await self._give_up(msg, delivery, poison.reason, poison.event_id, poison.kind)
        except Exception as exc:
            return await self._failed(msg, delivery, item, exc)
        await msg.ack()

    async def _failed(self, msg: NatsMessage, delivery: Delivered, item: T, exc: Exception) -> None:
        """A handler failed: redelivered after the policy's delay, or, at its last delivery, settled
        (``on_give_up``) and dead-lettered."""
        transient, delivered = is_transient(exc), delivery.deliveries
        if not self.policy.is_last(delivered, transient=transient):
            delay = self.policy.nak_delay(delivered)
            log.warning("could not handle %s on %s (delivery %d, %s): %s; will be redelivered in %.0fs",
                        event_id_of(item) or "a message", delivery.subject, delivered,
                        "transient" if transient else "dead-lettered if it keeps failing", _describe(exc),
                        delay, exc_info=not transient)
            await msg.nack(delay=delay)
            return
        log.exception("giving up on a message on %s after %d deliveries", delivery.subject, delivered)
        if self.on_give_up is not None:
            try:
                await self.on_give_up(item, delivery.subject)
            except Exception as hook_failed:  # the database is away too: retry the whole message later
                log.warning("could not settle a failed message on %s: %s", delivery.subject,
                            _describe(hook_failed))
                await msg.nack(delay=self.policy.nak_delay(delivered))
                return
        await self._give_up(msg, delivery, f"failed {delivered} deliveries: {_describe(exc)}",
                            event_id_of(item), KIND_FAILED)

    async def _give_up(self, msg: NatsMessage, delivery: Delivered, reason: str, event_id: str | None,
                       kind: str) -> None:
        try:
            await dead_letter(self.broker, self.dlq_subject, delivery.subject, delivery.body, reason,
                              event_id, kind=kind, deliveries=delivery.deliveries,
                              original_headers=delivery.headers)
        except Exception as exc:  # the DLQ is away: keep the message, try again later (nothing lost)
            log.warning("could not dead-letter a message on %s (%s); retrying", delivery.subject,
                        _describe(exc))
            await msg.nack(delay=self.policy.nak_delay(delivery.deliveries))
            return
        await msg.ack()


def event_id_of(item: object) -> str | None:
    """The event id of a parsed message, for the dead letter's ``Doudi-Event-Id`` and the log: a model's
    ``id``, or a CloudEvent object's ``"id"`` (a consumer that keeps the raw JSON object)."""
    found = item.get("id") if isinstance(item, dict) else getattr(item, "id", None)
    return found if isinstance(found, str) else None


def _metadata(raw: Msg) -> Msg.Metadata | None:
    """JetStream's delivery metadata; None for a message that did not come from a stream (a core NATS
    publish, FastStream's in-memory test broker): counted as its first delivery."""
    try:
        return raw.metadata
    except nats.errors.NotJSMessageError:
        return None


async def _raw_body(msg: Any) -> bytes:  # the handler sees the original bytes; parsing is the wrapper's
    return msg.body


def durable_consumer(broker: NatsBroker, *, stream: str, subject: str, durable: str, dlq_subject: str,
                     parse: Parse[T], handle: Handle[T], policy: Redelivery = DEFAULT_REDELIVERY,
                     batch_size: int = 16, max_workers: int = 1, title: str | None = None,
                     on_give_up: Handle[T] | None = None) -> ConsumerConfig:
    """Declare and subscribe one durable pull consumer through the wrapper. Returns its configuration.
    ``on_give_up`` runs before a parsed message that kept failing is dead-lettered."""
    config = ConsumerConfig(durable_name=durable, name=durable, filter_subject=subject,
                            ack_policy=JsAckPolicy.EXPLICIT, max_deliver=policy.max_deliver,
                            backoff=list(policy.ack_timeouts), max_ack_pending=policy.max_ack_pending)
    declare = getattr(broker, "declare_consumer", None)
    if declare is not None:
        declare(stream, config)
    consumer = _Consumer(broker, dlq_subject, parse, handle, policy, on_give_up)
    subscriber = broker.subscriber(subject, stream=JStream(stream, declare=False), durable=durable,
                                   config=config, pull_sub=PullSub(batch_size=batch_size, timeout=1.0),
                                   decoder=_raw_body, ack_policy=AckPolicy.MANUAL, max_workers=max_workers,
                                   title=title or durable)

    async def on_message(body: bytes) -> None:
        # the message from the broker's context, not an injected ``msg: NatsMessage`` parameter: FastStream's
        # Context field resolves synchronously, which fast_depends runs in a worker thread for every message
        # (a fifth of the operations service's CPU per case in the storm bench; docs/adr/0020)
        msg: NatsMessage = broker.context.get_local("message")
        await consumer.on_message(body, msg)

    subscriber(on_message)
    return config
