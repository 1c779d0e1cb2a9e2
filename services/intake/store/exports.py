"""Intake's streamed exports (service accounts only): a region's cohort and a cycle's payment roll, as CSV
from ``COPY (SELECT ...) TO STDOUT`` in one read-only REPEATABLE READ snapshot, so the count sent in a
header and the rows agree (the streaming: shared/infra/copy_stream.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import asyncpg

from shared.infra.copy_stream import snapshot_export

# Who is a recipient, and of what, is the roster's answer (intake's ``enrolments``): a household enrolled
# through a dibao application is a dibao recipient whatever categories its registry row was created with,
# and one whose benefit ended is not. Households not on the roster (registered recipients never enrolled
# through doudi) keep their registry categories; other categories (orphan, marginal...) are the registry's.
RECIPIENTS_CTE = """
WITH recipients AS (
    SELECT h.household_id, h.region_code, h.urban,
           CASE WHEN e.household_id IS NULL THEN h.categories
                ELSE array(SELECT c FROM unnest(h.categories) AS c
                           WHERE c NOT IN ('dibao', 'extreme_poverty'))
                     || CASE WHEN e.status <> 'terminated'
                                  AND e.enrolled_from <= to_char($3::date, 'YYYY-MM')
                             THEN ARRAY[e.kind] ELSE '{}'::text[] END
           END AS categories
    FROM households h LEFT JOIN enrolments e USING (household_id)
    WHERE starts_with(h.region_code, $1)
)
"""
COHORT_SQL = RECIPIENTS_CTE + """
SELECT row_number() OVER () AS ordinal, m.person_id, m.household_id, h.region_code, h.categories, h.urban
FROM recipients h JOIN members m USING (household_id)
WHERE h.categories && $2::text[] AND (m.deceased_on IS NULL OR m.deceased_on > $3::date)
"""
COUNT_SQL = RECIPIENTS_CTE + """
SELECT count(*) FROM recipients h JOIN members m USING (household_id)
WHERE h.categories && $2::text[] AND (m.deceased_on IS NULL OR m.deceased_on > $3::date)
"""
ROLL_SQL = ("SELECT ordinal, household_id, enrolment_id, person_id, region_code, measure, amount_fen,"
            " idempotency_key FROM period_rolls WHERE cycle_id = $1 ORDER BY ordinal")
ROLL_COUNT_SQL = "SELECT coalesce(max(on_roll), 0) FROM review_cycles WHERE cycle_id = $1"


async def cohort_export(pool: asyncpg.Pool, region_prefix: str, categories: list[str],
                        on: date) -> tuple[int, AsyncIterator[bytes]]:
    """How many rows, and the rows: every living member (on ``on``) of the region's households holding
    any of ``categories`` (``RECIPIENTS_CTE``)."""
    return await snapshot_export(pool, COUNT_SQL, COHORT_SQL, region_prefix, categories, on)


async def roll_export(pool: asyncpg.Pool, cycle_id: str) -> tuple[int, AsyncIterator[bytes]]:
    """How many rows, and the rows of a cycle's payment roll, by ordinal."""
    return await snapshot_export(pool, ROLL_COUNT_SQL, ROLL_SQL, cycle_id)
