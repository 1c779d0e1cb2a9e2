"""Backends that hold department records locally.

``LocalReferenceBackend``: the development and test source, table ``reference_records`` in the
verification schema, seeded over HTTP (``PUT /api/reference-data/{source}/{person_id}``).
``StaticBackend``: records in memory (unit tests, demos).

A production backend (a department's API through the data-sharing exchange platform, 国家数据共享
交换平台) implements the same ``fetch`` and maps each answer onto the source's payload model; the
adapters do not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from services.verification.sources.base import BackendRecord


class LocalReferenceBackend:
    name = "local-reference"

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def fetch(self, source: str, person_ids: Sequence[str], on: date) -> Mapping[str, BackendRecord]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT person_id, payload, loaded_at FROM reference_records"
                " WHERE source = $1 AND person_id = ANY($2::text[])",
                source, list(person_ids))
        return {r["person_id"]: BackendRecord(person_id=r["person_id"], payload=r["payload"], as_of=r["loaded_at"])
                for r in rows}


class StaticBackend:
    """Records in memory: ``{source: {person_id: payload}}``. Counts its fetches (tests use it)."""

    name = "static"

    def __init__(self, records: Mapping[str, Mapping[str, dict[str, Any]]] | None = None):
        self.records: dict[str, dict[str, dict[str, Any]]] = {k: dict(v) for k, v in (records or {}).items()}
        self.fetches = 0

    async def fetch(self, source: str, person_ids: Sequence[str], on: date) -> Mapping[str, BackendRecord]:
        self.fetches += 1
        held = self.records.get(source, {})
        return {pid: BackendRecord(person_id=pid, payload=held[pid], as_of=None) for pid in person_ids if pid in held}


# ---- the reference table (the HTTP routes' store) ------------------------------------------------------

async def put_reference_record(conn: asyncpg.Connection, source: str, person_id: str,
                               payload: dict[str, Any]) -> tuple[datetime, bool]:
    """Insert or replace a record; returns (loaded_at, created)."""
    row = await conn.fetchrow(
        """
        INSERT INTO reference_records (source, person_id, payload, loaded_at) VALUES ($1, $2, $3, now())
        ON CONFLICT (source, person_id) DO UPDATE SET payload = EXCLUDED.payload, loaded_at = now()
        RETURNING loaded_at, (xmax = 0) AS created
        """,
        source, person_id, payload)
    return row["loaded_at"], row["created"]


async def get_reference_record(conn: asyncpg.Connection, source: str, person_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT source, person_id, payload, loaded_at FROM reference_records WHERE source = $1 AND person_id = $2",
        source, person_id)
