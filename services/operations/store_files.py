"""The operations read model for the office's records: a household's cases (its own and its members',
with their projected payments), in the caller's jurisdiction. Every SQL statement of the household file
that reads schema ``operations`` is here."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from services.operations.store import Conn

CASE_LIMIT = 1000


class CaseRow(BaseModel):
    case_id: str
    pathway: str
    status: str
    stage: str
    person_id: str | None
    household_id: str | None
    region_code: str | None
    approved_amount_fen: int | None
    outcome: str | None
    reason: str | None
    stalled: bool
    opened_at: datetime | None
    updated_at: datetime


class CasePaymentRow(BaseModel):
    case_id: str
    payment_id: str
    amount_fen: int
    status: str
    installment: int
    paid_at: datetime | None


async def household_cases(conn: Conn, household_id: str, person_ids: list[str], *,
                          jurisdiction: str) -> tuple[list[CaseRow], list[CasePaymentRow]]:
    """The cases of the household or of one of its members (oldest first) and their payments."""
    cases = await conn.fetch(
        "SELECT case_id, pathway, status, stage, person_id, household_id, region_code, approved_amount_fen,"
        " outcome, reason, stalled, opened_at, updated_at FROM cases"
        " WHERE (household_id = $1 OR person_id = ANY($2::text[])) AND starts_with(region_code, $3)"
        " ORDER BY opened_at NULLS LAST, case_id LIMIT $4",
        household_id, person_ids, jurisdiction, CASE_LIMIT)
    payments = await conn.fetch(
        "SELECT case_id, payment_id, amount_fen, status, installment, paid_at FROM payments"
        " WHERE case_id = ANY($1::text[]) ORDER BY case_id, installment", [c["case_id"] for c in cases])
    return [CaseRow(**dict(c)) for c in cases], [CasePaymentRow(**dict(p)) for p in payments]
