"""Recovery claims (migration 002): one ``recovery_claims`` row per case and its ``recovery_claim``
ledger row."""

from __future__ import annotations

import asyncpg

from services.payment.store import Conn
from shared.contracts.activities import RecoveryRequest


async def claim_of(conn: Conn, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM recovery_claims WHERE case_id = $1", case_id)


async def insert_claim(conn: Conn, claim_id: str, req: RecoveryRequest, *, account: str) -> asyncpg.Record | None:
    """The claim's row; None when another attempt opened the case's claim first."""
    return await conn.fetchrow(
        """
        INSERT INTO recovery_claims (claim_id, case_id, pathway, person_id, region_code, amount_fen,
                                     original_payment_id, account, reason, decided_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT DO NOTHING
        RETURNING *
        """,
        claim_id, req.case_id, req.pathway, req.person_id, req.region_code, req.amount_fen,
        req.original_payment_id, account, req.reason, req.decided_by)


async def insert_ledger_claim(conn: Conn, *, claim: asyncpg.Record, key: str, req: RecoveryRequest,
                              paid: asyncpg.Record) -> None:
    """The receivable on the ledger: owed back to the account the payment came from; moves no balance."""
    await conn.execute(
        """
        INSERT INTO ledger (payment_id, idempotency_key, kind, case_id, pathway, person_id, household_id,
                            region_code, measure, account, amount_fen, installment, cause_event_id,
                            reference, note, recorded_by, created_at)
        VALUES ($1, $2, 'recovery_claim', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
        """,
        claim["claim_id"], key, req.case_id, req.pathway, req.person_id, paid["household_id"], req.region_code,
        paid["measure"], paid["account"], req.amount_fen, paid["installment"], paid["cause_event_id"],
        req.original_payment_id, req.reason, req.decided_by, claim["opened_at"])
