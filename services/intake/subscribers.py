"""Intake's bus entry point: inbound facts from other agencies on ``doudi.events.*``.

Parse and validate; a message that breaks the contract goes to ``doudi.dlq.events`` with the reason
and its original bytes and is acknowledged (it never crashes the consumer, never opens a case). A
valid one is handed to the service layer; the message is acknowledged only after its case is durable
and its workflow started, so a crash in between means a redelivery, never a lost case.
"""

from __future__ import annotations

import hashlib
import logging

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage

from services.intake.service import IntakeService
from shared.contracts.events import DLQ_EVENTS_SUBJECT, InvalidEvent, parse_inbound
from shared.infra.bus import STREAM_DLQ, STREAM_EVENTS

log = logging.getLogger(__name__)

# Event families intake consumes now; each gets its own durable consumer.
CONSUMED = {
    "health": "doudi.events.health.>",
    "disaster": "doudi.events.disaster.>",
    "employment": "doudi.events.employment.>",
    "education": "doudi.events.education.>",
    "medical": "doudi.events.medical.>",
    "household": "doudi.events.household.>",
}

RETRY_DELAY_S = 2.0
CONCURRENCY = 16


async def _raw_body(msg: NatsMessage) -> bytes:  # the handler must see the original bytes
    return msg.body


def _header_value(value: str, limit: int) -> str:
    """A header value is one line of text: control characters (CR/LF would end the header) escaped, bounded."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value[:limit])[:limit]


async def dead_letter(broker: NatsBroker, subject: str, raw: bytes, reason: str, event_id: str | None) -> None:
    digest = hashlib.sha256(subject.encode() + b"\0" + raw).hexdigest()
    headers = {
        "Nats-Msg-Id": f"dlq-{digest}",
        "Doudi-Dlq-Reason": _header_value(reason, 2000),
        "Doudi-Original-Subject": subject,
        "content-type": "application/octet-stream",
    }
    # the id only where it can be one (the contract's 200 characters): a huge "id" stays in the body only
    if event_id and len(event_id) <= 200:
        headers["Doudi-Event-Id"] = _header_value(event_id, 200)
    # the server counts headers too: a body at the size limit would close the connection (every consumer of
    # this process with it), so such a body is cut, and the header says so and how to recognise the original
    room = broker.connection.max_payload - sum(len(k) + len(v.encode()) + 4 for k, v in headers.items()) - 1024
    if len(raw) > room:
        headers["Doudi-Dlq-Truncated"] = f"original {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}"
        raw = raw[:room]
    await broker.publish(raw, DLQ_EVENTS_SUBJECT, headers=headers, stream=STREAM_DLQ, timeout=5.0)
    log.warning("dead-lettered message on %s: %s", subject, reason)


def register(broker: NatsBroker, service: IntakeService) -> None:
    for family, subject in CONSUMED.items():

        @broker.subscriber(
            subject,
            stream=JStream(STREAM_EVENTS, declare=False),
            durable=f"intake-{family}",
            pull_sub=PullSub(batch_size=16, timeout=1.0),
            decoder=_raw_body,
            ack_policy=AckPolicy.MANUAL,
            max_workers=CONCURRENCY,  # events are independent; order within an incident is settled by the case id
            title=f"intake:{family}",
        )
        async def on_event(body: bytes, msg: NatsMessage) -> None:
            subject = msg.raw_message.subject
            try:
                event = parse_inbound(subject, body)
            except InvalidEvent as invalid:
                await dead_letter(broker, subject, body, invalid.reason, invalid.event_id)
                await msg.ack()
                return
            try:
                await service.accept_event(event, subject)
            except Exception:
                log.exception("could not accept event %s on %s; will be redelivered", event.id, subject)
                await msg.nack(delay=RETRY_DELAY_S)
                return
            await msg.ack()
