"""The SQL of referrals (转介, services/operations/referrals.py): schema ``operations``, table ``referrals``.

Every function takes the caller's connection, so the caller owns the transaction (as ``store`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.operations.store import Conn

_COLUMNS = ("referral_id, case_id, region_code, to_kind, to_name, service, reason, referred_by, referred_at,"
            " due_at, deadline_rule, outcome, outcome_note, outcome_by, outcome_at, overdue_noted_at,"
            " (outcome IS NULL AND due_at < now()) AS overdue")


@dataclass(frozen=True)
class NewReferral:
    """A referral as the route made it: the id from the cause, the due date from the pack."""

    referral_id: str
    case_id: str
    region_code: str
    to_kind: str
    to_name: str
    service: str
    reason: str
    referred_by: str
    due_at: datetime
    deadline_rule: dict[str, Any]


async def add_referral(conn: Conn, r: NewReferral) -> tuple[asyncpg.Record, bool]:
    """The referral (created, True) or the one already made for the same cause (False)."""
    created = await conn.fetchval(
        """
        INSERT INTO referrals (referral_id, case_id, region_code, to_kind, to_name, service, reason, referred_by,
                               due_at, deadline_rule)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
        ON CONFLICT (referral_id) DO NOTHING RETURNING true
        """, r.referral_id, r.case_id, r.region_code, r.to_kind, r.to_name, r.service, r.reason, r.referred_by,
        r.due_at, r.deadline_rule)  # the pool's jsonb codec encodes
    row = await referral(conn, r.referral_id)
    assert row is not None
    return row, bool(created)


async def referral(conn: Conn, referral_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM referrals WHERE referral_id = $1", referral_id)


async def case_referrals(conn: Conn, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT {_COLUMNS} FROM referrals WHERE case_id = $1 ORDER BY referred_at, referral_id",
                            case_id)


async def referrals_in(conn: Conn, *, jurisdiction: str, region_code: str | None, status: str | None,
                       limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    """Referrals of cases in ``jurisdiction`` (a narrower ``region_code`` prefix if given), by status:
    ``open`` (no outcome, not yet due), ``overdue`` (no outcome, past due), ``closed`` (an outcome)."""
    where = ["starts_with(region_code, $1)", "starts_with(region_code, $2)"]
    if status == "open":
        where.append("outcome IS NULL AND due_at >= now()")
    elif status == "overdue":
        where.append("outcome IS NULL AND due_at < now()")
    elif status == "closed":
        where.append("outcome IS NOT NULL")
    clause = " AND ".join(where)
    args = (jurisdiction, region_code or "")
    total = await conn.fetchval(f"SELECT count(*) FROM referrals WHERE {clause}", *args)
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM referrals WHERE {clause} ORDER BY due_at, referral_id"
                            f" LIMIT {int(limit)} OFFSET {int(offset)}", *args)
    return list(rows), total


async def record_outcome(conn: Conn, referral_id: str, *, outcome: str, note: str, by: str) -> bool:
    """Record the outcome once (False: one was recorded before)."""
    done = await conn.fetchval(
        "UPDATE referrals SET outcome = $2, outcome_note = $3, outcome_by = $4, outcome_at = now()"
        " WHERE referral_id = $1 AND outcome IS NULL RETURNING true", referral_id, outcome, note, by)
    return bool(done)


async def newly_overdue(conn: Conn) -> list[asyncpg.Record]:
    """Referrals past due without an outcome that the timeline has not been told of yet, marked now
    (set-based: one statement however many; a second sweep finds none of them again)."""
    return await conn.fetch(
        "UPDATE referrals SET overdue_noted_at = now()"
        " WHERE outcome IS NULL AND due_at < now() AND overdue_noted_at IS NULL"
        " RETURNING referral_id, case_id, region_code, to_kind, to_name, service, due_at")
