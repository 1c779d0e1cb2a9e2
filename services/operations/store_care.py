"""The SQL of visits to dispersed 特困 persons (services/operations/care_visits.py): tables
``care_recipients``, ``care_visits``, ``caregiver_changes`` (schema ``operations``).

Every function takes the caller's connection, so the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.operations.store import Conn

_RECIPIENT = ("person_id, region_code, household_id, name, care_level, caregiver, caregiver_phone,"
              " visit_every_days, cadence_rule, registered_by, registered_at, last_visited_at, next_visit_due,"
              " next_visit_due < now() AS overdue")


@dataclass(frozen=True)
class Recipient:
    person_id: str
    region_code: str
    household_id: str | None
    name: str | None
    care_level: str
    caregiver: str
    caregiver_phone: str | None
    visit_every_days: int
    cadence_rule: str
    registered_by: str


async def register(conn: Conn, r: Recipient) -> asyncpg.Record:
    """A new person is due a first visit one cadence from now; a known one keeps its visits and is due one
    cadence (perhaps changed: a new care level) after its last visit, or its registration."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO care_recipients (person_id, region_code, household_id, name, care_level, caregiver,
                                     caregiver_phone, visit_every_days, cadence_rule, registered_by, next_visit_due)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + make_interval(days => $8))
        ON CONFLICT (person_id) DO UPDATE SET
            region_code = EXCLUDED.region_code, household_id = EXCLUDED.household_id, name = EXCLUDED.name,
            care_level = EXCLUDED.care_level, visit_every_days = EXCLUDED.visit_every_days,
            cadence_rule = EXCLUDED.cadence_rule,
            next_visit_due = coalesce(care_recipients.last_visited_at, care_recipients.registered_at)
                             + make_interval(days => EXCLUDED.visit_every_days)
        RETURNING {_RECIPIENT}
        """, r.person_id, r.region_code, r.household_id, r.name, r.care_level, r.caregiver, r.caregiver_phone,
        r.visit_every_days, r.cadence_rule, r.registered_by)
    assert row is not None
    return row


async def recipient(conn: Conn, person_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_RECIPIENT} FROM care_recipients WHERE person_id = $1", person_id)


async def recipient_for_update(conn: Conn, person_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_RECIPIENT} FROM care_recipients WHERE person_id = $1 FOR UPDATE",
                               person_id)


async def recipients(conn: Conn, *, region_prefix: str, overdue_only: bool, limit: int,
                     offset: int) -> tuple[list[dict[str, Any]], int]:
    """Persons in a region, the longest overdue first."""
    where = "starts_with(region_code, $1) AND (NOT $2 OR next_visit_due < now())"
    total = await conn.fetchval(f"SELECT count(*) FROM care_recipients WHERE {where}", region_prefix, overdue_only)
    rows = await conn.fetch(f"SELECT {_RECIPIENT} FROM care_recipients WHERE {where}"
                            f" ORDER BY next_visit_due, person_id LIMIT {int(limit)} OFFSET {int(offset)}",
                            region_prefix, overdue_only)
    return [dict(r) for r in rows], total


async def record_visit(conn: Conn, *, visit_id: str, person_id: str, visited_at: datetime, visited_by: str,
                       caregiver: str, performing: bool, findings: str) -> bool:
    """The visit (False: the same visit was recorded already) and the next one due a cadence after the
    latest visit (a visit recorded late never moves the schedule back)."""
    created = await conn.fetchval(
        """
        INSERT INTO care_visits (visit_id, person_id, visited_at, visited_by, caregiver, caregiver_performing,
                                 findings)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (visit_id) DO NOTHING RETURNING true
        """, visit_id, person_id, visited_at, visited_by, caregiver, performing, findings)
    if created:
        await conn.execute(
            """
            UPDATE care_recipients SET last_visited_at = greatest(last_visited_at, $2),
                   next_visit_due = greatest(last_visited_at, $2) + make_interval(days => visit_every_days)
            WHERE person_id = $1
            """, person_id, visited_at)
    return bool(created)


async def visits(conn: Conn, person_id: str, limit: int = 50) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT visit_id, visited_at, visited_by, caregiver, caregiver_performing, findings"
                            " FROM care_visits WHERE person_id = $1 ORDER BY visited_at DESC LIMIT $2",
                            person_id, limit)
    return [dict(r) for r in rows]


async def visit(conn: Conn, visit_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT visit_id, person_id FROM care_visits WHERE visit_id = $1", visit_id)


async def replace_caregiver(conn: Conn, *, change_id: str, person_id: str, previous: str, new: str,
                            phone: str | None, reason: str, visit_id: str | None, by: str, role: str) -> bool:
    """The decision recorded and the caregiver changed (False: this decision was recorded already)."""
    created = await conn.fetchval(
        """
        INSERT INTO caregiver_changes (change_id, person_id, previous_caregiver, new_caregiver, new_caregiver_phone,
                                       reason, visit_id, decided_by, role)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (change_id) DO NOTHING RETURNING true
        """, change_id, person_id, previous, new, phone, reason, visit_id, by, role)
    if created:
        await conn.execute("UPDATE care_recipients SET caregiver = $2, caregiver_phone = $3 WHERE person_id = $1",
                           person_id, new, phone)
    return bool(created)


async def caregiver_changes(conn: Conn, person_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT change_id, previous_caregiver, new_caregiver, reason, visit_id, decided_by,"
                            " role, decided_at FROM caregiver_changes WHERE person_id = $1 ORDER BY decided_at",
                            person_id)
    return [dict(r) for r in rows]


async def overdue_visits(conn: Conn, *, jurisdiction: str, region_code: str | None,
                         limit: int) -> tuple[list[dict[str, Any]], int]:
    """The attention list's visits: persons whose next visit is past due in the jurisdiction (and region)."""
    where = ("next_visit_due < now() AND starts_with(region_code, $1)"
             + (" AND starts_with(region_code, $2)" if region_code else ""))
    args: list[Any] = [jurisdiction, *([region_code] if region_code else [])]
    total = await conn.fetchval(f"SELECT count(*) FROM care_recipients WHERE {where}", *args)
    rows = await conn.fetch(f"SELECT {_RECIPIENT} FROM care_recipients WHERE {where}"
                            f" ORDER BY next_visit_due LIMIT {int(limit)}", *args)
    return [dict(r) for r in rows], total


async def newly_overdue(conn: Conn) -> list[asyncpg.Record]:
    """Persons whose visit is past due and not yet announced for that due date, marked now (set-based: one
    statement; a second sweep finds none of them again until a visit sets a new due date that lapses)."""
    return await conn.fetch(
        "UPDATE care_recipients SET overdue_noted_for = next_visit_due"
        " WHERE next_visit_due < now() AND overdue_noted_for IS DISTINCT FROM next_visit_due"
        " RETURNING person_id, region_code, care_level, caregiver, next_visit_due")
