"""The household registry's SQL (schema ``intake``): households, members, registry changes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, computed_field

from services.intake.store.conn import Conn
from shared.contracts.activities import RecipientFacts
from shared.contracts.api import REGION_NAME, HouseholdIn
from shared.regions import region_name


async def household_categories(conn: Conn, household_id: str) -> set[str] | None:
    """The categories a registered household holds (None: not registered), locked for this transaction."""
    row = await conn.fetchrow("SELECT categories FROM households WHERE household_id = $1 FOR UPDATE",
                              household_id)
    return None if row is None else set(row["categories"])


async def household_version(conn: Conn, household_id: str) -> int | None:
    """The version of a household's data (None: not registered)."""
    return await conn.fetchval("SELECT version FROM households WHERE household_id = $1", household_id)


async def members_elsewhere(conn: Conn, person_ids: list[str],
                            household_id: str) -> list[asyncpg.Record]:
    """The given people who belong to another household than ``household_id``: person_id, household_id,
    region_code (their rows locked, so no one moves them meanwhile)."""
    return await conn.fetch(
        "SELECT m.person_id, m.household_id, h.region_code"
        " FROM members m JOIN households h USING (household_id)"
        " WHERE m.person_id = ANY($1::text[]) AND m.household_id <> $2"
        " ORDER BY m.person_id FOR UPDATE OF m",
        person_ids, household_id)


async def move_member_out(conn: Conn, person_id: str, from_household_id: str, to_household_id: str,
                          *, actor: str, role: str) -> None:
    """An explicit move (same county): the person leaves their household, which the monthly cycle then
    reviews (its version moves); recorded with who moved them."""
    await conn.execute("DELETE FROM members WHERE person_id = $1 AND household_id = $2",
                       person_id, from_household_id)
    await _changed(conn, from_household_id)
    await conn.execute(
        "INSERT INTO registry_changes (kind, household_id, person_id, from_household_id, actor, role)"
        " VALUES ('member_moved', $1, $2, $3, $4, $5)",
        to_household_id, person_id, from_household_id, actor, role)


async def _changed(conn: Conn, household_id: str) -> None:
    """The household's data changed: its version moves (the monthly cycle reviews it)."""
    await conn.execute("UPDATE households SET updated_at = now(), version = version + 1"
                       " WHERE household_id = $1", household_id)


async def record_roster_registration(conn: Conn, h: HouseholdIn, *, actor: str, role: str) -> None:
    await conn.execute(
        "INSERT INTO registry_changes (kind, household_id, categories, actor, role)"
        " VALUES ('roster', $1, $2, $3, $4)",
        h.household_id, sorted({str(c) for c in h.categories}), actor, role)


async def registry_changes(conn: Conn, household_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM registry_changes WHERE household_id = $1 ORDER BY change_id",
                            household_id)


class MemberElsewhere(Exception):
    """A member of a household being registered already belongs to another household."""

    def __init__(self, person_id: str, household_id: str, region_code: str):
        super().__init__(f"person already in household {household_id}")
        self.person_id = person_id
        self.household_id = household_id
        self.region_code = region_code


async def _members_changed(conn: Conn, h: HouseholdIn) -> bool:
    """Whether the living members registered differ from ``h``'s (False for a new household)."""
    before = await conn.fetch("SELECT person_id, name, relation, birth_date, flags, work_region_code"
                              " FROM members WHERE household_id = $1 AND deceased_on IS NULL", h.household_id)
    after = {(m.person_id, m.name, m.relation, m.birth_date, tuple(sorted(set(m.flags))), m.work_region_code)
             for m in h.members}
    return bool(before) and {(r["person_id"], r["name"], r["relation"], r["birth_date"], tuple(r["flags"]),
                              r["work_region_code"]) for r in before} != after


async def upsert_household(conn: Conn, h: HouseholdIn) -> tuple[int, bool]:
    """Register or update a household. ``version`` counts changes of its data: re-registering the same
    data changes nothing (the monthly cycle reviews a household whose version moved).

    A person belongs to one household: a member registered in another household is never moved here
    (the caller refuses it, or moves them out first with ``move_member_out``); should one slip in
    meanwhile, ``MemberElsewhere`` is raised and the caller's transaction writes nothing."""
    members_changed = await _members_changed(conn, h)
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
        members_changed, h.remote,
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
        [(m.person_id, h.household_id, m.name, m.relation, m.birth_date, sorted(set(m.flags)),
          m.work_region_code) for m in h.members],
    )
    elsewhere = await members_elsewhere(conn, keep, h.household_id)
    if elsewhere:
        r = elsewhere[0]
        raise MemberElsewhere(r["person_id"], r["household_id"], r["region_code"])
    assert row is not None  # an upsert returns its row
    return row["version"], row["created"]


class MemberView(BaseModel):
    person_id: str
    name: str
    relation: str
    birth_date: date
    flags: list[str]
    deceased_on: date | None
    work_region_code: str | None


class HouseholdView(BaseModel):
    """A household as the registry holds it (its row and its members)."""

    # extra="allow": a column added by a later migration still shows
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {
            "household_id": "hh-640104-000123", "region_code": "640104", "urban": True, "categories": ["dibao"],
            "monthly_income_fen": 0, "created_at": "2026-12-01T08:30:00+08:00",
            "updated_at": "2026-12-01T08:30:00+08:00", "version": 1, "income_reason": None, "income_changed_on": None,
            "remote": False,
            "members": [
                {
                    "person_id": "640104198003151020", "name": "马建国", "relation": "本人",
                    "birth_date": "1980-03-15", "flags": [], "deceased_on": None, "work_region_code": None,
                },
            ],
        },
    ]})

    household_id: str
    region_code: str
    urban: bool
    categories: list[str]
    monthly_income_fen: int
    created_at: datetime
    updated_at: datetime
    version: int
    income_reason: str | None = None
    income_changed_on: date | None = None
    remote: bool = False
    members: list[MemberView]

    # pydantic's documented computed_field-over-property pattern, which mypy does not model
    @computed_field(description=REGION_NAME)  # type: ignore[prop-decorator]
    @property
    def region_name(self) -> str | None:
        return region_name(self.region_code)


async def household_view(conn: Conn, household_id: str) -> HouseholdView | None:
    h = await household_row(conn, household_id)
    if h is None:
        return None
    members = await conn.fetch(
        "SELECT person_id, name, relation, birth_date, flags, deceased_on, work_region_code FROM members"
        " WHERE household_id = $1 ORDER BY person_id", household_id)
    return HouseholdView(**dict(h), members=[MemberView(**dict(m)) for m in members])


async def recipient_facts(conn: Conn, person_id: str, on: date) -> RecipientFacts:
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


async def mark_deceased(conn: Conn, person_id: str, died_on: date) -> bool:
    row = await conn.fetchrow("UPDATE members SET deceased_on = $2 WHERE person_id = $1"
                              " RETURNING household_id", person_id, died_on)
    if row is not None:
        await _changed(conn, row["household_id"])
    return row is not None


async def set_income(conn: Conn, household_id: str, monthly_income_fen: int,
                     reason: str | None = None, effective_on: date | None = None) -> bool:
    row = await conn.fetchrow(
        "UPDATE households SET monthly_income_fen = $2, income_reason = coalesce($3, income_reason),"
        " income_changed_on = coalesce($4, income_changed_on), updated_at = now(), version = version + 1"
        " WHERE household_id = $1 RETURNING household_id",
        household_id, monthly_income_fen, reason, effective_on)
    return row is not None


async def household_row(conn: Conn, household_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM households WHERE household_id = $1", household_id)


async def household_of_member(conn: Conn, person_id: str) -> asyncpg.Record | None:
    """The household a person is a member of, as registered (None: not in the registry)."""
    return await conn.fetchrow("SELECT h.* FROM households h JOIN members m USING (household_id)"
                               " WHERE m.person_id = $1", person_id)


async def household_id_of(conn: Conn, person_id: str) -> str | None:
    return await conn.fetchval("SELECT household_id FROM members WHERE person_id = $1", person_id)


async def members_of(conn: Conn, household_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The members (living or not) of each household, by household id."""
    rows = await conn.fetch("SELECT household_id, person_id, relation, birth_date, flags, deceased_on,"
                            " work_region_code FROM members WHERE household_id = ANY($1::text[])",
                            household_ids)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["household_id"], []).append(dict(r))
    return out
