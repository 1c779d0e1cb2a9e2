"""Operations' bus entry point: every domain event feeds the read model.

A projection that cannot apply an event logs it and dead-letters it to ``doudi.dlq.projection``
(with the reason and the original bytes) rather than blocking the stream.
"""

from __future__ import annotations

import json
import logging

import asyncpg
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage

from services.operations.projection import project
from shared.infra.bus import STREAM_CASES, STREAM_DLQ, STREAM_PAYMENTS

log = logging.getLogger(__name__)
DLQ_PROJECTION = "doudi.dlq.projection"


async def _raw_body(msg: NatsMessage) -> bytes:
    return msg.body


def register(broker: NatsBroker, pool: asyncpg.Pool) -> None:
    for stream, subject, durable in (
        (STREAM_CASES, "doudi.case.>", "operations-cases"),
        (STREAM_PAYMENTS, "doudi.payment.>", "operations-payments"),
    ):

        @broker.subscriber(subject, stream=JStream(stream, declare=False), durable=durable,
                           pull_sub=PullSub(batch_size=64, timeout=1.0), decoder=_raw_body,
                           ack_policy=AckPolicy.MANUAL, title=durable)
        async def on_domain_event(body: bytes, msg: NatsMessage) -> None:
            subject = msg.raw_message.subject
            try:
                event = json.loads(body)
                await project(pool, subject, event)
            except (asyncpg.PostgresConnectionError, OSError):
                await msg.nack(delay=2.0)  # the database is away: try again, lose nothing
                return
            except Exception as exc:
                log.exception("cannot project %s", subject)
                await broker.publish(body, DLQ_PROJECTION, stream=STREAM_DLQ, headers={
                    "Doudi-Dlq-Reason": f"{type(exc).__name__}: {exc}"[:2000],
                    "Doudi-Original-Subject": subject,
                })
            await msg.ack()
