"""The ledger (migrations 001, 002): append-only (a trigger refuses UPDATE and DELETE), one row per
idempotency key."""

from __future__ import annotations

import asyncpg

from services.payment.store import Conn
from shared.contracts.activities import DisbursementRequest

_INSERT_DISBURSEMENT = """
INSERT INTO ledger (payment_id, idempotency_key, kind, case_id, pathway, person_id, household_id,
                    region_code, measure, account, amount_fen, installment, cause_event_id)
VALUES ($1, $2, 'disbursement', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
"""
_RETURNING = "RETURNING payment_id, amount_fen, created_at"


async def insert_disbursement(conn: Conn, req: DisbursementRequest, payment_id: str, *,
                              if_new: bool) -> asyncpg.Record | None:
    """The payment's row (payment_id, amount_fen, created_at). ``if_new``: None when the key was paid
    before; without it a paid key raises (the caller has checked under the reserve's lock)."""
    return await conn.fetchrow(
        _INSERT_DISBURSEMENT + ("ON CONFLICT (idempotency_key) DO NOTHING\n" if if_new else "") + _RETURNING,
        payment_id, req.idempotency_key, req.case_id, req.pathway, req.person_id, req.household_id,
        req.region_code, req.measure, req.account, req.amount_fen, req.installment, req.cause_event_id)


async def by_key(conn: Conn, idempotency_key: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM ledger WHERE idempotency_key = $1", idempotency_key)


async def has_key(conn: Conn, idempotency_key: str) -> bool:
    return await conn.fetchval("SELECT 1 FROM ledger WHERE idempotency_key = $1", idempotency_key) is not None


async def disbursement(conn: Conn, payment_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM ledger WHERE payment_id = $1 AND kind = 'disbursement'", payment_id)


async def insert_credit(conn: Conn, *, entry_id: str, idempotency_key: str, region_code: str, account: str,
                        amount_fen: int, reference: str | None, note: str, recorded_by: str) -> asyncpg.Record:
    """A ``reserve_credit`` row: money into a reserve's account."""
    row = await conn.fetchrow(
        """
        INSERT INTO ledger (payment_id, idempotency_key, kind, region_code, account, amount_fen,
                            reference, note, recorded_by)
        VALUES ($1, $2, 'reserve_credit', $3, $4, $5, $6, $7, $8)
        RETURNING *
        """,
        entry_id, idempotency_key, region_code, account, amount_fen, reference, note, recorded_by)
    assert row is not None
    return row


async def movements(conn: Conn, account: str, limit: int) -> list[asyncpg.Record]:
    """The latest rows on an account, newest first."""
    return await conn.fetch("SELECT * FROM ledger WHERE account = $1 ORDER BY entry_seq DESC LIMIT $2",
                            account, limit)


async def totals_by_kind(conn: Conn) -> list[asyncpg.Record]:
    """Entries and their amounts in fen, by kind (``/metrics``)."""
    return await conn.fetch("SELECT kind, count(*) AS entries, coalesce(sum(amount_fen), 0)::float8 AS fen"
                            " FROM ledger GROUP BY kind")
