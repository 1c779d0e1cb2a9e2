"""The intake service's store: household registry and case registry (schema ``intake``)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

from shared.contracts.activities import RecipientFacts
from shared.contracts.api import HouseholdIn

if TYPE_CHECKING:
    from services.intake.routing import CaseStart

SCHEMA = "intake"


async def household_categories(conn: asyncpg.Connection, household_id: str) -> set[str] | None:
    """The categories a registered household holds (None: not registered), locked for this transaction."""
    row = await conn.fetchrow("SELECT categories FROM households WHERE household_id = $1 FOR UPDATE", household_id)
    return None if row is None else set(row["categories"])


async def members_elsewhere(conn: asyncpg.Connection, person_ids: list[str],
                            household_id: str) -> list[asyncpg.Record]:
    """The given people who belong to another household than ``household_id``: person_id, household_id,
    region_code (their rows locked, so no one moves them meanwhile)."""
    return await conn.fetch(
        "SELECT m.person_id, m.household_id, h.region_code FROM members m JOIN households h USING (household_id)"
        " WHERE m.person_id = ANY($1::text[]) AND m.household_id <> $2 ORDER BY m.person_id FOR UPDATE OF m",
        person_ids, household_id)


async def move_member_out(conn: asyncpg.Connection, person_id: str, from_household_id: str, to_household_id: str,
                          *, actor: str, role: str) -> None:
    """An explicit move (same county): the person leaves their household, which the monthly cycle then
    reviews (its version moves); recorded with who moved them."""
    await conn.execute("DELETE FROM members WHERE person_id = $1 AND household_id = $2", person_id, from_household_id)
    await conn.execute("UPDATE households SET updated_at = now(), version = version + 1 WHERE household_id = $1",
                       from_household_id)
    await conn.execute(
        "INSERT INTO registry_changes (kind, household_id, person_id, from_household_id, actor, role)"
        " VALUES ('member_moved', $1, $2, $3, $4, $5)", to_household_id, person_id, from_household_id, actor, role)


async def record_roster_registration(conn: asyncpg.Connection, h: HouseholdIn, *, actor: str, role: str) -> None:
    await conn.execute(
        "INSERT INTO registry_changes (kind, household_id, categories, actor, role) VALUES ('roster', $1, $2, $3, $4)",
        h.household_id, sorted({str(c) for c in h.categories}), actor, role)


async def registry_changes(conn: asyncpg.Connection, household_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM registry_changes WHERE household_id = $1 ORDER BY change_id",
                            household_id)


class MemberElsewhere(Exception):
    """A member of a household being registered already belongs to another household."""

    def __init__(self, person_id: str, household_id: str, region_code: str):
        super().__init__(f"person already in household {household_id}")
        self.person_id = person_id
        self.household_id = household_id
        self.region_code = region_code


async def upsert_household(conn: asyncpg.Connection, h: HouseholdIn) -> tuple[int, bool]:
    """Register or update a household. ``version`` counts changes of its data: re-registering the same
    data changes nothing (the monthly cycle reviews a household whose version moved).

    A person belongs to one household: a member registered in another household is never moved here
    (the caller refuses it, or moves them out first with ``move_member_out``); should one slip in
    meanwhile, ``MemberElsewhere`` is raised and the caller's transaction writes nothing."""
    before = await conn.fetch("SELECT person_id, name, relation, birth_date, flags, work_region_code FROM members"
                              " WHERE household_id = $1 AND deceased_on IS NULL", h.household_id)
    after = {(m.person_id, m.name, m.relation, m.birth_date, tuple(sorted(set(m.flags))), m.work_region_code)
             for m in h.members}
    members_changed = {(r["person_id"], r["name"], r["relation"], r["birth_date"], tuple(r["flags"]),
                        r["work_region_code"]) for r in before} != after
    row = await conn.fetchrow(
        """
        INSERT INTO households (household_id, region_code, urban, categories, monthly_income_fen, remote)
        VALUES ($1, $2, $3, $4, $5, $7)
        ON CONFLICT (household_id) DO UPDATE SET
            region_code = EXCLUDED.region_code, urban = EXCLUDED.urban,
            categories = EXCLUDED.categories, monthly_income_fen = EXCLUDED.monthly_income_fen,
            remote = EXCLUDED.remote, updated_at = now(),
            version = households.version + CASE
                WHEN $6 OR (households.region_code, households.urban, households.categories,
                            households.monthly_income_fen, households.remote)
                     IS DISTINCT FROM (EXCLUDED.region_code, EXCLUDED.urban, EXCLUDED.categories,
                                       EXCLUDED.monthly_income_fen, EXCLUDED.remote) THEN 1 ELSE 0 END
        RETURNING version, (xmax = 0) AS created
        """,
        h.household_id, h.region_code, h.urban, sorted({str(c) for c in h.categories}), h.monthly_income_fen,
        members_changed and bool(before), h.remote,
    )
    keep = [m.person_id for m in h.members]
    await conn.execute("DELETE FROM members WHERE household_id = $1 AND NOT (person_id = ANY($2::text[]))",
                       h.household_id, keep)
    await conn.executemany(
        """
        INSERT INTO members (person_id, household_id, name, relation, birth_date, flags, work_region_code)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (person_id) DO UPDATE SET name = EXCLUDED.name,
            relation = EXCLUDED.relation, birth_date = EXCLUDED.birth_date, flags = EXCLUDED.flags,
            work_region_code = EXCLUDED.work_region_code
        WHERE members.household_id = EXCLUDED.household_id  -- never a silent move (MemberElsewhere below)
        """,
        [(m.person_id, h.household_id, m.name, m.relation, m.birth_date, sorted(set(m.flags)), m.work_region_code)
         for m in h.members],
    )
    elsewhere = await members_elsewhere(conn, keep, h.household_id)
    if elsewhere:
        r = elsewhere[0]
        raise MemberElsewhere(r["person_id"], r["household_id"], r["region_code"])
    return row["version"], row["created"]


async def household_view(conn: asyncpg.Connection, household_id: str) -> dict[str, Any] | None:
    h = await conn.fetchrow("SELECT * FROM households WHERE household_id = $1", household_id)
    if h is None:
        return None
    members = await conn.fetch(
        "SELECT person_id, name, relation, birth_date, flags, deceased_on, work_region_code FROM members"
        " WHERE household_id = $1 ORDER BY person_id", household_id)
    return {**dict(h), "members": [dict(m) for m in members]}


async def recipient_facts(conn: asyncpg.Connection, person_id: str, on: date) -> RecipientFacts:
    row = await conn.fetchrow(
        """
        SELECT m.person_id, m.deceased_on, h.household_id, h.region_code, h.urban, h.categories,
               h.monthly_income_fen,
               (SELECT count(*) FROM members x WHERE x.household_id = h.household_id
                  AND (x.deceased_on IS NULL OR x.deceased_on > $2)) AS size,
               (SELECT array_agg(x.person_id ORDER BY x.person_id) FROM members x
                 WHERE x.household_id = h.household_id) AS member_ids
        FROM members m JOIN households h USING (household_id)
        WHERE m.person_id = $1
        """,
        person_id, on,
    )
    if row is None:
        return RecipientFacts(found=False, person_id=person_id)
    return RecipientFacts(
        found=True, person_id=person_id, household_id=row["household_id"], region_code=row["region_code"],
        urban=row["urban"], categories=list(row["categories"]), household_size=row["size"],
        monthly_income_fen=row["monthly_income_fen"],
        deceased=row["deceased_on"] is not None and row["deceased_on"] <= on,
        member_ids=list(row["member_ids"] or []),
    )


async def open_case(
    conn: asyncpg.Connection, *, case_id: str, pathway: str, trigger: str, person_id: str | None,
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
                     workflow=row["workflow_type"], person_id=row["person_id"], region_code=row["region_code"],
                     business_date=row["business_date"], cause_event_id=row["cause_event_id"],
                     workflow_input=row["workflow_input"])


async def start_for_event(conn: asyncpg.Connection, event_id: str) -> CaseStart | None:
    row = await conn.fetchrow("SELECT c.* FROM case_causes x JOIN cases c USING (case_id) WHERE x.event_id = $1",
                              event_id)
    return start_of(row) if row is not None and row["workflow_type"] else None


async def start_for_case(conn: asyncpg.Connection, case_id: str) -> CaseStart | None:
    row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
    return start_of(row) if row is not None and row["workflow_type"] else None


async def open_case_for(conn: asyncpg.Connection, person_id: str, trigger: str) -> str | None:
    """The person's open outreach case for a measure, which their application joins."""
    return await conn.fetchval(
        "SELECT case_id FROM cases WHERE person_id = $1 AND trigger = $2 AND status <> 'closed'"
        " ORDER BY opened_at DESC LIMIT 1", person_id, trigger)


async def lock_household(conn: asyncpg.Connection, household_id: str) -> None:
    """Serialise event handling for one household until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('household:' || $1, 0))", household_id)


async def household_incident_case(conn: asyncpg.Connection, household_id: str, trigger: str, on: date,
                                  window_days: int) -> str | None:
    """The household's case for the same kind of incident within the window around the date, if any."""
    return await conn.fetchval(
        "SELECT case_id FROM cases WHERE household_id = $1 AND trigger = $2"
        " AND business_date BETWEEN $3::date - $4::int AND $3::date + $4::int"
        " ORDER BY business_date, opened_at LIMIT 1", household_id, trigger, on, window_days)


async def record_screening(conn: asyncpg.Connection, event_id: str, measure: str, person_id: str | None,
                           reason: str) -> None:
    await conn.execute("INSERT INTO screenings (event_id, measure, person_id, reason) VALUES ($1, $2, $3, $4)"
                       " ON CONFLICT DO NOTHING", event_id, measure, person_id, reason)


async def link_cause(conn: asyncpg.Connection, event_id: str, case_id: str) -> None:
    await conn.execute("INSERT INTO case_causes (event_id, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       event_id, case_id)


async def case_row(conn: asyncpg.Connection, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)


async def mark_workflow_started(conn: asyncpg.Connection, case_id: str) -> None:
    await conn.execute("UPDATE cases SET workflow_started_at = coalesce(workflow_started_at, now())"
                       " WHERE case_id = $1", case_id)


async def cases_not_started(conn: asyncpg.Connection, older_than_s: float) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM cases WHERE workflow_started_at IS NULL"
        " AND opened_at < now() - make_interval(secs => $1) ORDER BY opened_at LIMIT 100", older_than_s)


async def record_transition(conn: asyncpg.Connection, *, case_id: str, seq: int, status: str, stage: str,
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


async def mark_deceased(conn: asyncpg.Connection, person_id: str, died_on: date) -> bool:
    row = await conn.fetchrow("UPDATE members SET deceased_on = $2 WHERE person_id = $1 RETURNING household_id",
                              person_id, died_on)
    if row is not None:
        await conn.execute("UPDATE households SET updated_at = now(), version = version + 1 WHERE household_id = $1",
                           row["household_id"])
    return row is not None


async def set_income(conn: asyncpg.Connection, household_id: str, monthly_income_fen: int,
                     reason: str | None = None, effective_on: date | None = None) -> bool:
    row = await conn.fetchrow(
        "UPDATE households SET monthly_income_fen = $2, income_reason = coalesce($3, income_reason),"
        " income_changed_on = coalesce($4, income_changed_on), updated_at = now(), version = version + 1"
        " WHERE household_id = $1 RETURNING household_id", household_id, monthly_income_fen, reason, effective_on)
    return row is not None
