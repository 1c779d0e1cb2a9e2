"""Stage 3, **pay** (one activity per chunk of ``chunk_size`` ordinals, ONE transaction each)::

    INSERT INTO ledger (...) SELECT ... FROM batch_recipients JOIN batch_amounts ...
    WHERE batch_id = $1 AND ordinal BETWEEN ... ON CONFLICT (idempotency_key) DO NOTHING

with the key ``batch:<batch_id>:<person_id>:<installment>``; the chunk's row in ``batch_chunks``, the
progress counters on ``batches`` and the ``doudi.payment.batch_progress`` event (outbox) are written in
the same transaction. A chunk retried after its commit finds its ``batch_chunks`` row and pays nothing;
a chunk cut short by a crash rolled back entirely; two attempts racing on one chunk meet on the ledger's
unique index, and the second inserts nothing. Status changes are written here too, each with its
progress event."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.payment.heartbeat import heartbeating
from services.payment.ledger import SCHEMA, SOURCE
from services.payment.store import batch_chunks as store
from services.payment.store import batches
from shared.contracts.domain_events import PAYMENT_BATCH_PROGRESS
from shared.faults import crash_point, fault_active
from shared.infra.db import unit_of_work
from shared.infra.outbox import add_to_outbox
from workflows.batch_subsidy import contracts as c
from workflows.batch_subsidy.inputs import PATHWAY


async def progress_event(conn: asyncpg.Connection, row: asyncpg.Record, *, kind: str, event_id: str, note: str,
                         extra: dict[str, Any]) -> None:
    """``doudi.payment.batch_progress``: one per chunk and per status change, atomic with it. It carries
    ``case_id`` (= the batch id) and ``pathway`` like every domain event, so the read model's timeline
    takes it as it is."""
    data = {"case_id": row["batch_id"], "pathway": PATHWAY, "batch_id": row["batch_id"], "kind": kind,
            "measure": row["measure"], "region_code": row["region_prefix"], "status": row["status"],
            "stage": row["status"], "note": note, "paid_count": row["paid_count"], "paid_fen": row["paid_fen"],
            "chunks_done": row["chunks_done"], "expected_payments": row["expected_payments"],
            "cause_event_id": row["cause_event_id"], "occurred_at": datetime.now(UTC).isoformat(), **extra}
    payload = {"specversion": "1.0", "id": event_id, "source": SOURCE, "type": f"{PAYMENT_BATCH_PROGRESS}.v1",
               "subject": row["batch_id"], "time": data["occurred_at"], "datacontenttype": "application/json",
               "data": data}
    await add_to_outbox(conn, schema=SCHEMA, event_id=event_id, subject=PAYMENT_BATCH_PROGRESS, payload=payload)


class ChunkPayer:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def set_status(self, s: c.StatusChange) -> bool:
        """The workflow's status for the batch, with its progress event; False once the batch is final."""
        async with unit_of_work(self._pool) as conn:
            row = await batches.set_status(conn, s.batch_id, s.status, s.note)
            if row is None:
                return False
            await progress_event(conn, row, kind="status", event_id=f"{s.batch_id}:status:{row['status_seq']}",
                                 note=f"{s.status}: {s.note}", extra={"installment": s.installment,
                                 "next_due_at": s.next_due_at.isoformat() if s.next_due_at else None})
        return True

    async def pay_chunk(self, req: c.PayChunk) -> c.ChunkPaid:
        async with heartbeating(details={"chunk": req.chunk}):
            return await self._pay_chunk(req)

    async def _pay_chunk(self, req: c.PayChunk) -> c.ChunkPaid:
        async with unit_of_work(self._pool) as conn:
            done = await store.chunk_done(conn, req.batch_id, req.installment, req.chunk)
            if done is not None:  # a retry after the chunk committed: what it paid then, nothing now
                return _already(req, done)
            batch = await batches.get(conn, req.batch_id)
            assert batch is not None
            n, fen = await store.pay(conn, batch_id=req.batch_id, installment=req.installment, chunk=req.chunk,
                                     size=batch["chunk_size"], pathway=PATHWAY, measure=batch["measure"],
                                     cause_event_id=batch["cause_event_id"])
            if fault_active("payment.batch_slow_chunks"):
                await asyncio.sleep(0.2)  # fault injection: widen the window a crash can land in
            crash_point("payment.batch_chunk_before_commit")
            if not await store.record_chunk(conn, batch_id=req.batch_id, installment=req.installment,
                                            chunk=req.chunk, count=n, fen=fen):
                # a concurrent attempt of the same chunk committed first; we inserted nothing
                first = await store.chunk_done(conn, req.batch_id, req.installment, req.chunk)
                assert first is not None
                return _already(req, first)
            row = await batches.add_paid(conn, req.batch_id, count=n, fen=fen)
            await progress_event(
                conn, row, kind="chunk", event_id=f"{req.batch_id}:{req.installment}:{req.chunk}:progress",
                note=f"installment {req.installment}, chunk {req.chunk + 1}/{row['chunks_per_installment']}: "
                     f"{n} payments, {fen} fen",
                extra={"installment": req.installment, "chunk": req.chunk,
                       "chunk_paid_count": n, "chunk_paid_fen": fen})
        crash_point("payment.batch_chunk_after_commit")
        return c.ChunkPaid(batch_id=req.batch_id, installment=req.installment, chunk=req.chunk, paid_count=n,
                           paid_fen=fen)


def _already(req: c.PayChunk, done: asyncpg.Record) -> c.ChunkPaid:
    """A chunk that had committed: the counts of its first attempt."""
    return c.ChunkPaid(batch_id=req.batch_id, installment=req.installment, chunk=req.chunk,
                       paid_count=done["paid_count"], paid_fen=done["paid_fen"], already_done=True)
