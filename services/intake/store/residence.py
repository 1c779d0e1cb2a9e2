"""The SQL of applying where you live (schema ``intake``): the registration office's notices and the
once-per-cause claims (services/intake/residence.py says the rule)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.intake.store.conn import Conn

# a closed case with one of these outcomes paid nothing: its claim is given up
UNPAID_OUTCOMES = frozenset({"not_payable", "rejected", "no_application"})


@dataclass(frozen=True)
class Notice:
    case_id: str
    person_id: str
    kind: str
    basis: str
    registered_region_code: str
    deciding_region_code: str
    evidence: str


async def registered_region(conn: Conn, person_id: str) -> str | None:
    """The region of the household the person is registered in (None: not in the registry)."""
    return await conn.fetchval("SELECT h.region_code FROM members m JOIN households h USING (household_id)"
                               " WHERE m.person_id = $1", person_id)


async def add_notice(conn: Conn, n: Notice) -> bool:
    return bool(await conn.fetchval(
        """
        INSERT INTO registration_notices (case_id, person_id, kind, basis, registered_region_code,
                                          deciding_region_code, evidence)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id) DO NOTHING RETURNING true
        """, n.case_id, n.person_id, n.kind, n.basis, n.registered_region_code, n.deciding_region_code,
        n.evidence))


async def notices_for(conn: Conn, jurisdiction: str, limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    """Notices to the registration offices in ``jurisdiction`` (a region prefix), newest first."""
    total = await conn.fetchval("SELECT count(*) FROM registration_notices"
                                " WHERE starts_with(registered_region_code, $1)", jurisdiction)
    rows = await conn.fetch(
        "SELECT n.*, c.status FROM registration_notices n JOIN cases c USING (case_id)"
        " WHERE starts_with(n.registered_region_code, $1) ORDER BY n.noticed_at DESC, n.case_id"
        f" LIMIT {int(limit)} OFFSET {int(offset)}", jurisdiction)
    return list(rows), total


async def claim_once(conn: Conn, claim_key: str, case_id: str, region_code: str) -> asyncpg.Record | None:
    """Take the claim for ``case_id``; None when taken (or already held by it), else the case that holds it
    (its ``case_id`` and ``region_code``). A held case closed without a payment gives the claim up.
    Serialised per key: two offices applying at once, one wins."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('once:' || $1, 0))", claim_key)
    holder = await conn.fetchrow(
        """
        SELECT o.case_id, o.region_code, c.status,
               (SELECT t.detail->>'outcome' FROM case_transitions t WHERE t.case_id = o.case_id
                ORDER BY t.seq DESC LIMIT 1) AS outcome
        FROM once_claims o JOIN cases c USING (case_id) WHERE o.claim_key = $1
        """, claim_key)
    if holder is not None and holder["case_id"] != case_id and not (
            holder["status"] == "closed" and holder["outcome"] in UNPAID_OUTCOMES):
        return holder
    await conn.execute(
        "INSERT INTO once_claims (claim_key, case_id, region_code) VALUES ($1, $2, $3)"
        " ON CONFLICT (claim_key) DO UPDATE SET case_id = EXCLUDED.case_id, region_code = EXCLUDED.region_code,"
        " claimed_at = now()", claim_key, case_id, region_code)
    return None
