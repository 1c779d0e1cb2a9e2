"""The case registry's SQL (schema ``intake``): cases, their causes and transitions, screenings,
applications."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

from services.intake.store.conn import Conn

if TYPE_CHECKING:
    from services.intake.routing import CaseStart

async def open_case(
    conn: Conn, *, case_id: str, pathway: str, trigger: str, person_id: str | None,
    household_id: str | None, region_code: str, business_date: date, cause_event_id: str | None,
    workflow_type: str, workflow_input: dict[str, Any],
) -> bool:
    """Insert the case if new; True when this call created it."""
    row = await conn.fetchrow(
        """
        INSERT INTO cases (case_id, pathway, trigger, person_id, household_id, region_code, business_date,
                           cause_event_id, workflow_type, workflow_input)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (case_id) DO NOTHING RETURNING case_id
        """,
        case_id, pathway, trigger, person_id, household_id, region_code, business_date, cause_event_id,
        workflow_type, workflow_input,
    )
    return row is not None


def start_of(row: asyncpg.Record) -> CaseStart:
    from services.intake.routing import CaseStart

    return CaseStart(case_id=row["case_id"], pathway=row["pathway"], trigger=row["trigger"],
                     workflow=row["workflow_type"], person_id=row["person_id"],
                     region_code=row["region_code"], business_date=row["business_date"],
                     cause_event_id=row["cause_event_id"], workflow_input=row["workflow_input"],
                     lane_id=row.get("lane_id"))


async def start_for_event(conn: Conn, event_id: str) -> CaseStart | None:
    row = await conn.fetchrow("SELECT c.* FROM case_causes x JOIN cases c USING (case_id)"
                              " WHERE x.event_id = $1", event_id)
    return start_of(row) if row is not None and row["workflow_type"] else None


async def start_for_case(conn: Conn, case_id: str) -> CaseStart | None:
    row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
    return start_of(row) if row is not None and row["workflow_type"] else None


async def open_case_for(conn: Conn, person_id: str, trigger: str) -> str | None:
    """The person's open outreach case for a measure, which their application joins."""
    return await conn.fetchval(
        "SELECT case_id FROM cases WHERE person_id = $1 AND trigger = $2 AND status <> 'closed'"
        " ORDER BY opened_at DESC LIMIT 1", person_id, trigger)


async def lock_household(conn: Conn, household_id: str) -> None:
    """Serialise event handling for one household until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('household:' || $1, 0))", household_id)


async def household_incident_case(conn: Conn, household_id: str, trigger: str, on: date,
                                  window_days: int) -> str | None:
    """The household's case for the same kind of incident within the window around the date, if any."""
    return await conn.fetchval(
        "SELECT case_id FROM cases WHERE household_id = $1 AND trigger = $2"
        " AND business_date BETWEEN $3::date - $4::int AND $3::date + $4::int"
        " ORDER BY business_date, opened_at LIMIT 1", household_id, trigger, on, window_days)


async def record_screening(conn: Conn, event_id: str, measure: str, person_id: str | None,
                           reason: str) -> None:
    await conn.execute("INSERT INTO screenings (event_id, measure, person_id, reason) VALUES ($1, $2, $3, $4)"
                       " ON CONFLICT DO NOTHING", event_id, measure, person_id, reason)


async def link_cause(conn: Conn, event_id: str, case_id: str) -> None:
    await conn.execute("INSERT INTO case_causes (event_id, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       event_id, case_id)


async def case_row(conn: Conn, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)


async def mark_workflow_started(conn: Conn, case_id: str) -> None:
    await conn.execute("UPDATE cases SET workflow_started_at = coalesce(workflow_started_at, now())"
                       " WHERE case_id = $1", case_id)


async def mark_workflows_started(conn: Conn, case_ids: list[str]) -> None:
    """``mark_workflow_started`` for many cases in one statement (a lane's members)."""
    await conn.execute("UPDATE cases SET workflow_started_at = coalesce(workflow_started_at, now())"
                       " WHERE case_id = ANY($1::text[])", case_ids)


# -- the straight-through lane (docs/adr/0021) ----------------------------------------------------------

async def join_lane(conn: Conn, lane_id: str, case_ids: list[str]) -> list[str]:
    """Write ``lane_id`` on the cases not in a lane yet (or already in this one: a retry of the same lane), in
    one statement; returns the cases that are in it now. A case another lane (or its own start) took first
    stays where it is: that one settles it."""
    rows = await conn.fetch("UPDATE cases SET lane_id = $1"
                            " WHERE case_id = ANY($2::text[]) AND (lane_id IS NULL OR lane_id = $1)"
                            " RETURNING case_id", lane_id, case_ids)
    return sorted(r["case_id"] for r in rows)


async def lane_of(conn: Conn, case_id: str) -> str | None:
    """The lane the case was gathered into (its own id when it was alone in its window), if any."""
    lane: str | None = await conn.fetchval("SELECT lane_id FROM cases WHERE case_id = $1", case_id)
    return lane


async def lane_starts(conn: Conn, lane_id: str) -> list[CaseStart]:
    """The starts of a lane's members, ordered by case id (the lane's input when it is re-driven)."""
    rows = await conn.fetch("SELECT * FROM cases WHERE lane_id = $1 ORDER BY case_id", lane_id)
    return [start_of(r) for r in rows if r["workflow_type"]]


async def record_transition(conn: Conn, *, case_id: str, seq: int, status: str, stage: str,
                            note: str, detail: dict[str, Any]) -> bool:
    row = await conn.fetchrow(
        """
        INSERT INTO case_transitions (case_id, seq, status, stage, note, detail)
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING seq
        """,
        case_id, seq, status, stage, note, detail,
    )
    if row is None:
        return False
    await conn.execute("UPDATE cases SET status = $2, stage = $3, updated_at = now() WHERE case_id = $1",
                       case_id, status, stage)
    return True




async def open_cases(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """Open cases in bulk (a cycle's review cases): (case_id, pathway, trigger, person_id, household_id,
    region_code, business_date, cause_event_id, workflow_type, workflow_input) each; a known id is left."""
    await conn.executemany(
        """
        INSERT INTO cases (case_id, pathway, trigger, person_id, household_id, region_code, business_date,
                           cause_event_id, workflow_type, workflow_input)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (case_id) DO NOTHING
        """, rows)


async def household_of_case(conn: Conn, case_id: str) -> str | None:
    return await conn.fetchval("SELECT household_id FROM cases WHERE case_id = $1", case_id)


async def review_cases_to_start(conn: Conn, cycle_id: str) -> tuple[list[CaseStart], int]:
    """The review cases a cycle opened whose workflow is not started yet, and how many it opened."""
    rows = await conn.fetch("SELECT * FROM cases WHERE cause_event_id = $1 AND trigger = 'review_cycle'"
                            " AND workflow_started_at IS NULL ORDER BY case_id", cycle_id)
    total = await conn.fetchval("SELECT count(*) FROM cases WHERE cause_event_id = $1"
                                " AND trigger = 'review_cycle'", cycle_id)
    return [start_of(r) for r in rows], int(total)


# -- applications (one window, 一门受理) -------------------------------------------------------------

async def application_case(conn: Conn, application_id: str) -> asyncpg.Record | None:
    """The case an application id was recorded for, and its region (None: a new application)."""
    return await conn.fetchrow("SELECT case_id, region_code FROM applications WHERE application_id = $1",
                               application_id)


async def record_application(conn: Conn, *, application_id: str, case_id: str, person_id: str,
                             region_code: str, kind: str, consent_given: bool, registered_by: str,
                             details: dict[str, Any]) -> None:
    await conn.execute(
        """
        INSERT INTO applications (application_id, case_id, person_id, region_code, kind, consent_given,
                                  registered_by, details)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (application_id) DO NOTHING
        """,
        application_id, case_id, person_id, region_code, kind, consent_given, registered_by, details,
    )
