"""Enrolled households (低保/特困 在册对象): the roster, the renewal cases, and the region's monthly cycle.

Who carries a household, and why it never pays twice or skips a month:

- The **roster** (table ``enrolments``) holds, per household, the level paid, the status, the review
  cadence, the next scheduled review, the registry version the last review saw and ``paid_through``,
  the last period handed to payment.
- A household is carried either by its region's **monthly cycle** (``managed_by='cycle'``: reviewed
  and paid as a set, :func:`review_cohort`) or by its own **renewal case** (``managed_by='case'``: one
  ``Renewal`` workflow, while it is being enrolled, or its data changed, or it is in a gradual exit).
  The switch happens under the roster row's lock, in the transaction that opens the case or takes the
  period's roll, and the case starts at the first period after ``paid_through``; so each period is
  taken by exactly one of them. Both pay with the key ``dibao:<household>:<period>``, so even a
  mistake there would be refused by the ledger's unique index.
- The cycle opens a review case only for households whose registry data changed since their last
  review (``households.version <> reviewed_version``); everyone else due for review continues at the
  same level in one UPDATE (seed 004: 「对没有明显变化的，不再调整救助水平」).
- A reported change (``household.income_changed``, ``household.member_deceased``) updates the
  registry; for a household carried by the cycle it opens an off-cycle review case at once, for one
  carried by a case it goes to that case as a workflow update (update id = event id).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, date, datetime, time
from typing import Any

import asyncpg

from services.intake import store
from services.intake.routing import CaseStart
from shared.contracts import activities as act
from shared.contracts.domain_events import CASE_OPENED, CaseEventData, domain_cloudevent
from shared.infra.outbox import add_many_to_outbox
from shared.policy import load_library, standards
from shared.policy.benefit import (
    BenefitHousehold,
    WorkPlace,
    level_terms,
    monthly_benefit,
    needs_full_computation,
)
from workflows.renewal.inputs import (
    PATHWAY,
    EnrolmentApplication,
    Household,
    IncomeChange,
    Member,
    MemberDeath,
    PendingChange,
    RenewalInput,
    RenewalState,
    add_months,
)

log = logging.getLogger(__name__)
SOURCE = "urn:doudi:intake"

# Ages that make a member "working-age" (有劳动能力, half-yearly reviews, seed 004) and "special"
# (minors and the elderly get the add-on, seed 004). Local practice: the seeds give no ages; these are
# the national labour-age convention (16 to under 60) and the age of majority / old age (18, 60).
WORKING_AGE = (16, 60)
MINOR_UNDER, ELDERLY_FROM = 18, 60
SPECIAL_FLAGS = {"severely_disabled", "seriously_ill"}
WORKING_FLAG = "employed"
FULL_CARE_FLAG = "full_care"  # an extreme-poverty person needing full care (照料护理, seeds 003/004)
INSTITUTION_FLAG = "raised_in_institution"  # an orphan raised in an institution (机构内养育孤儿, seed 002)
MARGINAL_CATEGORIES = {"marginal", "low_income_db"}  # 低保边缘 / in the low-income database (seed 002)


def period_of(on: date) -> str:
    return f"{on.year:04d}-{on.month:02d}"


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def household_from_registry(members: list[dict[str, Any]], *, monthly_income_fen: int, urban: bool,
                            extreme_poverty: bool, on: date, income_stable: bool = True,
                            remote: bool = False, registry_version: int | None = None,
                            categories: list[str] | None = None, applicant: str | None = None) -> Household:
    """The renewal workflow's view of a household, from the registry's members living on ``on``: the
    applicant (else the head) first, the facts the benefit needs (remote, marginal, orphans, care, 务工地)."""
    living = [m for m in members if m.get("deceased_on") is None or m["deceased_on"] > on]
    cats = set(categories or ())
    out = []
    for m in sorted(living, key=lambda m: (m["person_id"] != applicant, m.get("relation") != "head", m["person_id"])):
        age = _age(m["birth_date"], on)
        flags = set(m.get("flags") or ())
        working = WORKING_FLAG in flags
        place = m.get("work_region_code")
        out.append(Member(person_id=m["person_id"], working_age=WORKING_AGE[0] <= age < WORKING_AGE[1],
                          working=working,
                          special=age < MINOR_UNDER or age >= ELDERLY_FROM or bool(flags & SPECIAL_FLAGS),
                          severely_disabled_or_ill=bool(flags & SPECIAL_FLAGS),
                          # local practice: a place of work away from home is a town (its urban standard)
                          work_place=WorkPlace(region_code=place, urban=True) if working and place else None,
                          full_care=FULL_CARE_FLAG in flags))
    orphan = None
    if "orphan" in cats and extreme_poverty:  # orphans are carried as their own (特困-kind) roster record
        orphan = "institutional" if any(INSTITUTION_FLAG in (m.get("flags") or ()) for m in living) else "dispersed"
    return Household(members=out or [Member(person_id=members[0]["person_id"])], monthly_income_fen=monthly_income_fen,
                     urban=urban, extreme_poverty=extreme_poverty, income_stable=income_stable, remote=remote,
                     registry_version=registry_version, marginal=bool(cats & MARGINAL_CATEGORIES), orphan=orphan)


def due_at(period: str) -> datetime:
    """When a case's first period falls due on the clock: its first day, or now if that is past (a
    backdated business period is processed at once; each later period one calendar month on)."""
    first = datetime.combine(date.fromisoformat(period + "-01"), time(0), tzinfo=UTC)
    return max(first, datetime.now(UTC))


def review_case_id(household_id: str, cause: str) -> str:
    """Derived from the cause (an event id, or the cycle): a redelivery opens nothing new."""
    return "rv-" + hashlib.sha256(f"{household_id}|{cause}".encode()).hexdigest()[:24]


def enrolment_id_for_import(household_id: str) -> str:
    return "en-" + hashlib.sha256(f"import|{household_id}".encode()).hexdigest()[:24]


# -- the roster ------------------------------------------------------------------------------------

async def roster_row(conn: asyncpg.Connection, household_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM enrolments WHERE household_id = $1" + (" FOR UPDATE" if lock else ""),
                               household_id)


async def settle(conn: asyncpg.Connection, s: act.EnrolmentSettlement) -> bool:
    """Write a renewal case's decision into the roster (see :class:`act.EnrolmentSettlement`)."""
    row = await roster_row(conn, s.household_id, lock=True)
    # only the case that carries the household writes; after a termination, a new enrolment case may
    if row is not None and row["review_case_id"] != s.case_id and row["status"] != "terminated":
        log.warning("case %s no longer carries household %s (%s does); roster unchanged",
                    s.case_id, s.household_id, row["review_case_id"])
        return False
    version, urban = await conn.fetchrow("SELECT version, urban FROM households WHERE household_id = $1",
                                         s.household_id) or (None, None)
    if version is None:
        raise LookupError(f"household {s.household_id} is not in the registry")
    # the standard the case's level is priced at: that of the review that set it (提标 reprices from there)
    priced = priced_standard(s.region_code, urban, s.kind, s.priced_at or s.paid_through or s.enrolled_from)
    # ... and the facts it was computed from (a case of an older worker sends none: the registry's, as
    # the review saw them)
    facts = s.facts or await registry_facts(conn, s.household_id, kind=s.kind, person_id=s.person_id,
                                            period=s.priced_at or s.paid_through or s.enrolled_from,
                                            rigid_fen=s.monthly_rigid_expenditure_fen, single_person=s.single_person)
    await conn.execute(
        """
        INSERT INTO enrolments (household_id, enrolment_id, person_id, region_code, kind, status, level_fen, cadence,
                                rural_quarterly, next_review, paid_through, reviewed_version, managed_by,
                                review_case_id, enrolled_from, source, monthly_rigid_expenditure_fen, single_person,
                                standard_fen, standard_version, standard_from, benefit_facts, persons, income_fen,
                                special_members, remote, working_at_home, priced_in_python)
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
            persons = EXCLUDED.persons, income_fen = EXCLUDED.income_fen, special_members = EXCLUDED.special_members,
            remote = EXCLUDED.remote, working_at_home = EXCLUDED.working_at_home,
            priced_in_python = EXCLUDED.priced_in_python, updated_at = now()
        """,
        s.household_id, s.case_id, s.person_id, s.region_code, s.kind, s.status, s.level_fen, s.cadence,
        s.rural_quarterly, s.next_review, s.paid_through, version, s.managed_by,
        s.case_id if s.managed_by == "case" and s.status != "terminated" else None, s.enrolled_from,
        s.monthly_rigid_expenditure_fen, s.single_person, priced.fen if priced else None,
        priced.version if priced else None, priced.effective_from if priced else None, *facts_columns(facts))
    return True


def facts_columns(facts: BenefitHousehold | None) -> tuple[Any, ...]:
    """The roster's columns for the facts a level was computed from (migration 009): the facts as JSON,
    and the coefficients of a plain household's level that the cycle's 提标 SQL reads."""
    if facts is None:
        return (None,) * 7
    return (facts.model_dump(mode="json"), facts.size, facts.monthly_income_fen, facts.special_members, facts.remote,
            facts.working_members - len(facts.work_places), needs_full_computation(facts))


async def registry_facts(conn: asyncpg.Connection, household_id: str, *, kind: str, person_id: str | None,
                         period: str, rigid_fen: int, single_person: bool) -> BenefitHousehold | None:
    """The benefit facts of a household as the registry has them for ``period`` (a review's view)."""
    h = await conn.fetchrow("SELECT * FROM households WHERE household_id = $1", household_id)
    members = (await _members(conn, [household_id])).get(household_id, [])
    if h is None or not members:
        return None
    return household_from_registry(
        members, monthly_income_fen=h["monthly_income_fen"], urban=h["urban"],
        extreme_poverty=kind == "extreme_poverty", on=date.fromisoformat(period + "-01"), remote=h["remote"],
        categories=list(h["categories"] or []), applicant=person_id).model_copy(update={
            "monthly_rigid_expenditure_fen": rigid_fen, "single_person": single_person}).benefit_facts()


async def _members(conn: asyncpg.Connection, household_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    rows = await conn.fetch("SELECT household_id, person_id, relation, birth_date, flags, deceased_on, work_region_code"
                            " FROM members WHERE household_id = ANY($1::text[])", household_ids)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["household_id"], []).append(dict(r))
    return out


def _review_input(e: asyncpg.Record, h: asyncpg.Record, members: list[dict[str, Any]], *, case_id: str,
                  on: date, why: str, pending: PendingChange | None) -> RenewalInput:
    first_period = add_months(e["paid_through"], 1) if e["paid_through"] else e["enrolled_from"]
    household = household_from_registry(
        members, monthly_income_fen=h["monthly_income_fen"], urban=h["urban"],
        extreme_poverty=e["kind"] == "extreme_poverty", on=on, income_stable=e["cadence"] == "stable",
        registry_version=h["version"], remote=h["remote"], categories=list(h["categories"] or []),
        applicant=e["person_id"]).model_copy(update={
            "monthly_rigid_expenditure_fen": e["monthly_rigid_expenditure_fen"], "single_person": e["single_person"]})
    state = RenewalState(period=first_period, household=household, level_fen=e["level_fen"], kind=e["kind"],
                         next_review=e["next_review"], last_income_reason=h["income_reason"],
                         pending=[pending] if pending else [],
                         priced_from=e["standard_from"], priced_version=e["standard_version"],
                         reviews=[{"period": e["enrolled_from"], "kind": "roster", "outcome": "enrolled",
                                   "level_fen": e["level_fen"]}])
    return RenewalInput(case_id=case_id, person_id=e["person_id"], household_id=e["household_id"],
                        region_code=e["region_code"], household=household, first_period=first_period,
                        rural_quarterly=e["rural_quarterly"], hand_back=True, review_reason=why,
                        first_due_at=due_at(first_period),
                        enrolment_id=e["enrolment_id"], enrolled_from=e["enrolled_from"], opening_state=state)


async def _open_cases(conn: asyncpg.Connection, starts: list[tuple[CaseStart, str | None, str]]) -> None:
    """Open review cases in bulk: the case rows and their ``doudi.case.opened`` events (one outbox row each)."""
    await conn.executemany(
        """
        INSERT INTO cases (case_id, pathway, trigger, person_id, household_id, region_code, business_date,
                           cause_event_id, workflow_type, workflow_input)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (case_id) DO NOTHING
        """,
        [(s.case_id, s.pathway, s.trigger, s.person_id, hh, s.region_code, s.business_date, s.cause_event_id,
          s.workflow, s.workflow_input.model_dump(mode="json")) for s, hh, _ in starts])
    await add_many_to_outbox(conn, schema=store.SCHEMA, events=[
        (f"{s.case_id}:opened", CASE_OPENED, domain_cloudevent(CASE_OPENED, f"{s.case_id}:opened", CaseEventData(
            case_id=s.case_id, pathway=s.pathway, status="open", stage="opened", person_id=s.person_id,
            household_id=hh, region_code=s.region_code, cause_event_id=s.cause_event_id, note=note), source=SOURCE))
        for s, hh, note in starts])


def _review_start(inp: RenewalInput, on: date, trigger: str, cause: str | None) -> CaseStart:
    return CaseStart(case_id=inp.case_id, pathway=PATHWAY, trigger=trigger, workflow="Renewal",
                     person_id=inp.person_id, region_code=inp.region_code, business_date=on,
                     cause_event_id=cause, workflow_input=inp)


# -- a reported change -----------------------------------------------------------------------------

async def on_reported_change(conn: asyncpg.Connection, household_id: str, event_id: str, on: date,
                             change: IncomeChange | MemberDeath) -> tuple[str, Any] | None:
    """Called in the transaction that accepts the event, BEFORE the registry is changed. Returns what
    to do after the commit: ("update", (case_id, update_name, arg)) for a household its case carries,
    ("start", CaseStart) for an off-cycle review case opened now; None if the household is not enrolled."""
    e = await roster_row(conn, household_id, lock=True)
    if e is None or e["status"] == "terminated":
        return None
    if e["managed_by"] == "case":
        name = "income_changed" if isinstance(change, IncomeChange) else "member_deceased"
        return "update", (e["review_case_id"], name, change)
    h = await conn.fetchrow("SELECT * FROM households WHERE household_id = $1", household_id)
    members = (await _members(conn, [household_id])).get(household_id, [])
    kind = "income_changed" if isinstance(change, IncomeChange) else "member_deceased"
    pending = PendingChange(kind=kind, effective_on=change.effective_on if isinstance(change, IncomeChange)
                            else change.died_on, income=change if isinstance(change, IncomeChange) else None,
                            death=change if isinstance(change, MemberDeath) else None)
    case_id = review_case_id(household_id, event_id)
    inp = _review_input(e, h, members, case_id=case_id, on=on, pending=pending,
                        why=f"off-cycle review: {kind.replace('_', ' ')} reported (event {event_id})")
    start = _review_start(inp, on, "reported_change", event_id)
    await _open_cases(conn, [(start, household_id, inp.review_reason or "")])
    await conn.execute("UPDATE enrolments SET managed_by = 'case', review_case_id = $2, updated_at = now()"
                       " WHERE household_id = $1", household_id, case_id)
    await conn.execute("INSERT INTO enrolment_reviews (household_id, period, kind, outcome, level_fen, case_id)"
                       " VALUES ($1, $2, 'off-cycle', 'case_opened', $3, $4) ON CONFLICT DO NOTHING",
                       household_id, period_of(on), e["level_fen"], case_id)
    return "start", start


# -- the region's monthly cycle --------------------------------------------------------------------

def _terms_table(regions: list[str], on: date) -> list[tuple[str, int | None, int | None, int | None]]:
    """Per region code: review intervals (seed 004) and the rural quarterly payment month (seed 003),
    from the packs in force: a few hundred policy look-ups instead of one per household."""
    lib = load_library()
    out = []
    for r in regions:
        def num(name: str, region: str = r) -> int | None:
            fig = lib.parameter(name, region, on)
            return int(fig.value) if fig is not None and fig.value is not None else None  # type: ignore[arg-type]
        out.append((r, num("review_interval_stable_months"), num("review_interval_unstable_months"),
                    num("rural_dibao_quarterly_payment_month_of_quarter")))
    return out


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
                                                                       ELSE t.unstable_months END), 'YYYY-MM'),
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
           -- the first month not yet paid: no month of entitlement is ever skipped (arrears included)
           greatest(e.enrolled_from, to_char(to_date(e.paid_through || '-01', 'YYYY-MM-DD') + interval '1 month',
                                             'YYYY-MM')) AS first_month,
           -- rural dibao paid quarterly (seed 003): everything up to the next payment month at once (in
           -- the payment month, the whole quarter); monthly: up to this period
           to_char(to_date($2 || '-01', 'YYYY-MM-DD') + make_interval(months => CASE
               WHEN e.rural_quarterly AND t.quarter_month IS NOT NULL
               THEN coalesce(nullif(((t.quarter_month - (((substr($2, 6, 2)::int - 1) % 3) + 1)) % 3 + 3) % 3, 0), 3) - 1
               ELSE 0 END), 'YYYY-MM') AS through
    FROM enrolments e JOIN cycle_terms t ON t.region_code = e.region_code
    -- repriced this cycle (提标): the new level, written below with paid_through in the same row version
    LEFT JOIN cycle_repriced p ON p.household_id = e.household_id
    WHERE starts_with(e.region_code, $1) AND e.status = 'active' AND e.managed_by = 'cycle'
      AND coalesce(p.new_level, e.level_fen) > 0 AND e.enrolled_from <= $2 AND (e.paid_through IS NULL OR e.paid_through < $2)
), roll AS (
    SELECT d.*, d.level_fen * ((substr(d.through, 1, 4)::int * 12 + substr(d.through, 6, 2)::int)
                               - (substr(d.first_month, 1, 4)::int * 12 + substr(d.first_month, 6, 2)::int) + 1)
                AS amount
    FROM due d
), ins AS (
    INSERT INTO period_rolls (cycle_id, ordinal, household_id, enrolment_id, person_id, region_code, measure, amount_fen)
    SELECT $3, row_number() OVER (ORDER BY household_id), household_id, enrolment_id, person_id, region_code, kind, amount
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

# -- 提标: a newer entry of the standards register reprices the set and back-pays paid months ----------

STANDARDS_WINDOW_BACK, STANDARDS_WINDOW_AHEAD = 35, 2  # months before / after the cycle's period covered


def _standards_table(regions: list[str], period: str) -> list[tuple[Any, ...]]:
    """Per region code, urban/rural, kind and month (the cycle's period, three years back, the rest of a
    quarter paid in advance): the price table of a level (shared/policy/benefit.py ``level_terms``: the
    standard, the per-person support, the add-ons and the employment-cost deduction per person, each
    rounded as monthly_benefit rounds it) and the register entry it is priced at. A few thousand policy
    look-ups instead of one per household and month."""
    lib = load_library()
    out = []
    months = [add_months(period, k) for k in range(-STANDARDS_WINDOW_BACK, STANDARDS_WINDOW_AHEAD + 1)]
    for r in regions:
        for urban in (True, False):
            for kind in ("dibao", "extreme_poverty"):
                for m in months:
                    on = date.fromisoformat(m + "-01")
                    pp = standards.per_person(lib, r, on, urban=urban, extreme_poverty=kind == "extreme_poverty")
                    terms = level_terms(lib, r, on, urban=urban, extreme_poverty=kind == "extreme_poverty")
                    if pp is not None and terms is not None:
                        out.append((r, urban, kind, m, pp.fen, pp.version, pp.effective_from, terms.standard_fen,
                                    terms.remote_pp_fen, terms.special_pp_fen, terms.employment_pp_fen,
                                    terms.rigid_deducted))
    return out


STANDARDS_COLUMNS = ("region_code text, urban boolean, kind text, period text, per_person_fen bigint, version text,"
                     " effective date, std_fen bigint, remote_pp bigint, special_pp bigint, emp_pp bigint,"
                     " rigid boolean")


def level_sql(f: str, s: str) -> str:
    """The level of a plain household (facts ``f``: persons, income_fen, rigid_fen, working_at_home, remote,
    special_members, kind) at a price row ``s`` of ``cycle_standards``: shared/policy/benefit.py
    ``monthly_benefit`` term by term, so 提标 gives the level a review would (not a linear shift of the old
    one: the add-ons and the employment-cost deduction scale with the standard).
    - extreme poverty (seed 002 「按照城乡低保月标准1.3倍执行」): the per-person support x persons;
    - dibao (seed 004 「根据差额发放低保金」): standard x persons - counted income, where the counted income is
      the income less the rigid expenditure (where a pack deducts it) less 30 % of the standard per member
      working at home (seed 001, never below zero); nothing when that is not positive; else plus the remote
      add-on per member and the special-member add-on per special member (seed 004)."""
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
UPDATE enrolments e SET standard_fen = s.per_person_fen, standard_version = s.version, standard_from = s.effective
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
                      (count(*) FILTER (WHERE flags @> '{employed}' AND work_region_code IS NOT NULL))::int AS away,
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
SELECT t.household_id, t.person_id, t.region_code, t.kind, t.urban, t.enrolled_from, t.paid_through, t.old_level,
       t.old_fen, t.old_from, t.persons, t.facts_kept, e.benefit_facts, e.monthly_rigid_expenditure_fen,
       e.single_person
FROM cycle_repriced t JOIN enrolments e USING (household_id)
WHERE t.priced_in_python
"""


async def _price_in_python(conn: asyncpg.Connection, period: str, cycle_id: str) -> None:
    """The households whose level the price table does not cover (单人保, a member working away at another
    region's standard, care and orphan allowances): monthly_benefit itself, for the cycle's period and
    for each paid month under a newer entry (back-pay), written set-based. Few households."""
    lib = load_library()
    levels: list[tuple[str, int]] = []
    back: list[tuple[Any, ...]] = []
    undecidable: list[str] = []  # a figure is missing (e.g. the place of work's standard): priced next cycle
    for r in await conn.fetch(PRICED_IN_PYTHON_SQL):
        facts = (BenefitHousehold.model_validate(r["benefit_facts"]) if r["facts_kept"] else
                 await registry_facts(conn, r["household_id"], kind=r["kind"], person_id=r["person_id"],
                                      period=period, rigid_fen=r["monthly_rigid_expenditure_fen"],
                                      single_person=r["single_person"]))
        if facts is None:
            undecidable.append(r["household_id"])
            continue

        def level(month: str, f: BenefitHousehold = facts, region: str = r["region_code"]) -> int | None:
            b = monthly_benefit(lib, region, date.fromisoformat(month + "-01"), f)
            return None if not b.decidable else b.amount_fen if b.payable else 0

        now = level(period)
        if now is None:
            undecidable.append(r["household_id"])
            continue
        levels.append((r["household_id"], now))
        owed: dict[str, list[Any]] = {}  # version -> [first, last, months, per-person, amount, last level]
        month = r["enrolled_from"]
        while r["paid_through"] is not None and month <= r["paid_through"]:
            pp = standards.per_person(lib, r["region_code"], date.fromisoformat(month + "-01"), urban=r["urban"],
                                      extreme_poverty=r["kind"] == "extreme_poverty")
            new = level(month) if pp is not None and pp.effective_from > r["old_from"] else None
            if pp is not None and new is not None and new > r["old_level"]:
                o = owed.setdefault(pp.version, [month, month, 0, 0, 0, new])
                o[1], o[2], o[3], o[4], o[5] = month, o[2] + 1, o[3] + pp.fen - r["old_fen"], o[4] + new - r["old_level"], new
            month = add_months(month, 1)
        for version, (first, last, months, per_person, amount, new_level) in owed.items():
            back.append((r["household_id"], first, last, months, version, r["old_fen"], per_person, r["persons"], amount,
                         f"dibao-topup:{r['household_id']}:{first}:{version}", cycle_id, r["old_level"], new_level))
    await conn.execute("DELETE FROM cycle_repriced WHERE household_id = ANY($1::text[])", undecidable)
    await conn.executemany("UPDATE cycle_repriced SET new_level = $2 WHERE household_id = $1", levels)
    await conn.executemany(
        "INSERT INTO enrolment_back_pay (household_id, period, last_period, months, standard_version, old_fen,"
        " per_person_fen, persons, amount_fen, idempotency_key, cycle_id, old_level_fen, new_level_fen)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING", back)


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
    SELECT $1, $2 + row_number() OVER (ORDER BY b.household_id, b.standard_version), b.household_id, t.enrolment_id,
           t.person_id, t.region_code, t.kind, b.amount_fen, b.idempotency_key
    FROM enrolment_back_pay b JOIN cycle_repriced t USING (household_id)
    WHERE b.cycle_id = $1
    RETURNING amount_fen
)
SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS fen FROM ins
"""


async def reprice(conn: asyncpg.Connection, region_prefix: str, period: str, cycle_id: str,
                  regions: list[str]) -> int:
    """Reprice the households the cycle carries whose standard entry was replaced (提标), and record their
    back-pay; returns how many were repriced. Set-based: a handful of statements whatever the size."""
    await conn.execute(f"CREATE TEMP TABLE cycle_standards ({STANDARDS_COLUMNS},"
                       " PRIMARY KEY (region_code, urban, kind, period)) ON COMMIT DROP")
    await conn.copy_records_to_table("cycle_standards", records=_standards_table(regions, period))
    await conn.execute(PRICE_UNPRICED_SQL, region_prefix, add_months(period, STANDARDS_WINDOW_AHEAD),
                       add_months(period, -STANDARDS_WINDOW_BACK))
    on = date.fromisoformat(period + "-01")
    # a minor: born after this date; elderly: born on or before this one (household_from_registry's ages)
    minor_after, elderly_by = _years_before(on, MINOR_UNDER), _years_before(on, ELDERLY_FROM)
    await conn.execute(REPRICE_TARGETS_SQL, region_prefix, period, minor_after, elderly_by)
    await conn.execute("ANALYZE cycle_repriced")
    await conn.execute(BACK_PAY_SQL, cycle_id)
    await _price_in_python(conn, period, cycle_id)
    await conn.execute(REPRICE_CHANGED_SQL)
    await conn.execute(REPRICED_REVIEWS_SQL, period, cycle_id)
    return await conn.fetchval("SELECT count(*)::int FROM cycle_repriced")


def _years_before(on: date, years: int) -> date:
    return on.replace(year=on.year - years)  # on is a month's first day: no 29 February


def priced_standard(region_code: str, urban: bool, kind: str, period: str) -> standards.PerPerson | None:
    """The standard a level computed for ``period`` is priced at (None: no pack sets it)."""
    return standards.per_person(load_library(), region_code, date.fromisoformat(period + "-01"), urban=urban,
                                extreme_poverty=kind == "extreme_poverty")


def pays_rural_quarterly(region_code: str, on: date) -> bool:
    """Seed 003 「农村低保金按季度发放的地区要实行季度首月发放」: only a region whose pack says it pays rural dibao
    quarterly does; everywhere else rural dibao is paid monthly, like urban dibao."""
    fig = load_library().parameter("rural_dibao_paid_quarterly", region_code, on)
    return fig is not None and fig.value is True


async def review_cohort(conn: asyncpg.Connection, req: act.ReviewCohort, today: date) -> tuple[act.CohortReviewed,
                                                                                               list[CaseStart]]:
    """The cycle's one transaction for a region and period: open a review case for every household whose
    data changed; let every other household due for review continue at its level; take the period's
    payment roll of everyone the cycle carries. A repeat answers from ``review_cycles``."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", req.cycle_id)
    done = await conn.fetchrow("SELECT * FROM review_cycles WHERE cycle_id = $1", req.cycle_id)
    if done is not None:
        return act.CohortReviewed(cycle_id=req.cycle_id, enrolled=done["enrolled"], due=done["due"],
                                  continued=done["continued"], cases_opened=done["cases_opened"],
                                  on_roll=done["on_roll"], roll_fen=done["roll_fen"], already_done=True), []
    on = date.fromisoformat(req.period + "-01")
    regions = [r["region_code"] for r in await conn.fetch(
        "SELECT DISTINCT region_code FROM enrolments WHERE starts_with(region_code, $1) AND status <> 'terminated'",
        req.region_prefix)]
    await conn.execute("CREATE TEMP TABLE cycle_terms (region_code text PRIMARY KEY, stable_months int,"
                       " unstable_months int, quarter_month int) ON COMMIT DROP")
    await conn.copy_records_to_table("cycle_terms", records=_terms_table(regions, on))
    # 0. a newer standard in force (提标): reprice the set, back-pay the months paid at the old level
    repriced = await reprice(conn, req.region_prefix, req.period, req.cycle_id, regions)
    enrolled, due = await conn.fetchrow(
        "SELECT count(*)::int, (count(*) FILTER (WHERE next_review <= $2))::int FROM enrolments"
        " WHERE starts_with(region_code, $1) AND status <> 'terminated' AND managed_by = 'cycle'",
        req.region_prefix, req.period)

    # 1. data changed since the last review: an individual review case each (off-cycle if not due)
    changed = await conn.fetch(CHANGED_SQL, req.region_prefix)
    members = await _members(conn, [r["household_id"] for r in changed])
    starts: list[tuple[CaseStart, str | None, str]] = []
    for e in changed:
        case_id = review_case_id(e["household_id"], req.cycle_id)
        due_now = e["next_review"] is not None and e["next_review"] <= req.period
        why = (f"{'scheduled' if due_now else 'off-cycle'} review {req.period}: the registry "
               f"changed since the last review (version {e['reviewed_version']} -> {e['version']})")
        inp = _review_input(e, e, members.get(e["household_id"], []), case_id=case_id, on=on, why=why, pending=None)
        starts.append((_review_start(inp, on, "review_cycle", req.cycle_id), e["household_id"], why))
    await _open_cases(conn, starts)
    if changed:
        await conn.execute(
            """
            UPDATE enrolments e SET managed_by = 'case', review_case_id = c.case_id, updated_at = now()
            FROM unnest($1::text[], $2::text[]) AS c(household_id, case_id) WHERE e.household_id = c.household_id
            """, [s.workflow_input.household_id for s, _, _ in starts], [s.case_id for s, _, _ in starts])
        await conn.execute(
            "INSERT INTO enrolment_reviews (household_id, period, kind, outcome, level_fen, case_id, cycle_id)"
            " SELECT h, $1, 'cycle', 'case_opened', l, c, $2 FROM unnest($3::text[], $4::bigint[], $5::text[])"
            " AS r(h, l, c) ON CONFLICT DO NOTHING", req.period, req.cycle_id,
            [e["household_id"] for e in changed], [e["level_fen"] for e in changed], [s.case_id for s, _, _ in starts])

    # 2. due, unchanged: continue at the same level, next review one interval on
    continued = await conn.fetchval(CONTINUE_SQL, req.region_prefix, req.period, req.cycle_id)

    # 3. the period's payment roll
    on_roll, roll_fen = await conn.fetchrow(ROLL_SQL, req.region_prefix, req.period, req.cycle_id)
    await conn.execute(REPRICE_REST_SQL)  # repriced households the roll did not take this period
    back_rows, back_fen = await conn.fetchrow(BACK_PAY_ROLL_SQL, req.cycle_id, on_roll)
    on_roll, roll_fen = on_roll + back_rows, roll_fen + back_fen
    out = act.CohortReviewed(cycle_id=req.cycle_id, enrolled=enrolled, due=due, continued=continued,
                             cases_opened=len(starts), on_roll=on_roll, roll_fen=roll_fen)
    await conn.execute(
        "INSERT INTO review_cycles (cycle_id, region_prefix, period, enrolled, due, continued, cases_opened,"
        " on_roll, roll_fen, repriced, back_pay_rows, back_pay_fen)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        req.cycle_id, req.region_prefix, req.period, enrolled, due, continued, len(starts), on_roll, roll_fen,
        repriced, back_rows, back_fen)
    return out, [s for s, _, _ in starts]




# -- a dibao application ---------------------------------------------------------------------------

class NotEnrollable(Exception):
    def __init__(self, reason: str, status_code: int = 422):
        super().__init__(reason)
        self.reason, self.status_code = reason, status_code


async def application_start(conn: asyncpg.Connection, *, case_id: str, person_id: str, region_code: str,
                            application: EnrolmentApplication, on: date, rigid_expenditure_fen: int = 0,
                            single_person: bool = False) -> tuple[CaseStart, str]:
    """The enrolment case of a dibao (or extreme-poverty) application: the household as the registry
    knows it; the case checks, asks the county, reviews and pays its first period, then hands it back."""
    h = await conn.fetchrow("SELECT h.* FROM households h JOIN members m USING (household_id)"
                            " WHERE m.person_id = $1", person_id)
    if h is None:
        raise NotEnrollable("the applicant's household is not registered: register it first (POST /api/households)")
    if not h["region_code"].startswith(region_code[:6]):
        raise NotEnrollable(f"the household is registered in {h['region_code']}, not in {region_code}")
    e = await roster_row(conn, h["household_id"])
    if e is not None and e["status"] != "terminated":
        raise NotEnrollable(f"household {h['household_id']} is already enrolled ({e['kind']}, {e['status']})", 409)
    members = (await _members(conn, [h["household_id"]])).get(h["household_id"], [])
    extreme = "extreme_poverty" in (h["categories"] or [])
    household = household_from_registry(members, monthly_income_fen=h["monthly_income_fen"], urban=h["urban"],
                                        extreme_poverty=extreme, on=on, registry_version=h["version"],
                                        remote=h["remote"], categories=list(h["categories"] or []),
                                        applicant=person_id)
    household = household.model_copy(update={"monthly_rigid_expenditure_fen": rigid_expenditure_fen,
                                             "single_person": single_person})
    period = period_of(on)
    inp = RenewalInput(case_id=case_id, person_id=person_id, household_id=h["household_id"],
                       region_code=h["region_code"], household=household, first_period=period,
                       rural_quarterly=not h["urban"] and pays_rural_quarterly(h["region_code"], on),
                       hand_back=True, application=application,
                       first_due_at=due_at(period),
                       enrolled_from=period, enrolment_id=case_id)
    return CaseStart(case_id=case_id, pathway=PATHWAY, trigger="application", workflow="Renewal",
                     person_id=person_id, region_code=h["region_code"], business_date=on, cause_event_id=None,
                     workflow_input=inp), h["household_id"]
