"""The ``batches`` rows: registering, planning, four eyes, status (migrations 003, 006, 007)."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import asyncpg

from services.payment.store import Conn


def lock_key(name: str) -> int:
    """An advisory-lock key for a batch or an occasion."""
    return int.from_bytes(hashlib.sha256(f"doudi-batch:{name}".encode()).digest()[:8], "big", signed=True)


async def advisory_lock(conn: Conn, name: str) -> None:
    """Hold ``name``'s lock until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(name))


async def get(conn: Conn, batch_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM batches WHERE batch_id = $1" + (" FOR UPDATE" if for_update else ""),
                               batch_id)


async def status(conn: Conn, batch_id: str) -> str | None:
    value: str | None = await conn.fetchval("SELECT status FROM batches WHERE batch_id = $1", batch_id)
    return value


async def delete(conn: Conn, batch_id: str) -> None:
    await conn.execute("DELETE FROM batches WHERE batch_id = $1", batch_id)


async def overlapping(conn: Conn, *, measure: str, occasion: str, batch_id: str,
                      region_prefix: str) -> asyncpg.Record | None:
    """Another live batch of the same measure and occasion whose region contains or lies in this one."""
    return await conn.fetchrow(
        """
        SELECT batch_id, region_prefix, status FROM batches
        WHERE measure = $1 AND occasion = $2 AND batch_id <> $3 AND status <> 'rejected'
          AND (starts_with(region_prefix, $4) OR starts_with($4, region_prefix))
        LIMIT 1
        """, measure, occasion, batch_id, region_prefix)


async def insert(conn: Conn, *, batch_id: str, measure: str, region_prefix: str, occasion: str, snapshot_on: date,
                 month: str | None, categories: list[str], requested_amount_fen: int | None, params: dict[str, Any],
                 policy: dict[str, Any] | None, amount_note: str, installments: list[dict[str, Any]],
                 cause_event_id: str | None, requested_by: str, chunk_size: int, payment_events: bool,
                 status: str, note: str) -> None:
    await conn.execute(
        """
        INSERT INTO batches (batch_id, measure, region_prefix, occasion, snapshot_on, month, categories,
                             requested_amount_fen, params, policy, amount_note, installments, cause_event_id,
                             requested_by, chunk_size, payment_events, status, note)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
        ON CONFLICT (batch_id) DO NOTHING
        """,
        batch_id, measure, region_prefix, occasion, snapshot_on, month, categories, requested_amount_fen, params,
        policy, amount_note, installments, cause_event_id, requested_by, chunk_size, payment_events, status, note)


async def insert_rejected(conn: Conn, *, batch_id: str, measure: str, region_prefix: str, snapshot_on: date,
                          month: str | None, categories: list[str], requested_amount_fen: int | None,
                          params: dict[str, Any], requested_by: str, cause_event_id: str | None, chunk_size: int,
                          reason: str) -> None:
    """A request the policy refused, recorded as ``rejected`` with the reason (a batch started from an event)."""
    await conn.execute(
        """
        INSERT INTO batches (batch_id, measure, region_prefix, occasion, snapshot_on, month, categories,
                             requested_amount_fen, params, requested_by, cause_event_id, chunk_size,
                             status, note, finished_at)
        VALUES ($1, $2, $3, 'rejected', $4, $5, $6, $7, $8, $9, $10, $11, 'rejected', $12, now())
        ON CONFLICT (batch_id) DO NOTHING
        """, batch_id, measure, region_prefix, snapshot_on, month, categories, requested_amount_fen, params,
        requested_by, cause_event_id, chunk_size, reason)


async def record_second_approval(conn: Conn, batch_id: str, *, approved_by: str, note: str) -> None:
    await conn.execute(
        "UPDATE batches SET status = 'planned', second_approved_by = $2, second_approved_at = now(),"
        " note = $3, updated_at = now() WHERE batch_id = $1", batch_id, approved_by, note)


async def set_status(conn: Conn, batch_id: str, status: str, note: str) -> asyncpg.Record | None:
    """The new status of a batch not yet final (None when it is): the row, with its next ``status_seq``."""
    return await conn.fetchrow(
        """
        UPDATE batches SET status = $2, note = $3, updated_at = now(), status_seq = status_seq + 1,
               started_at = CASE WHEN $2 = 'paying' THEN coalesce(started_at, now()) ELSE started_at END,
               finished_at = CASE WHEN $2 IN ('completed', 'cancelled') THEN now() ELSE finished_at END
        WHERE batch_id = $1 AND status NOT IN ('completed', 'cancelled', 'rejected')
        RETURNING *
        """, batch_id, status, note)


async def add_paid(conn: Conn, batch_id: str, *, count: int, fen: int) -> asyncpg.Record:
    """A chunk's payments on the batch's progress counters; the updated row."""
    row = await conn.fetchrow(
        """
        UPDATE batches SET paid_count = paid_count + $2, paid_fen = paid_fen + $3, chunks_done = chunks_done + 1,
               updated_at = now()
        WHERE batch_id = $1 RETURNING *
        """, batch_id, count, fen)
    assert row is not None, f"batch {batch_id} has a chunk but no row"
    return row


async def listed(conn: Conn, *, jurisdiction: str, status: str | None, measure: str | None,
                 limit: int) -> tuple[list[asyncpg.Record], int]:
    """Batches in the jurisdiction, newest first, and how many there are in all."""
    rows = await conn.fetch(
        """
        SELECT * FROM batches
        WHERE starts_with(region_prefix, $1) AND ($2::text IS NULL OR status = $2)
          AND ($3::text IS NULL OR measure = $3)
        ORDER BY created_at DESC LIMIT $4
        """, jurisdiction, status, measure, limit)
    total: int = await conn.fetchval(
        "SELECT count(*) FROM batches WHERE starts_with(region_prefix, $1) AND ($2::text IS NULL OR status = $2)"
        " AND ($3::text IS NULL OR measure = $3)", jurisdiction, status, measure)
    return rows, total
