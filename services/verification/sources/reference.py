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
from datetime import date
from typing import Any

import asyncpg

from services.verification import store
from services.verification.sources.base import BackendRecord


class LocalReferenceBackend:
    name = "local-reference"

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def fetch(self, source: str, person_ids: Sequence[str], on: date) -> Mapping[str, BackendRecord]:
        async with self._pool.acquire() as conn:
            rows = await store.reference_records(conn, source, person_ids)
        return {r["person_id"]: BackendRecord(person_id=r["person_id"], payload=r["payload"],
                                              as_of=r["loaded_at"]) for r in rows}


class StaticBackend:
    """Records in memory: ``{source: {person_id: payload}}``. Counts its fetches (tests use it)."""

    name = "static"

    def __init__(self, records: Mapping[str, Mapping[str, dict[str, Any]]] | None = None):
        self.records: dict[str, dict[str, dict[str, Any]]] = {k: dict(v) for k, v in (records or {}).items()}
        self.fetches = 0

    async def fetch(self, source: str, person_ids: Sequence[str], on: date) -> Mapping[str, BackendRecord]:
        self.fetches += 1
        held = self.records.get(source, {})
        return {pid: BackendRecord(person_id=pid, payload=held[pid], as_of=None)
                for pid in person_ids if pid in held}
