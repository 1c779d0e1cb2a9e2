"""The verification service's store: every SQL statement of schema ``verification``.

- ``checks``: one row per economic status check, its request and (once decided) its result and evidence;
- ``reference_records``: the local reference data source (one department's record of one person);
- ``documents``: the documents and explanations received for a case, one submission at a time.

Functions take a connection (the caller owns the transaction); ``ReferenceStore`` holds the pool for
the HTTP routes, which never see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.contracts.activities import EconomicCheckRequest, EconomicCheckResult
from shared.infra.db import unit_of_work

SCHEMA = "verification"

# a connection of the pool, as ``pool.acquire()`` or ``unit_of_work`` hands it out
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy

_DOCUMENT_COLUMNS = ("document_id, submission_id, case_id, kind, reference, note, received_at, received_by,"
                     " received_role")


# ---- checks ------------------------------------------------------------------------------------------

async def check_row(conn: Conn, check_id: str) -> asyncpg.Record | None:
    """case_id, person_id and result (None while the check runs) of ``check_id``."""
    return await conn.fetchrow("SELECT case_id, person_id, result FROM checks WHERE check_id = $1", check_id)


async def record_check_request(conn: Conn, req: EconomicCheckRequest) -> None:
    """The request, once (a retried attempt finds its row there)."""
    await conn.execute(
        "INSERT INTO checks (check_id, case_id, person_id, region_code, business_date, request)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (check_id) DO NOTHING",
        req.check_id, req.case_id, req.person_id, req.region_code, req.business_date,
        req.model_dump(mode="json"))


async def complete_check(conn: Conn, result: EconomicCheckResult, *, counted_income_fen: int) -> bool:
    """Store the result; False when a concurrent attempt stored its own first (the first one stands)."""
    updated = await conn.fetchval(
        """
        UPDATE checks SET completed_at = now(), outcome = $2, evidence = $3, result = $4,
                          household_income_fen = $5, per_capita_income_fen = $6, limit_fen_per_capita = $7
        WHERE check_id = $1 AND completed_at IS NULL RETURNING check_id
        """,
        result.check_id, result.outcome, result.evidence, result.model_dump(mode="json"), counted_income_fen,
        result.per_capita_income_fen, result.limit_fen_per_capita)
    return updated is not None


# ---- the local reference data source -----------------------------------------------------------------

async def reference_records(conn: Conn, source: str, person_ids: Sequence[str]) -> list[asyncpg.Record]:
    """person_id, payload, loaded_at of the records ``source`` holds of ``person_ids``."""
    return await conn.fetch(
        "SELECT person_id, payload, loaded_at FROM reference_records"
        " WHERE source = $1 AND person_id = ANY($2::text[])",
        source, list(person_ids))


async def put_reference_record(conn: Conn, source: str, person_id: str,
                               payload: dict[str, Any]) -> tuple[datetime, bool]:
    """Insert or replace a record; returns (loaded_at, created)."""
    row = await conn.fetchrow(
        """
        INSERT INTO reference_records (source, person_id, payload, loaded_at) VALUES ($1, $2, $3, now())
        ON CONFLICT (source, person_id) DO UPDATE SET payload = EXCLUDED.payload, loaded_at = now()
        RETURNING loaded_at, (xmax = 0) AS created
        """,
        source, person_id, payload)
    assert row is not None  # an upsert always returns its row
    return row["loaded_at"], row["created"]


async def get_reference_record(conn: Conn, source: str, person_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT source, person_id, payload, loaded_at FROM reference_records"
        " WHERE source = $1 AND person_id = $2",
        source, person_id)


class ReferenceStore:
    """The reference table as the HTTP routes use it (each call its own transaction)."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def put(self, source: str, person_id: str, payload: dict[str, Any]) -> tuple[datetime, bool]:
        async with unit_of_work(self._pool) as conn:
            return await put_reference_record(conn, source, person_id, payload)

    async def get(self, source: str, person_id: str) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn:
            return await get_reference_record(conn, source, person_id)


# ---- documents -----------------------------------------------------------------------------------------

async def insert_document(conn: Conn, *, document_id: str, submission_id: str, case_id: str,
                          kind: str, reference: str, note: str, received_by: str,
                          received_role: str) -> asyncpg.Record | None:
    """The new row, or None when the document was recorded before (a concurrent submission)."""
    return await conn.fetchrow(
        f"""
        INSERT INTO documents (document_id, submission_id, case_id, kind, reference, note, received_by,
                               received_role)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (document_id) DO NOTHING
        RETURNING {_DOCUMENT_COLUMNS}
        """,
        document_id, submission_id, case_id, kind, reference, note, received_by, received_role)


async def submission_documents(conn: Conn, submission_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE submission_id = $1 ORDER BY document_id",
        submission_id)


async def case_documents(conn: Conn, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE case_id = $1 ORDER BY received_at, document_id",
        case_id)
