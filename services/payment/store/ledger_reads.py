"""Reading the ledger for the office's records (家庭档案, exports, the monthly report): a household's rows,
a month's rows of a region as streamed CSV, and a month's sums by region and measure. Read-only.

A month is a month of Beijing time (the office's calendar, China Standard Time, no daylight saving): a row
belongs to the month in which it was written (``created_at``, when the money moved)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict

from services.payment.store import Conn
from shared.contracts.records import MeasureSum
from shared.infra.copy_stream import snapshot_export

OFFICE_TIMEZONE = "Asia/Shanghai"

# $1 = YYYY-MM, $2 = region prefix ("" = every region)
_IN_MONTH = f"""
    starts_with(region_code, $2)
    AND created_at >= (($1 || '-01')::date)::timestamp AT TIME ZONE '{OFFICE_TIMEZONE}'
    AND created_at < (($1 || '-01')::date + interval '1 month')::timestamp AT TIME ZONE '{OFFICE_TIMEZONE}'
"""

EXPORT_COLUMNS = ("entry_seq", "payment_id", "kind", "case_id", "pathway", "person_id", "household_id",
                  "region_code", "measure", "amount_fen", "installment", "created_at")
# person movements only (a reserve credit is money between accounts, not aid to anyone)
_EXPORT_SQL = (f"SELECT {', '.join(EXPORT_COLUMNS[:-1])}, to_char(created_at AT TIME ZONE 'UTC',"
               " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at FROM ledger"
               f" WHERE kind <> 'reserve_credit' AND {_IN_MONTH} ORDER BY entry_seq")
_EXPORT_COUNT_SQL = f"SELECT count(*) FROM ledger WHERE kind <> 'reserve_credit' AND {_IN_MONTH}"

# a month's disbursements of some measures per household (and county), in the byte order of the household
# ids (COLLATE "C"), so that a reader can merge them with another service's list in the same order
HOUSEHOLD_SUM_COLUMNS = ("household_id", "county_code", "payments", "persons", "amount_fen")
_HOUSEHOLD_SUMS_WHERE = (f"kind = 'disbursement' AND household_id IS NOT NULL AND measure = ANY($3::text[])"
                         f" AND {_IN_MONTH}")
_HOUSEHOLD_SUMS_SQL = (
    "SELECT household_id, left(region_code, 6) AS county_code, count(*) AS payments,"
    " count(DISTINCT person_id) AS persons, sum(amount_fen)::bigint AS amount_fen FROM ledger"
    f" WHERE {_HOUSEHOLD_SUMS_WHERE} GROUP BY 1, 2 ORDER BY household_id COLLATE \"C\", 2")
_HOUSEHOLD_SUMS_COUNT_SQL = (f"SELECT count(*) FROM (SELECT DISTINCT household_id, left(region_code, 6)"
                             f" FROM ledger WHERE {_HOUSEHOLD_SUMS_WHERE}) s")


class LedgerRow(BaseModel):
    """One ledger row as the household file shows it (money in fen; ``kind``: disbursement, recovery_claim)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "entry_seq": 312, "payment_id": "pay-em-7f3c2a91-1", "kind": "disbursement", "case_id": "em-7f3c2a91",
            "pathway": "emergency_relief", "person_id": "640104198003151020", "household_id": "hh-640104-000123",
            "region_code": "640104", "measure": "quarantine", "amount_fen": 195000, "installment": 1,
            "reference": None, "note": None, "created_at": "2026-12-01T08:30:04+08:00",
        },
    ]})

    entry_seq: int
    payment_id: str
    kind: str
    case_id: str | None
    pathway: str | None
    person_id: str | None
    household_id: str | None
    region_code: str
    measure: str | None
    amount_fen: int
    installment: int
    reference: str | None
    note: str | None
    created_at: datetime


async def household_rows(conn: Conn, household_id: str, person_ids: list[str], *,
                         jurisdiction: str) -> list[LedgerRow]:
    """Every person movement of the household or of one of its members, in the jurisdiction, in order."""
    rows = await conn.fetch(
        "SELECT entry_seq, payment_id, kind, case_id, pathway, person_id, household_id, region_code, measure,"
        " amount_fen, installment, reference, note, created_at FROM ledger"
        " WHERE kind <> 'reserve_credit' AND (household_id = $1 OR person_id = ANY($2::text[]))"
        " AND starts_with(region_code, $3) ORDER BY entry_seq LIMIT 5000",
        household_id, person_ids, jurisdiction)
    return [LedgerRow(**dict(r)) for r in rows]


async def month_export(pool: asyncpg.Pool, month: str, region_prefix: str) -> tuple[int, AsyncIterator[bytes]]:
    """How many rows, and the rows (CSV with a header, ``EXPORT_COLUMNS``) of a month in a region."""
    return await snapshot_export(pool, _EXPORT_COUNT_SQL, _EXPORT_SQL, month, region_prefix)


async def household_sums(pool: asyncpg.Pool, month: str, region_prefix: str,
                         measures: list[str]) -> tuple[int, AsyncIterator[bytes]]:
    """How many rows, and the rows (CSV, ``HOUSEHOLD_SUM_COLUMNS``) of a month's disbursements of
    ``measures`` per household and county, by household id in byte order."""
    return await snapshot_export(pool, _HOUSEHOLD_SUMS_COUNT_SQL, _HOUSEHOLD_SUMS_SQL, month, region_prefix,
                                 measures)


async def month_sums(conn: Conn, month: str, region_prefix: str, level: int) -> list[MeasureSum]:
    """A month's disbursements by region (its code's first ``level`` digits) and measure."""
    rows = await conn.fetch(
        "SELECT left(region_code, $3) AS region_code, measure, count(*) AS payments,"
        " count(DISTINCT person_id) AS persons, count(DISTINCT household_id) AS households,"
        " sum(amount_fen)::bigint AS amount_fen FROM ledger"
        f" WHERE kind = 'disbursement' AND {_IN_MONTH} GROUP BY 1, 2 ORDER BY 1, 2",
        month, region_prefix, level)
    return [MeasureSum(**dict(r)) for r in rows]


class LedgerRecords:
    """The pool, for the ledger's record routes (``app.state.ledger_records``): no route holds it."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def household(self, household_id: str, person_ids: list[str], jurisdiction: str) -> list[LedgerRow]:
        async with self._pool.acquire() as conn:
            return await household_rows(conn, household_id, person_ids, jurisdiction=jurisdiction)

    async def month_export(self, month: str, region_prefix: str) -> tuple[int, AsyncIterator[bytes]]:
        return await month_export(self._pool, month, region_prefix)

    async def household_sums(self, month: str, region_prefix: str,
                             measures: list[str]) -> tuple[int, AsyncIterator[bytes]]:
        return await household_sums(self._pool, month, region_prefix, measures)

    async def month_sums(self, month: str, region_prefix: str, level: int) -> list[MeasureSum]:
        async with self._pool.acquire() as conn:
            return await month_sums(conn, month, region_prefix, level)
