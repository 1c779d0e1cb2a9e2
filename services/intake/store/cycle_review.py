"""The SQL of the cycle's set-based review of changed households (schema ``intake``; the steps and why:
services/intake/cycle_review.py). Runs inside the cycle's transaction, after 提标 loaded the price table
``cycle_standards`` and the region terms ``cycle_terms``."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from services.intake.store.conn import Conn
from services.intake.store.cycle import level_sql

# The changed households the cycle carries, with the facts a review reads from the registry for the period
# (household_from_registry: members living on its first day; special = minor under 18, 60 or over, or
# severely disabled / seriously ill; working-age 16 to under 60; employed at home or away) and the level
# monthly_benefit gives at the period's row of the price table (level_sql, term by term). NULL level: the
# price table does not cover it (priced in Python) or no pack prices it. ``needs_person``: the registry no
# longer places the household or its applicant here (the renewal case's look-up would end it: a person).
REVIEW_TARGETS_SQL = """
CREATE TEMP TABLE cycle_reviewed ON COMMIT DROP AS
WITH f AS (
    SELECT e.household_id, e.enrolment_id, e.person_id, e.region_code, e.kind, h.urban, h.version,
           e.level_fen AS old_level, e.next_review AS old_next_review, e.reviewed_version,
           e.monthly_rigid_expenditure_fen AS rigid_fen, h.monthly_income_fen AS income_fen, h.remote,
           h.income_reason, e.single_person, coalesce(m.living, 0) AS persons,
           coalesce(m.special, 0) AS special_members, coalesce(m.working_at_home, 0) AS working_at_home,
           (NOT starts_with(h.region_code, left(e.region_code, 6)) OR NOT EXISTS (
               SELECT 1 FROM members a WHERE a.person_id = e.person_id AND a.household_id = e.household_id
                 AND (a.deceased_on IS NULL OR a.deceased_on > $2::date))) AS needs_person,
           (e.single_person OR coalesce(m.away, 0) > 0
            OR (e.kind = 'extreme_poverty' AND (coalesce(m.full_care, 0) > 0 OR h.categories @> '{orphan}')))
               AS priced_in_python,
           -- seed 004: yearly for extreme poverty and stable income without working-age members
           CASE WHEN e.kind <> 'extreme_poverty' AND (e.cadence <> 'stable' OR coalesce(m.working_age, 0) > 0)
                THEN 'unstable' ELSE 'stable' END AS cadence
    FROM enrolments e JOIN households h USING (household_id)
    LEFT JOIN (SELECT household_id, count(*)::int AS living,
                      (count(*) FILTER (WHERE birth_date > $3::date OR birth_date <= $4::date
                                        OR flags && '{severely_disabled,seriously_ill}'))::int AS special,
                      (count(*) FILTER (WHERE birth_date > $4::date AND birth_date <= $5::date))::int
                          AS working_age,
                      (count(*) FILTER (WHERE flags @> '{employed}' AND work_region_code IS NULL))::int
                          AS working_at_home,
                      (count(*) FILTER (WHERE flags @> '{employed}' AND work_region_code IS NOT NULL))::int
                          AS away,
                      (count(*) FILTER (WHERE flags @> '{full_care}'))::int AS full_care
               FROM members WHERE deceased_on IS NULL OR deceased_on > $2::date
               GROUP BY household_id) m USING (household_id)
    WHERE starts_with(e.region_code, $1) AND e.status = 'active' AND e.managed_by = 'cycle'
      AND h.version <> e.reviewed_version
)
SELECT f.*, s.per_person_fen AS std_fen, s.version AS std_version, s.effective AS std_from,
       CASE WHEN s.region_code IS NULL OR f.priced_in_python OR f.persons = 0 THEN NULL
            ELSE greatest(LEVEL, 0)::bigint END AS new_level,
       CASE WHEN f.old_next_review <= $6 THEN 'scheduled' ELSE 'off-cycle' END AS review_kind,
       to_char(to_date($6 || '-01', 'YYYY-MM-DD') + make_interval(months => CASE f.cadence
           WHEN 'stable' THEN t.stable_months ELSE t.unstable_months END), 'YYYY-MM') AS next_review,
       NULL::text AS outcome, 0 AS exit_months, ''::text AS why, NULL::text AS case_id
FROM f LEFT JOIN cycle_standards s ON s.region_code = f.region_code AND s.urban = f.urban AND s.kind = f.kind
                                  AND s.period = $6
       LEFT JOIN cycle_terms t ON t.region_code = f.region_code
""".replace("LEVEL", level_sql("f", "s"))

# What the price table decides: a payable level is adjusted (or continues when it is the same).
SQL_OUTCOMES_SQL = """
UPDATE cycle_reviewed
SET outcome = CASE WHEN new_level <> old_level THEN 'adjust' ELSE 'continue' END,
    why = new_level || ' fen/month (standard ' || std_fen || ' fen x ' || persons || ', income '
          || income_fen || ' fen)'
WHERE NOT needs_person AND new_level > 0
"""

ROSTER_SQL = """
UPDATE enrolments e
SET level_fen = CASE WHEN r.outcome IN ('adjust', 'continue') THEN r.new_level ELSE e.level_fen END,
    status = CASE r.outcome WHEN 'gradual_exit' THEN 'gradual_exit' WHEN 'exit' THEN 'terminated'
                            ELSE 'active' END,
    exit_on = CASE r.outcome WHEN 'gradual_exit'
                   THEN to_char(to_date($1 || '-01', 'YYYY-MM-DD') + make_interval(months => r.exit_months), 'YYYY-MM')
                   WHEN 'exit' THEN $1 END,
    cadence = r.cadence, next_review = r.next_review, reviewed_version = r.version,
    standard_fen = CASE WHEN r.outcome IN ('adjust', 'continue') THEN r.std_fen ELSE e.standard_fen END,
    standard_version = CASE WHEN r.outcome IN ('adjust', 'continue') THEN r.std_version
                            ELSE e.standard_version END,
    standard_from = CASE WHEN r.outcome IN ('adjust', 'continue') THEN r.std_from ELSE e.standard_from END,
    -- the facts the level was computed from are the registry's as the review read them (benefit_facts
    -- NULL: 提标 reads the registry, as for an imported row)
    benefit_facts = NULL, persons = CASE WHEN r.single_person THEN 1 ELSE r.persons END,
    income_fen = r.income_fen, special_members = r.special_members, remote = r.remote,
    working_at_home = r.working_at_home, priced_in_python = r.priced_in_python, updated_at = now()
FROM cycle_reviewed r
WHERE r.household_id = e.household_id AND r.outcome IS NOT NULL
"""

# A gradual exit's months as rows with their dates: the review's period and the months after it.
EXIT_MONTHS_SQL = """
INSERT INTO enrolment_exit_months (household_id, period, level_fen, due_on, review_cycle, case_id)
SELECT r.household_id, to_char(d, 'YYYY-MM'), r.old_level, d::date, $2, r.case_id
FROM cycle_reviewed r
CROSS JOIN LATERAL generate_series(to_date($1 || '-01', 'YYYY-MM-DD'),
                                   to_date($1 || '-01', 'YYYY-MM-DD') + make_interval(months => r.exit_months - 1),
                                   interval '1 month') d
WHERE r.outcome = 'gradual_exit'
ON CONFLICT DO NOTHING
"""

REVIEWS_SQL = """
INSERT INTO enrolment_reviews (household_id, period, kind, outcome, level_fen, case_id, cycle_id)
SELECT household_id, $1, review_kind, outcome, CASE WHEN outcome IN ('adjust', 'continue') THEN new_level
                                                    ELSE old_level END, case_id, $2
FROM cycle_reviewed WHERE outcome IS NOT NULL
ON CONFLICT DO NOTHING
"""

# 提标 this cycle: the roll pays the reviewed level (the review priced it at the period's entry); a
# household leaving is paid the level it keeps. Its back-pay (months already paid) stays owed.
REPRICED_SQL = """
UPDATE cycle_repriced p
SET new_level = CASE WHEN r.outcome IN ('adjust', 'continue') THEN r.new_level ELSE r.old_level END
FROM cycle_reviewed r WHERE r.household_id = p.household_id AND r.outcome IS NOT NULL
"""

# The review's case record, closed unless a gradual exit keeps it open until the exit ends.
CASES_SQL = """
INSERT INTO cases (case_id, pathway, trigger, person_id, household_id, region_code, business_date,
                   cause_event_id, status, stage, workflow_type)
SELECT case_id, $1, 'review_cycle_set', person_id, household_id, region_code, $2::date, $3,
       CASE WHEN outcome = 'gradual_exit' THEN 'open' ELSE 'closed' END,
       CASE WHEN outcome = 'gradual_exit' THEN 'review_gradual_exit' ELSE 'closed' END, NULL
FROM cycle_reviewed WHERE outcome IS NOT NULL
ON CONFLICT (case_id) DO NOTHING
"""

# Gradual exits whose last month has passed end (the first period not paid is ``exit_on``); in a region
# whose exits are suspended (seed 002 疫情防控期间暂停低保退出) the exit moves on a month, the month paid.
END_EXITS_SQL = """
WITH ended AS (
    UPDATE enrolments e SET status = 'terminated', updated_at = now()
    WHERE starts_with(e.region_code, $1) AND e.status = 'gradual_exit' AND e.managed_by = 'cycle'
      AND e.exit_on <= $2 AND NOT (e.region_code = ANY($4::text[]))
    RETURNING e.household_id, e.person_id, e.region_code, e.level_fen, e.exit_on
), rec AS (
    INSERT INTO enrolment_reviews (household_id, period, kind, outcome, level_fen, case_id, cycle_id)
    SELECT n.household_id, $2, 'exit', 'terminated', n.level_fen, x.case_id, $3 FROM ended n
    LEFT JOIN LATERAL (SELECT case_id FROM enrolment_exit_months m WHERE m.household_id = n.household_id
                       ORDER BY period DESC LIMIT 1) x ON true
    ON CONFLICT DO NOTHING
    RETURNING household_id, case_id, level_fen
)
SELECT r.household_id, r.case_id, r.level_fen, n.person_id, n.region_code, n.exit_on
FROM rec r JOIN ended n USING (household_id)
"""

SUSPEND_EXITS_SQL = """
WITH moved AS (
    UPDATE enrolments e
    SET exit_on = to_char(to_date($2 || '-01', 'YYYY-MM-DD') + interval '1 month', 'YYYY-MM'), updated_at = now()
    WHERE starts_with(e.region_code, $1) AND e.status = 'gradual_exit' AND e.managed_by = 'cycle'
      AND e.exit_on <= $2 AND e.region_code = ANY($4::text[])
    RETURNING e.household_id, e.level_fen
)
INSERT INTO enrolment_exit_months (household_id, period, level_fen, due_on, review_cycle, case_id)
SELECT m.household_id, $2, m.level_fen, to_date($2 || '-01', 'YYYY-MM-DD'), $3,
       (SELECT case_id FROM enrolment_exit_months x WHERE x.household_id = m.household_id
        ORDER BY period DESC LIMIT 1)
FROM moved m ON CONFLICT DO NOTHING
"""


async def select_targets(conn: Conn, region_prefix: str, period: str, *, on: date, minor_after: date,
                         elderly_by: date, working_from: date) -> None:
    """``cycle_reviewed``: the changed households, their facts and the price table's level."""
    await conn.execute(REVIEW_TARGETS_SQL, region_prefix, on, minor_after, elderly_by, working_from, period)
    await conn.execute(SQL_OUTCOMES_SQL)


async def decided_in_python(conn: Conn) -> list[asyncpg.Record]:
    """The few the price table leaves undecided (priced in Python, not payable: an exit, or no price row),
    with their roster and registry rows as a review case reads them."""
    return await conn.fetch(
        "SELECT e.*, h.monthly_income_fen, h.urban, h.version, h.income_reason, h.remote, h.categories"
        " FROM cycle_reviewed r JOIN enrolments e USING (household_id) JOIN households h USING (household_id)"
        " WHERE NOT r.needs_person AND r.outcome IS NULL ORDER BY r.household_id")


async def write_python_outcomes(conn: Conn, rows: list[tuple[str, str | None, int | None, int, str]]) -> None:
    """(household, outcome or None: a person decides, level, exit months, why) each."""
    await conn.executemany(
        "UPDATE cycle_reviewed SET outcome = $2, new_level = $3, exit_months = $4, why = $5,"
        " needs_person = ($2::text IS NULL) WHERE household_id = $1", rows)


async def name_cases(conn: Conn, cycle_id: str) -> None:
    """Each reviewed household's case id: services/intake/enrolment.py ``review_case_id`` (household, cycle)."""
    await conn.execute(
        "UPDATE cycle_reviewed SET case_id = 'rv-' || left(encode(sha256(convert_to(household_id || '|' || $1,"
        " 'UTF8')), 'hex'), 24) WHERE outcome IS NOT NULL", cycle_id)


async def decided(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM cycle_reviewed WHERE outcome IS NOT NULL ORDER BY household_id")


async def write_reviews(conn: Conn, *, period: str, cycle_id: str, pathway: str, on: date) -> None:
    """The roster rows, exit months, review history and case records of every household reviewed as a set."""
    await conn.execute(ROSTER_SQL, period)
    await conn.execute(EXIT_MONTHS_SQL, period, cycle_id)
    await conn.execute(REVIEWS_SQL, period, cycle_id)
    await conn.execute(REPRICED_SQL)
    await conn.execute(CASES_SQL, pathway, on, cycle_id)


async def write_transitions(conn: Conn, rows: list[tuple[str, int, str, str, str, dict[str, Any]]]) -> None:
    """The case transitions the review's case record shows (as a renewal case records them): one statement
    (arrays), not a round trip per row."""
    if rows:
        await conn.execute(
            "INSERT INTO case_transitions (case_id, seq, status, stage, note, detail)"
            " SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::jsonb[])"
            " ON CONFLICT DO NOTHING", *(list(c) for c in zip(*rows, strict=True)))


async def stage_events(conn: Conn, events: list[tuple[str, str, dict[str, Any]]], headers: dict[str, str],
                       *, schema: str) -> None:
    """Stage the events in the outbox in one statement (arrays), the relay woken once."""
    if events:
        ids, subjects, payloads = (list(c) for c in zip(*events, strict=True))
        await conn.execute(
            "INSERT INTO outbox (event_id, subject, payload, headers)"
            " SELECT e, s, p, $4::jsonb FROM unnest($1::text[], $2::text[], $3::jsonb[]) AS x(e, s, p)"
            " ON CONFLICT (event_id) DO NOTHING", ids, subjects, payloads, headers)
        await conn.execute("SELECT pg_notify($1, '')", f"{schema}_outbox")


async def end_exits(conn: Conn, region_prefix: str, period: str, cycle_id: str,
                    suspended: list[str]) -> list[asyncpg.Record]:
    """End the gradual exits due this period (moved on where exits are suspended); the ended ones."""
    await conn.execute(SUSPEND_EXITS_SQL, region_prefix, period, cycle_id, suspended)
    ended = await conn.fetch(END_EXITS_SQL, region_prefix, period, cycle_id, suspended)
    await conn.execute("UPDATE cases SET status = 'closed', stage = 'closed', updated_at = now()"
                       " WHERE case_id = ANY($1::text[])", [r["case_id"] for r in ended if r["case_id"]])
    return ended
