"""The roster's SQL (schema ``intake``): ``enrolments`` (one row per enrolled household), its review
history (``enrolment_reviews``), back-pay (``enrolment_back_pay``) and the cycles' figures
(``review_cycles``). What the rows mean: services/intake/enrolment.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from services.intake.store.conn import Conn
from shared.contracts import activities as act
from shared.policy import standards
from shared.policy.benefit import BenefitHousehold, needs_full_computation


async def roster_row(conn: Conn, household_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM enrolments WHERE household_id = $1"
                               + (" FOR UPDATE" if lock else ""), household_id)


def facts_columns(facts: BenefitHousehold | None) -> tuple[Any, ...]:
    """The roster's columns for the facts a level was computed from (migration 009): the facts as JSON,
    and the coefficients of a plain household's level that the cycle's 提标 SQL reads."""
    if facts is None:
        return (None,) * 7
    return (facts.model_dump(mode="json"), facts.size, facts.monthly_income_fen, facts.special_members,
            facts.remote, facts.working_members - len(facts.work_places), needs_full_computation(facts))


def priced_columns(priced: standards.PerPerson | None) -> tuple[Any, ...]:
    """The roster's columns for the standard a level is priced at: fen, register version, effective from."""
    return (priced.fen, priced.version, priced.effective_from) if priced else (None, None, None)


async def write_settlement(conn: Conn, s: act.EnrolmentSettlement, *, registry_version: int,
                           priced: standards.PerPerson | None, facts: BenefitHousehold | None) -> None:
    """A renewal case's decision into the roster row (a household enrolled again after its benefit
    ended starts a new enrolment; paid_through never moves back)."""
    await conn.execute(
        """
        INSERT INTO enrolments (household_id, enrolment_id, person_id, region_code, kind, status, level_fen,
                                cadence, rural_quarterly, next_review, paid_through, reviewed_version,
                                managed_by, review_case_id, enrolled_from, source,
                                monthly_rigid_expenditure_fen, single_person,
                                standard_fen, standard_version, standard_from, benefit_facts, persons,
                                income_fen, special_members, remote, working_at_home, priced_in_python)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'application', $16, $17,
                $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)
        ON CONFLICT (household_id) DO UPDATE SET
            -- a household enrolled again after its benefit ended starts a new enrolment
            enrolment_id = CASE WHEN enrolments.status = 'terminated' THEN EXCLUDED.enrolment_id
                                ELSE enrolments.enrolment_id END,
            enrolled_from = CASE WHEN enrolments.status = 'terminated' THEN EXCLUDED.enrolled_from
                                 ELSE enrolments.enrolled_from END,
            source = CASE WHEN enrolments.status = 'terminated' THEN 'application' ELSE enrolments.source END,
            person_id = EXCLUDED.person_id, region_code = EXCLUDED.region_code, kind = EXCLUDED.kind,
            status = EXCLUDED.status, level_fen = EXCLUDED.level_fen, cadence = EXCLUDED.cadence,
            rural_quarterly = EXCLUDED.rural_quarterly, next_review = EXCLUDED.next_review,
            paid_through = greatest(enrolments.paid_through, EXCLUDED.paid_through),
            reviewed_version = EXCLUDED.reviewed_version, managed_by = EXCLUDED.managed_by,
            review_case_id = EXCLUDED.review_case_id, single_person = EXCLUDED.single_person,
            monthly_rigid_expenditure_fen = EXCLUDED.monthly_rigid_expenditure_fen,
            standard_fen = EXCLUDED.standard_fen, standard_version = EXCLUDED.standard_version,
            standard_from = EXCLUDED.standard_from, benefit_facts = EXCLUDED.benefit_facts,
            persons = EXCLUDED.persons, income_fen = EXCLUDED.income_fen,
            special_members = EXCLUDED.special_members,
            remote = EXCLUDED.remote, working_at_home = EXCLUDED.working_at_home,
            priced_in_python = EXCLUDED.priced_in_python, updated_at = now()
        """,
        s.household_id, s.case_id, s.person_id, s.region_code, s.kind, s.status, s.level_fen, s.cadence,
        s.rural_quarterly, s.next_review, s.paid_through, registry_version, s.managed_by,
        s.case_id if s.managed_by == "case" and s.status != "terminated" else None, s.enrolled_from,
        s.monthly_rigid_expenditure_fen, s.single_person, *priced_columns(priced), *facts_columns(facts))


async def enrol_imported(conn: Conn, *, household_id: str, enrolment_id: str, person_id: str, kind: str,
                         level_fen: int, cadence: str, rural_quarterly: bool, next_review: str | None,
                         paid_through: str | None, enrolled_from: str, rigid_fen: int, single_person: bool,
                         priced: standards.PerPerson | None, facts: BenefitHousehold | None) -> bool:
    """Enrol an imported (already registered) household at the registry's region and version; True when
    newly enrolled (an enrolled household is left as it is)."""
    created = await conn.fetchval(
        """
        INSERT INTO enrolments (household_id, enrolment_id, person_id, region_code, kind, level_fen, cadence,
                                rural_quarterly, next_review, paid_through, reviewed_version, enrolled_from,
                                source, monthly_rigid_expenditure_fen, single_person,
                                standard_fen, standard_version, standard_from, benefit_facts, persons,
                                income_fen, special_members, remote, working_at_home, priced_in_python)
        SELECT $1, $2, $3, region_code, $4, $5, $6, $7, $8, $9, version, $10, 'import', $11, $12,
               $13, $14, $15, $16, $17, $18, $19, $20, $21, $22
        FROM households WHERE household_id = $1
        ON CONFLICT (household_id) DO NOTHING RETURNING 1
        """,
        household_id, enrolment_id, person_id, kind, level_fen, cadence, rural_quarterly, next_review,
        paid_through, enrolled_from, rigid_fen, single_person, *priced_columns(priced), *facts_columns(facts))
    return bool(created)


async def hand_to_cases(conn: Conn, household_ids: list[str], case_ids: list[str]) -> None:
    """The households are carried by their review cases from now on (the cycle leaves them alone)."""
    await conn.execute(
        """
        UPDATE enrolments e SET managed_by = 'case', review_case_id = c.case_id, updated_at = now()
        FROM unnest($1::text[], $2::text[]) AS c(household_id, case_id) WHERE e.household_id = c.household_id
        """, household_ids, case_ids)


async def record_cases_opened(conn: Conn, *, period: str, kind: str, household_ids: list[str],
                              levels: list[int], case_ids: list[str], cycle_id: str | None = None) -> None:
    """The review history: a review case opened for each household (``kind`` 'cycle' or 'off-cycle')."""
    await conn.execute(
        "INSERT INTO enrolment_reviews (household_id, period, kind, outcome, level_fen, case_id, cycle_id)"
        " SELECT h, $1, $2, 'case_opened', l, c, $3 FROM unnest($4::text[], $5::bigint[], $6::text[])"
        " AS r(h, l, c) ON CONFLICT DO NOTHING", period, kind, cycle_id, household_ids, levels, case_ids)


class CycleView(BaseModel):
    """A cycle's review figures (``review_cycles``)."""

    # extra="allow": a column added by a later migration still shows
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {
            "cycle_id": "cycle-6401-2026-12", "region_prefix": "6401", "period": "2026-12", "enrolled": 1200,
            "due": 100, "continued": 96, "cases_opened": 4, "on_roll": 1196, "roll_fen": 155480000,
            "reviewed_at": "2026-12-01T08:30:00+08:00", "repriced": 0, "back_pay_rows": 0, "back_pay_fen": 0,
        },
    ]})

    cycle_id: str
    region_prefix: str
    period: str
    enrolled: int
    due: int
    continued: int
    cases_opened: int
    on_roll: int
    roll_fen: int
    reviewed_at: datetime
    repriced: int
    back_pay_rows: int
    back_pay_fen: int
    reviewed: int = 0  # changed households reviewed as a set (issue 18)
    exits_ended: int = 0  # gradual exits ended by the cycle


class ReviewView(BaseModel):
    period: str
    kind: str
    outcome: str
    level_fen: int
    case_id: str | None
    cycle_id: str | None


class BackPayView(BaseModel):
    period: str
    last_period: str
    months: int
    standard_version: str
    old_fen: int
    per_person_fen: int
    persons: int
    amount_fen: int
    idempotency_key: str
    cycle_id: str
    old_level_fen: int | None
    new_level_fen: int | None


class EnrolmentView(BaseModel):
    """A household's roster row, its review history and its back-pay."""

    # extra="allow": a column added by a later migration still shows
    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {
            "household_id": "hh-640104-000123", "enrolment_id": "enr-hh-640104-000123-dibao",
            "person_id": "640104198003151020", "region_code": "640104", "kind": "dibao", "status": "active",
            "level_fen": 130000, "cadence": "stable", "rural_quarterly": False, "next_review": "2027-06",
            "paid_through": "2026-11", "reviewed_version": 1, "managed_by": "cycle", "review_case_id": None,
            "enrolled_from": "2026-06", "source": "application", "updated_at": "2026-12-01T08:30:00+08:00",
            "monthly_rigid_expenditure_fen": 0, "single_person": False, "standard_fen": 65000,
            "standard_version": "640104-2022", "standard_from": "2022-01-01", "benefit_facts": None, "persons": 2,
            "income_fen": 0, "special_members": 1, "remote": False, "working_at_home": 0, "priced_in_python": False,
            "reviews": [
                {
                    "period": "2026-12", "kind": "scheduled", "outcome": "continue", "level_fen": 130000,
                    "case_id": None, "cycle_id": "cycle-6401-2026-12",
                },
            ],
            "back_pay": [],
        },
    ]})

    household_id: str
    enrolment_id: str
    person_id: str
    region_code: str
    kind: str
    status: str
    level_fen: int
    cadence: str
    rural_quarterly: bool
    next_review: str | None
    paid_through: str | None
    reviewed_version: int
    managed_by: str
    review_case_id: str | None
    enrolled_from: str
    source: str
    updated_at: datetime
    monthly_rigid_expenditure_fen: int
    single_person: bool
    standard_fen: int | None
    standard_version: str | None
    standard_from: date | None
    benefit_facts: dict[str, Any] | None
    persons: int | None
    income_fen: int | None
    special_members: int | None
    remote: bool | None
    working_at_home: int | None
    priced_in_python: bool | None
    reviews: list[ReviewView]
    back_pay: list[BackPayView]


async def review_cycle(db: Conn | asyncpg.Pool, cycle_id: str) -> CycleView | None:
    row = await db.fetchrow("SELECT * FROM review_cycles WHERE cycle_id = $1", cycle_id)
    return CycleView(**dict(row)) if row is not None else None


async def enrolment_view(pool: asyncpg.Pool, household_id: str) -> EnrolmentView | None:
    async with pool.acquire() as conn:
        row = await roster_row(conn, household_id)
        if row is None:
            return None
        reviews = await conn.fetch("SELECT period, kind, outcome, level_fen, case_id, cycle_id"
                                   " FROM enrolment_reviews WHERE household_id = $1"
                                   " ORDER BY period, reviewed_at", household_id)
        back_pay = await conn.fetch("SELECT period, last_period, months, standard_version, old_fen,"
                                    " per_person_fen, persons, amount_fen, idempotency_key, cycle_id,"
                                    " old_level_fen, new_level_fen FROM enrolment_back_pay"
                                    " WHERE household_id = $1 ORDER BY created_at, period", household_id)
    return EnrolmentView(**dict(row), reviews=[ReviewView(**dict(r)) for r in reviews],
                         back_pay=[BackPayView(**dict(r)) for r in back_pay])
