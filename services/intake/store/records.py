"""The registry and the roster for the office's records (家庭档案 search, the roster export, the monthly
report's recipients). Read-only; the front door asks through ``services/intake/records_routes.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from services.intake.store.conn import Conn
from shared.contracts.records import HitMember, HouseholdHit, RecipientCount
from shared.infra.copy_stream import snapshot_export

SEARCH_LIMIT = 50

_SEARCH_SQL = """
SELECT h.household_id, h.region_code, h.urban, h.categories, e.kind AS enrolment_kind,
       e.status AS enrolment_status,
       CASE WHEN h.household_id = $1 THEN 'household_id'
            WHEN EXISTS (SELECT 1 FROM members m WHERE m.household_id = h.household_id AND m.person_id = $2)
                 THEN 'person_id'
            ELSE 'name' END AS matched_by
FROM households h LEFT JOIN enrolments e USING (household_id)
WHERE starts_with(h.region_code, $3)
  AND (h.household_id = $1
       OR h.household_id IN (SELECT household_id FROM members WHERE person_id = $2)
       OR h.household_id IN (SELECT household_id FROM members WHERE name LIKE $5))
ORDER BY (h.household_id = $1) DESC, h.household_id
LIMIT $4
"""


async def search_households(conn: Conn, q: str, *, jurisdiction: str) -> list[HouseholdHit]:
    """Households in the jurisdiction whose id is ``q``, with a member whose national ID is ``q`` (an ``x``
    check character read as ``X``), or with a member whose name starts with ``q``; at most ``SEARCH_LIMIT``."""
    name_prefix = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"  # LIKE, literally
    rows = await conn.fetch(_SEARCH_SQL, q, q.upper(), jurisdiction, SEARCH_LIMIT, name_prefix)
    members = await conn.fetch("SELECT household_id, person_id, name, relation FROM members"
                               " WHERE household_id = ANY($1::text[]) ORDER BY household_id, person_id",
                               [r["household_id"] for r in rows])
    by_household: dict[str, list[HitMember]] = {}
    for m in members:
        by_household.setdefault(m["household_id"], []).append(
            HitMember(person_id=m["person_id"], name=m["name"], relation=m["relation"]))
    return [HouseholdHit(**dict(r), members=by_household.get(r["household_id"], [])) for r in rows]


# $1 region prefix, $2 YYYY-MM ('' = now): households on the roster (not terminated) enrolled by the month
_ON_ROSTER = """
FROM enrolments e JOIN households h USING (household_id)
WHERE starts_with(e.region_code, $1) AND e.status <> 'terminated' AND ($2 = '' OR e.enrolled_from <= $2)
"""
_LIVING = "(m.deceased_on IS NULL OR ($2 <> '' AND to_char(m.deceased_on, 'YYYY-MM') > $2))"
ROSTER_COLUMNS = ("household_id", "enrolment_id", "person_id", "head_name", "region_code", "urban", "kind",
                  "status", "level_fen", "persons", "enrolled_from", "paid_through", "next_review")
_ROSTER_SQL = f"""
SELECT e.household_id, e.enrolment_id, e.person_id,
       (SELECT name FROM members m WHERE m.person_id = e.person_id) AS head_name, e.region_code, h.urban,
       e.kind, e.status, e.level_fen,
       (SELECT count(*) FROM members m WHERE m.household_id = e.household_id AND {_LIVING}) AS persons,
       e.enrolled_from, e.paid_through, e.next_review
{_ON_ROSTER} ORDER BY e.region_code, e.household_id
"""
_ROSTER_COUNT_SQL = f"SELECT count(*) {_ON_ROSTER}"
_RECIPIENTS_SQL = f"""
SELECT left(e.region_code, $3) AS region_code, e.kind, h.urban, count(*) AS households,
       coalesce(sum((SELECT count(*) FROM members m WHERE m.household_id = e.household_id AND {_LIVING})), 0)
           ::bigint AS persons,
       coalesce(sum(e.level_fen), 0)::bigint AS level_fen
{_ON_ROSTER} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""


# every household of a region and whether it is urban (城市) or rural (农村), by household id in byte order
AREA_COLUMNS = ("household_id", "urban")
_AREAS_SQL = ("SELECT household_id, urban FROM households WHERE starts_with(region_code, $1)"
              " ORDER BY household_id COLLATE \"C\"")
_AREAS_COUNT_SQL = "SELECT count(*) FROM households WHERE starts_with(region_code, $1)"


async def areas_export(pool: asyncpg.Pool, region_prefix: str) -> tuple[int, AsyncIterator[bytes]]:
    """How many households, and the rows (CSV, ``AREA_COLUMNS``) of the region's households."""
    return await snapshot_export(pool, _AREAS_COUNT_SQL, _AREAS_SQL, region_prefix)


async def roster_export(pool: asyncpg.Pool, region_prefix: str, month: str) -> tuple[int, AsyncIterator[bytes]]:
    """How many households, and the rows (CSV with a header, ``ROSTER_COLUMNS``) of the region's roster."""
    return await snapshot_export(pool, _ROSTER_COUNT_SQL, _ROSTER_SQL, region_prefix, month)


async def recipient_counts(conn: Conn, region_prefix: str, month: str, level: int) -> list[RecipientCount]:
    """The roster of a month by region (its code's first ``level`` digits), kind and area."""
    rows = await conn.fetch(_RECIPIENTS_SQL, region_prefix, month, level)
    return [RecipientCount(**dict(r)) for r in rows]


class RecordReads:
    """The pool, for the record routes (``app.state.records``): no route holds it."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def search(self, q: str, jurisdiction: str) -> list[HouseholdHit]:
        async with self._pool.acquire() as conn:
            return await search_households(conn, q, jurisdiction=jurisdiction)

    async def roster_export(self, region_prefix: str, month: str) -> tuple[int, AsyncIterator[bytes]]:
        return await roster_export(self._pool, region_prefix, month)

    async def areas_export(self, region_prefix: str) -> tuple[int, AsyncIterator[bytes]]:
        return await areas_export(self._pool, region_prefix)

    async def recipient_counts(self, region_prefix: str, month: str, level: int) -> list[RecipientCount]:
        async with self._pool.acquire() as conn:
            return await recipient_counts(conn, region_prefix, month, level)
