"""The monthly cycle's SQL (schema ``intake``), set-based: a handful of statements per region and period
whatever the number of households. The steps and why: services/intake/cycle.py."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.intake.store.conn import Conn

CHANGED_SQL = """
SELECT e.*, h.monthly_income_fen, h.urban, h.version, h.income_reason, h.region_code AS registry_region,
       h.remote, h.categories
FROM enrolments e JOIN households h USING (household_id)
WHERE starts_with(e.region_code, $1) AND e.status <> 'terminated' AND e.managed_by = 'cycle'
  AND h.version <> e.reviewed_version
ORDER BY e.household_id
FOR UPDATE OF e
"""

CONTINUE_SQL = """
WITH due AS (
    UPDATE enrolments e
    SET next_review = to_char(to_date($2 || '-01', 'YYYY-MM-DD')
                              + make_interval(months => CASE e.cadence WHEN 'stable' THEN t.stable_months
                                                                       ELSE t.unstable_months END),
                              'YYYY-MM'),
        updated_at = now()
    FROM cycle_terms t
    WHERE t.region_code = e.region_code AND starts_with(e.region_code, $1) AND e.status = 'active'
      AND e.managed_by = 'cycle' AND e.next_review <= $2
      AND (CASE e.cadence WHEN 'stable' THEN t.stable_months ELSE t.unstable_months END) IS NOT NULL
    RETURNING e.household_id, e.level_fen
), rec AS (
    INSERT INTO enrolment_reviews (household_id, period, kind, outcome, level_fen, cycle_id)
    SELECT household_id, $2, 'scheduled', 'continue', level_fen, $3 FROM due
    ON CONFLICT DO NOTHING
)
SELECT count(*)::int FROM due
"""

ROLL_SQL = """
WITH due AS (
    SELECT e.household_id, e.enrolment_id, e.person_id, e.region_code, e.kind,
           coalesce(p.new_level, e.level_fen) AS level_fen, p.new_fen, p.new_version, p.new_from,
           -- a gradual exit (roster state, issue 18): its last month is the one before exit_on
           CASE WHEN e.status = 'gradual_exit'
                THEN to_char(to_date(e.exit_on || '-01', 'YYYY-MM-DD') - interval '1 month', 'YYYY-MM') END
               AS last_month,
           -- the first month not yet paid: no month of entitlement is ever skipped (arrears included)
           greatest(e.enrolled_from,
                    to_char(to_date(e.paid_through || '-01', 'YYYY-MM-DD') + interval '1 month', 'YYYY-MM'))
               AS first_month,
           -- rural dibao paid quarterly (seed 003): everything up to the next payment month at once (in
           -- the payment month, the whole quarter); monthly: up to this period
           to_char(to_date($2 || '-01', 'YYYY-MM-DD') + make_interval(months => CASE
               WHEN e.rural_quarterly AND t.quarter_month IS NOT NULL
               THEN coalesce(nullif(((t.quarter_month - (((substr($2, 6, 2)::int - 1) % 3) + 1)) % 3 + 3) % 3,
                                    0), 3) - 1
               ELSE 0 END), 'YYYY-MM') AS through
    FROM enrolments e JOIN cycle_terms t ON t.region_code = e.region_code
    -- repriced this cycle (提标): the new level, written below with paid_through in the same row version
    LEFT JOIN cycle_repriced p ON p.household_id = e.household_id
    WHERE starts_with(e.region_code, $1) AND e.managed_by = 'cycle'
      AND (e.status = 'active' OR e.status = 'gradual_exit' AND e.exit_on > $2)
      AND coalesce(p.new_level, e.level_fen) > 0 AND e.enrolled_from <= $2
      AND (e.paid_through IS NULL OR e.paid_through < $2)
), capped AS (
    SELECT d.household_id, d.enrolment_id, d.person_id, d.region_code, d.kind, d.level_fen, d.new_fen,
           d.new_version, d.new_from, d.first_month, least(d.through, coalesce(d.last_month, d.through)) AS through
    FROM due d
), roll AS (
    SELECT d.*, d.level_fen * ((substr(d.through, 1, 4)::int * 12 + substr(d.through, 6, 2)::int)
                               - (substr(d.first_month, 1, 4)::int * 12
                                  + substr(d.first_month, 6, 2)::int) + 1)
                AS amount
    FROM capped d
), exit_months AS (  -- the gradual exit's months this roll pays
    UPDATE enrolment_exit_months x SET paid_by_cycle = $3
    FROM roll r WHERE x.household_id = r.household_id AND x.period >= r.first_month AND x.period <= r.through
      AND x.paid_by_cycle IS NULL
), ins AS (
    INSERT INTO period_rolls (cycle_id, ordinal, household_id, enrolment_id, person_id, region_code, measure,
                              amount_fen)
    SELECT $3, row_number() OVER (ORDER BY household_id), household_id, enrolment_id, person_id, region_code,
           kind, amount
    FROM roll
    RETURNING household_id, amount_fen
), upd AS (
    UPDATE enrolments e SET paid_through = r.through, level_fen = r.level_fen,
                            standard_fen = coalesce(r.new_fen, e.standard_fen),
                            standard_version = coalesce(r.new_version, e.standard_version),
                            standard_from = coalesce(r.new_from, e.standard_from), updated_at = now()
    FROM roll r WHERE r.household_id = e.household_id
)
SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS fen FROM ins
"""

STANDARDS_COLUMNS = ("region_code text, urban boolean, kind text, period text, per_person_fen bigint,"
                     " version text, effective date, std_fen bigint, remote_pp bigint, special_pp bigint,"
                     " emp_pp bigint, rigid boolean")


def level_sql(f: str, s: str) -> str:
    """The level of a plain household (facts ``f``: persons, income_fen, rigid_fen, working_at_home, remote,
    special_members, kind) at a price row ``s`` of ``cycle_standards``: shared/policy/benefit.py
    ``monthly_benefit`` term by term, so 提标 gives the level a review would (not a linear shift of the old
    one: the add-ons and the employment-cost deduction scale with the standard).
    - extreme poverty (seed 002 「按照城乡低保月标准1.3倍执行」): the per-person support x persons;
    - dibao (seed 004 「根据差额发放低保金」): standard x persons - counted income, where the counted
      income is the income less the rigid expenditure (where a pack deducts it) less 30 % of the standard
      per member working at home (seed 001, never below zero); nothing when that is not positive; else plus
      the remote add-on per member and the special-member add-on per special member (seed 004)."""
    inc = f"({f}.income_fen - CASE WHEN {s}.rigid THEN least({f}.income_fen, {f}.rigid_fen) ELSE 0 END)"
    ded = (f"(CASE WHEN {f}.working_at_home > 0 AND {s}.emp_pp IS NOT NULL"
           f" THEN least({inc}, {s}.emp_pp * {f}.working_at_home) ELSE 0 END)")
    gap = f"({s}.std_fen * {f}.persons - ({inc} - {ded}))"
    return (f"(CASE WHEN {f}.kind = 'extreme_poverty' THEN {s}.per_person_fen * {f}.persons"
            f" WHEN {gap} <= 0 THEN 0"
            f" ELSE {gap} + CASE WHEN {f}.remote THEN {s}.remote_pp * {f}.persons ELSE 0 END"
            f" + {s}.special_pp * {f}.special_members END)")


# A roster row priced before the register existed: priced at the standard of its last paid month.
PRICE_UNPRICED_SQL = """
UPDATE enrolments e
SET standard_fen = s.per_person_fen, standard_version = s.version, standard_from = s.effective
FROM households h, cycle_standards s
WHERE h.household_id = e.household_id AND starts_with(e.region_code, $1) AND e.status <> 'terminated'
  AND e.standard_fen IS NULL AND s.region_code = e.region_code AND s.urban = h.urban AND s.kind = e.kind
  AND s.period = least(greatest(coalesce(e.paid_through, e.enrolled_from), $3), $2)
"""

# Who is repriced, and at what level: the facts the level was computed from (the roster's, as the review
# saw them; a row written before the roster kept them: the registry's, as household_from_registry reads
# it: members living in the period, minors and the elderly (18, 60) and the severely disabled or ill
# special, employed members working at home or away) priced at the period's row of the price table.
# Households a review case carries reprice in their case (workflows/renewal: behind
# "renewal-standard-follows"); facts outside the price table are priced by monthly_benefit in Python.
REPRICE_TARGETS_SQL = """
CREATE TEMP TABLE cycle_repriced ON COMMIT DROP AS
WITH f AS (
    SELECT e.household_id, e.enrolment_id, e.person_id, e.region_code, e.kind, h.urban, e.enrolled_from,
           e.paid_through, e.level_fen AS old_level, e.standard_fen AS old_fen, e.standard_from AS old_from,
           e.monthly_rigid_expenditure_fen AS rigid_fen, e.benefit_facts IS NOT NULL AS facts_kept,
           CASE WHEN e.benefit_facts IS NOT NULL THEN e.persons WHEN e.single_person THEN 1
                ELSE coalesce(m.living, 0) END AS persons,
           coalesce(e.income_fen, h.monthly_income_fen) AS income_fen,
           coalesce(e.special_members, m.special, 0) AS special_members,
           coalesce(e.remote, h.remote) AS remote,
           coalesce(e.working_at_home, m.working_at_home, 0) AS working_at_home,
           coalesce(e.priced_in_python, e.single_person OR coalesce(m.away, 0) > 0
                    OR (e.kind = 'extreme_poverty' AND (coalesce(m.full_care, 0) > 0
                                                        OR h.categories @> '{orphan}'))) AS priced_in_python
    FROM enrolments e JOIN households h USING (household_id)
    LEFT JOIN (SELECT household_id, count(*)::int AS living,
                      (count(*) FILTER (WHERE birth_date > $3::date OR birth_date <= $4::date
                                        OR flags && '{severely_disabled,seriously_ill}'))::int AS special,
                      (count(*) FILTER (WHERE flags @> '{employed}' AND work_region_code IS NULL))::int
                          AS working_at_home,
                      (count(*) FILTER (WHERE flags @> '{employed}' AND work_region_code IS NOT NULL))::int
                          AS away,
                      (count(*) FILTER (WHERE flags @> '{full_care}'))::int AS full_care
               FROM members WHERE deceased_on IS NULL OR deceased_on >= to_date($2 || '-01', 'YYYY-MM-DD')
               GROUP BY household_id) m USING (household_id)
    WHERE starts_with(e.region_code, $1) AND e.status = 'active' AND e.managed_by = 'cycle'
      AND e.standard_fen IS NOT NULL
)
SELECT f.*, s.per_person_fen AS new_fen, s.version AS new_version, s.effective AS new_from,
       greatest(LEVEL, 0)::bigint AS new_level
FROM f JOIN cycle_standards s ON s.region_code = f.region_code AND s.urban = f.urban AND s.kind = f.kind
                             AND s.period = $2
WHERE s.effective > f.old_from
""".replace("LEVEL", level_sql("f", "s"))

# Back-pay (补发): for each month already paid (through paid_through) whose standard entry is newer than
# the one the level was priced at, the exact level of that month (the month's price row) minus the level
# paid; one row per household and standard entry under its own key
# dibao-topup:<household>:<first month>:<standard-version> (derived from the cause: a re-computation
# refuses in the ledger). The months are grouped per group of households sharing region, area, kind,
# old entry and paid months, and per distinct price row (a handful), then spread to the households:
# no row per household and month. Households priced in Python have theirs from reprice().
BACK_PAY_SQL = """
WITH newer AS (  -- only the months under an entry newer than the oldest one being replaced
    SELECT * FROM cycle_standards
    WHERE effective > (SELECT min(old_from) FROM cycle_repriced)
      AND period <= (SELECT max(paid_through) FROM cycle_repriced)
), grp AS (
    SELECT DISTINCT region_code, urban, kind, old_from, enrolled_from, paid_through FROM cycle_repriced
    WHERE paid_through IS NOT NULL AND persons > 0 AND NOT priced_in_python
), spans AS (  -- the paid months of each group under each entry, per distinct price row
    SELECT g.*, s.version, s.per_person_fen, s.std_fen, s.remote_pp, s.special_pp, s.emp_pp, s.rigid,
           min(s.period) AS first_month, max(s.period) AS last_month, count(*)::int AS months
    FROM grp g JOIN newer s ON s.region_code = g.region_code AND s.urban = g.urban AND s.kind = g.kind
    WHERE s.period >= g.enrolled_from AND s.period <= g.paid_through AND s.effective > g.old_from
    GROUP BY g.region_code, g.urban, g.kind, g.old_from, g.enrolled_from, g.paid_through, s.version,
             s.per_person_fen, s.std_fen, s.remote_pp, s.special_pp, s.emp_pp, s.rigid
), owed AS (
    SELECT t.household_id, t.old_fen, t.persons, t.old_level, p.version, min(p.first_month) AS first_month,
           max(p.last_month) AS last_month, sum(p.months)::int AS months,
           sum((p.per_person_fen - t.old_fen) * p.months) AS per_person_fen,
           sum((x.level - t.old_level) * p.months) AS amount_fen, max(x.level) AS new_level
    FROM cycle_repriced t
    JOIN spans p USING (region_code, urban, kind, old_from, enrolled_from, paid_through)
    CROSS JOIN LATERAL (SELECT greatest(LEVEL, 0) AS level) x
    WHERE t.persons > 0 AND NOT t.priced_in_python AND x.level > t.old_level
    GROUP BY t.household_id, t.old_fen, t.persons, t.old_level, p.version
)
INSERT INTO enrolment_back_pay (household_id, period, last_period, months, standard_version, old_fen,
                                per_person_fen, persons, amount_fen, idempotency_key, cycle_id,
                                old_level_fen, new_level_fen)
SELECT household_id, first_month, last_month, months, version, old_fen, per_person_fen, persons, amount_fen,
       'dibao-topup:' || household_id || ':' || first_month || ':' || version, $1, old_level, new_level
FROM owed
ON CONFLICT DO NOTHING
""".replace("LEVEL", level_sql("t", "p"))

PRICED_IN_PYTHON_SQL = """
SELECT t.household_id, t.person_id, t.region_code, t.kind, t.urban, t.enrolled_from, t.paid_through,
       t.old_level, t.old_fen, t.old_from, t.persons, t.facts_kept, e.benefit_facts,
       e.monthly_rigid_expenditure_fen, e.single_person
FROM cycle_repriced t JOIN enrolments e USING (household_id)
WHERE t.priced_in_python
"""


# The repriced level of a household whose registry changed is written now: its review case opens from
# it. Everyone else's is written by the roll's one UPDATE of the roster (one row version per household
# and cycle), and by REPRICE_REST_SQL for those the roll does not take this period.
REPRICE_CHANGED_SQL = """
UPDATE enrolments e
SET level_fen = t.new_level, standard_fen = t.new_fen, standard_version = t.new_version,
    standard_from = t.new_from, updated_at = now()
FROM cycle_repriced t, households h
WHERE t.household_id = e.household_id AND h.household_id = e.household_id AND h.version <> e.reviewed_version
"""

REPRICE_REST_SQL = """
UPDATE enrolments e
SET level_fen = t.new_level, standard_fen = t.new_fen, standard_version = t.new_version,
    standard_from = t.new_from, updated_at = now()
FROM cycle_repriced t
WHERE t.household_id = e.household_id AND e.standard_version IS DISTINCT FROM t.new_version
"""

REPRICED_REVIEWS_SQL = """
INSERT INTO enrolment_reviews (household_id, period, kind, outcome, level_fen, cycle_id)
SELECT household_id, $1, 'standard', 'repriced', new_level, $2 FROM cycle_repriced
ON CONFLICT DO NOTHING
"""

BACK_PAY_ROLL_SQL = """
WITH ins AS (
    INSERT INTO period_rolls (cycle_id, ordinal, household_id, enrolment_id, person_id, region_code, measure,
                              amount_fen, idempotency_key)
    SELECT $1, $2 + row_number() OVER (ORDER BY b.household_id, b.standard_version), b.household_id,
           t.enrolment_id, t.person_id, t.region_code, t.kind, b.amount_fen, b.idempotency_key
    FROM enrolment_back_pay b JOIN cycle_repriced t USING (household_id)
    WHERE b.cycle_id = $1
    RETURNING amount_fen
)
SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS fen FROM ins
"""


async def lock_cycle(conn: Conn, cycle_id: str) -> None:
    """One cycle transaction at a time per cycle id, until this transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", cycle_id)


async def enrolled_regions(conn: Conn, region_prefix: str) -> list[str]:
    return [r["region_code"] for r in await conn.fetch(
        "SELECT DISTINCT region_code FROM enrolments"
        " WHERE starts_with(region_code, $1) AND status <> 'terminated'", region_prefix)]


async def load_terms(conn: Conn, rows: list[tuple[str, int | None, int | None, int | None]]) -> None:
    """The cycle's per-region terms (``cycle_terms``: review intervals, rural quarterly payment month)."""
    await conn.execute("CREATE TEMP TABLE cycle_terms (region_code text PRIMARY KEY, stable_months int,"
                       " unstable_months int, quarter_month int) ON COMMIT DROP")
    await conn.copy_records_to_table("cycle_terms", records=rows)


async def load_standards(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """The cycle's price table (``cycle_standards``, see ``STANDARDS_COLUMNS``)."""
    await conn.execute(f"CREATE TEMP TABLE cycle_standards ({STANDARDS_COLUMNS},"
                       " PRIMARY KEY (region_code, urban, kind, period)) ON COMMIT DROP")
    await conn.copy_records_to_table("cycle_standards", records=rows)


async def select_repriced(conn: Conn, region_prefix: str, period: str, *, ahead: str, back: str,
                          minor_after: Any, elderly_by: Any, cycle_id: str) -> None:
    """``cycle_repriced``: who a newer standard entry reprices, at what level, and their back-pay
    (the price table's; households priced in Python are left to the caller)."""
    await conn.execute(PRICE_UNPRICED_SQL, region_prefix, ahead, back)
    await conn.execute(REPRICE_TARGETS_SQL, region_prefix, period, minor_after, elderly_by)
    await conn.execute("ANALYZE cycle_repriced")
    await conn.execute(BACK_PAY_SQL, cycle_id)


async def priced_in_python(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch(PRICED_IN_PYTHON_SQL)


async def write_python_prices(conn: Conn, *, undecidable: list[str], levels: list[tuple[str, int]],
                              back_pay: list[tuple[Any, ...]]) -> None:
    """The levels and back-pay computed in Python; an undecidable household is left for the next cycle."""
    await conn.execute("DELETE FROM cycle_repriced WHERE household_id = ANY($1::text[])", undecidable)
    await conn.executemany("UPDATE cycle_repriced SET new_level = $2 WHERE household_id = $1", levels)
    await conn.executemany(
        "INSERT INTO enrolment_back_pay (household_id, period, last_period, months, standard_version,"
        " old_fen, per_person_fen, persons, amount_fen, idempotency_key, cycle_id, old_level_fen,"
        " new_level_fen)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING", back_pay)


async def reprice_changed(conn: Conn, period: str, cycle_id: str) -> int:
    """Write the repriced level of households whose registry changed and record every repricing in the
    review history; returns how many were repriced."""
    await conn.execute(REPRICE_CHANGED_SQL)
    await conn.execute(REPRICED_REVIEWS_SQL, period, cycle_id)
    return int(await conn.fetchval("SELECT count(*)::int FROM cycle_repriced"))


async def enrolled_and_due(conn: Conn, region_prefix: str, period: str) -> tuple[int, int]:
    """How many households the cycle carries, and how many of them are due for review."""
    row = await conn.fetchrow(
        "SELECT count(*)::int, (count(*) FILTER (WHERE next_review <= $2))::int FROM enrolments"
        " WHERE starts_with(region_code, $1) AND status <> 'terminated' AND managed_by = 'cycle'",
        region_prefix, period)
    assert row is not None
    return row[0], row[1]


async def changed_households(conn: Conn, region_prefix: str) -> list[asyncpg.Record]:
    return await conn.fetch(CHANGED_SQL, region_prefix)


async def continue_unchanged(conn: Conn, region_prefix: str, period: str, cycle_id: str) -> int:
    return int(await conn.fetchval(CONTINUE_SQL, region_prefix, period, cycle_id))


async def take_roll(conn: Conn, region_prefix: str, period: str,
                    cycle_id: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """The period's payment roll, then the back-pay rows after it: (rows, fen) of each."""
    row = await conn.fetchrow(ROLL_SQL, region_prefix, period, cycle_id)
    assert row is not None
    await conn.execute(REPRICE_REST_SQL)  # repriced households the roll did not take this period
    back = await conn.fetchrow(BACK_PAY_ROLL_SQL, cycle_id, row[0])
    assert back is not None
    return (row[0], row[1]), (back[0], back[1])


async def record_cycle(conn: Conn, *, cycle_id: str, region_prefix: str, period: str, enrolled: int,
                       due: int, continued: int, cases_opened: int, on_roll: int, roll_fen: int,
                       repriced: int, back_pay_rows: int, back_pay_fen: int, reviewed: int = 0,
                       exits_ended: int = 0) -> None:
    await conn.execute(
        "INSERT INTO review_cycles (cycle_id, region_prefix, period, enrolled, due, continued, cases_opened,"
        " on_roll, roll_fen, repriced, back_pay_rows, back_pay_fen, reviewed, exits_ended)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        cycle_id, region_prefix, period, enrolled, due, continued, cases_opened, on_roll, roll_fen,
        repriced, back_pay_rows, back_pay_fen, reviewed, exits_ended)
