"""Stage 4, **events**: one ``doudi.payment.batch_progress`` per chunk goes through the outbox (atomic
with the chunk, ``pay.py``). The per-payment ``doudi.payment.disbursed`` events (same id and shape as a
single payment's: ``<payment_id>:disbursed``) are published here by a bulk path that tails the committed
ledger chunk by chunk, not through 617,800 outbox rows: the ledger row is the durable record the event
is derived from, a chunk is marked published only after JetStream acknowledged every message, and a
republished chunk is dropped by JetStream's duplicate window and the consumers' inboxes. It runs while
no batch is loading or paying: payments first, notifications right after."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.payment.ledger import SOURCE
from services.payment.store import batch_chunks as store
from shared.contracts.domain_events import PAYMENT_DISBURSED, PaymentEventData, domain_cloudevent
from shared.infra.bus import connect, stream_for
from workflows.batch_subsidy.inputs import PATHWAY

log = logging.getLogger(__name__)

EVENT_WINDOW = 500  # JetStream publishes in flight at once (bulk per-payment events)


class PaymentEventPublisher:
    def __init__(self, pool: asyncpg.Pool, *, nats_url: str):
        self._pool = pool
        self._nats_url = nats_url

    async def publish_payment_events(self) -> None:
        """Background job: ``doudi.payment.disbursed`` for every batch payment, chunk by chunk, derived from
        the committed ledger rows. Waits while any batch loads or pays (payments first)."""
        nc: NATS | None = None
        try:
            while True:
                try:
                    if nc is None or nc.is_closed:
                        nc = await connect(self._nats_url, connect_timeout=5)
                    if await self.publish_next_chunk(nc.jetstream()) is None:
                        await asyncio.sleep(1.0)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("publishing batch payment events failed; retrying")
                    await asyncio.sleep(2.0)
        finally:
            if nc is not None and not nc.is_closed:
                with contextlib.suppress(Exception):
                    await nc.close()

    async def publish_next_chunk(self, js: JetStreamContext) -> int | None:
        """The oldest unpublished chunk's events; how many (None: nothing to publish now)."""
        async with self._pool.acquire() as conn, conn.transaction():
            chunk = await store.next_unpublished(conn)
            if chunk is None:
                return None
            payments = await store.chunk_payments(conn, chunk)
            stream = stream_for(PAYMENT_DISBURSED)
            for start in range(0, len(payments), EVENT_WINDOW):
                await asyncio.gather(*(_publish_payment(js, stream, chunk, p)
                                       for p in payments[start:start + EVENT_WINDOW]))
            await store.mark_published(conn, chunk)
        return len(payments)


async def _publish_payment(js: JetStreamContext, stream: str, chunk: asyncpg.Record, p: asyncpg.Record) -> None:
    event_id = f"{p['payment_id']}:disbursed"
    data = PaymentEventData(case_id=chunk["batch_id"], pathway=PATHWAY, payment_id=p["payment_id"],
                            amount_fen=p["amount_fen"], person_id=p["person_id"], installment=p["installment"],
                            source_account=p["account"], cause_event_id=p["cause_event_id"],
                            paid_at=p["created_at"], region_code=p["region_code"], measure=chunk["measure"],
                            household_id=p["household_id"], batch_id=chunk["batch_id"])
    body = json.dumps(domain_cloudevent(PAYMENT_DISBURSED, event_id, data, source=SOURCE, time=p["created_at"]),
                      ensure_ascii=False).encode()
    await js.publish(PAYMENT_DISBURSED, body, stream=stream, timeout=10.0,
                     headers={"Nats-Msg-Id": event_id, "content-type": "application/cloudevents+json"})
