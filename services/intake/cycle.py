"""The region's monthly cycle (低保/特困 在册对象, seed 004): one transaction per region and period that
reviews the households the cycle carries and takes the period's payment roll.

0. 提标: a newer entry of the standards register reprices the set and back-pays the months paid at the
   old level (``reprice``); what the price table does not cover is priced by ``monthly_benefit``;
1. a household whose registry data changed since its last review is reviewed as a set where the policy
   decides its review (services/intake/cycle_review.py: adjusted, continued, a gradual exit as roster state,
   an exit); only one that needs a person gets a review case of its own; gradual exits whose months are
   over end;
2. everyone else due for review continues at the same level (seed 004:
   「对没有明显变化的，不再调整救助水平」);
3. the period's payment roll of everyone the cycle carries, then the back-pay rows.
The statements themselves are in services/intake/store/cycle.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from services.intake import cycle_review, enrolment, store
from services.intake.enrolment import ELDERLY_FROM, MINOR_UNDER, ReviewOpening, whole_figure
from services.intake.store import cycle as sql
from services.intake.store import roster
from shared.contracts import activities as act
from shared.policy import load_library, standards
from shared.policy.benefit import BenefitHousehold, level_terms, monthly_benefit
from workflows.renewal.inputs import add_months

log = logging.getLogger(__name__)
STANDARDS_WINDOW_BACK, STANDARDS_WINDOW_AHEAD = 35, 2  # months before / after the cycle's period covered


def _terms_table(regions: list[str], on: date) -> list[tuple[str, int | None, int | None, int | None]]:
    """Per region code: review intervals (seed 004) and the rural quarterly payment month (seed 003),
    from the packs in force: a few hundred policy look-ups instead of one per household."""
    return [(r, whole_figure("review_interval_stable_months", r, on),
             whole_figure("review_interval_unstable_months", r, on),
             whole_figure("rural_dibao_quarterly_payment_month_of_quarter", r, on)) for r in regions]


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
                    extreme = kind == "extreme_poverty"
                    pp = standards.per_person(lib, r, on, urban=urban, extreme_poverty=extreme)
                    terms = level_terms(lib, r, on, urban=urban, extreme_poverty=extreme)
                    if pp is not None and terms is not None:
                        out.append((r, urban, kind, m, pp.fen, pp.version, pp.effective_from,
                                    terms.standard_fen, terms.remote_pp_fen, terms.special_pp_fen,
                                    terms.employment_pp_fen, terms.rigid_deducted))
    return out


# -- 提标: a newer entry of the standards register reprices the set and back-pays paid months ----------

async def reprice(conn: asyncpg.Connection, region_prefix: str, period: str, cycle_id: str,
                  regions: list[str]) -> int:
    """Reprice the households the cycle carries whose standard entry was replaced (提标), and record their
    back-pay; returns how many were repriced. Set-based: a handful of statements whatever the size."""
    await sql.load_standards(conn, _standards_table(regions, period))
    on = date.fromisoformat(period + "-01")
    # a minor: born after this date; elderly: born on or before this one (household_from_registry's ages)
    await sql.select_repriced(conn, region_prefix, period, ahead=add_months(period, STANDARDS_WINDOW_AHEAD),
                              back=add_months(period, -STANDARDS_WINDOW_BACK),
                              minor_after=_years_before(on, MINOR_UNDER),
                              elderly_by=_years_before(on, ELDERLY_FROM),
                              cycle_id=cycle_id)
    await _price_in_python(conn, period, cycle_id)
    return await sql.reprice_changed(conn, period, cycle_id)


def _years_before(on: date, years: int) -> date:
    return on.replace(year=on.year - years)  # on is a month's first day: no 29 February


async def _price_in_python(conn: asyncpg.Connection, period: str, cycle_id: str) -> None:
    """The households whose level the price table does not cover (单人保, a member working away at another
    region's standard, care and orphan allowances): monthly_benefit itself, for the cycle's period and
    for each paid month under a newer entry (back-pay), written set-based. Few households."""
    levels: list[tuple[str, int]] = []
    back: list[tuple[Any, ...]] = []
    undecidable: list[str] = []  # a figure is missing (e.g. the place of work's standard): priced next cycle
    for r in await sql.priced_in_python(conn):
        facts = (BenefitHousehold.model_validate(r["benefit_facts"]) if r["facts_kept"] else
                 await enrolment.registry_facts(conn, r["household_id"], kind=r["kind"],
                                                person_id=r["person_id"], period=period,
                                                rigid_fen=r["monthly_rigid_expenditure_fen"],
                                                single_person=r["single_person"]))
        now = None if facts is None else _level(facts, r["region_code"], period)
        if facts is None or now is None:
            undecidable.append(r["household_id"])
            continue
        levels.append((r["household_id"], now))
        back += _back_pay_rows(r, facts, cycle_id)
    await sql.write_python_prices(conn, undecidable=undecidable, levels=levels, back_pay=back)


def _level(facts: BenefitHousehold, region_code: str, month: str) -> int | None:
    """The household's level for a month (0: not payable; None: undecidable, a figure is missing)."""
    b = monthly_benefit(load_library(), region_code, date.fromisoformat(month + "-01"), facts)
    return None if not b.decidable else b.amount_fen if b.payable else 0


@dataclass
class _Owed:
    """The back-pay of one household under one standard entry, over the paid months it covers."""

    first: str
    last: str
    months: int = 0
    per_person_fen: int = 0
    amount_fen: int = 0
    new_level: int = 0


def _back_pay_rows(r: asyncpg.Record, facts: BenefitHousehold, cycle_id: str) -> list[tuple[Any, ...]]:
    """Each month already paid whose standard entry is newer than the one the level was priced at: the
    exact level of that month minus the level paid; one row per standard entry under the key
    ``dibao-topup:<household>:<first month>:<version>`` (derived from the cause)."""
    lib = load_library()
    owed: dict[str, _Owed] = {}
    month = r["enrolled_from"]
    while r["paid_through"] is not None and month <= r["paid_through"]:
        pp = standards.per_person(lib, r["region_code"], date.fromisoformat(month + "-01"), urban=r["urban"],
                                  extreme_poverty=r["kind"] == "extreme_poverty")
        newer = pp is not None and pp.effective_from > r["old_from"]
        new = _level(facts, r["region_code"], month) if newer else None
        if pp is not None and new is not None and new > r["old_level"]:
            o = owed.setdefault(pp.version, _Owed(first=month, last=month))
            o.last, o.months, o.new_level = month, o.months + 1, new
            o.per_person_fen += pp.fen - r["old_fen"]
            o.amount_fen += new - r["old_level"]
        month = add_months(month, 1)
    return [(r["household_id"], o.first, o.last, o.months, version, r["old_fen"], o.per_person_fen,
             r["persons"], o.amount_fen, f"dibao-topup:{r['household_id']}:{o.first}:{version}", cycle_id,
             r["old_level"], o.new_level) for version, o in owed.items()]


# -- the cycle ---------------------------------------------------------------------------------------

async def review_cohort(conn: asyncpg.Connection, req: act.ReviewCohort) -> act.CohortReviewed:
    """The cycle's one transaction for a region and period: open a review case for every household whose
    data changed; let every other household due for review continue at its level; take the period's
    payment roll of everyone the cycle carries. A repeat answers from ``review_cycles``. The review cases'
    workflows are started afterwards (``intake.start_review_cases``), from the cases' rows."""
    await sql.lock_cycle(conn, req.cycle_id)
    done = await roster.review_cycle(conn, req.cycle_id)
    if done is not None:
        return _already_reviewed(done)
    t0 = time.monotonic()
    regions = await sql.enrolled_regions(conn, req.region_prefix)
    await sql.load_terms(conn, _terms_table(regions, date.fromisoformat(req.period + "-01")))
    # 0. a newer standard in force (提标): reprice the set, back-pay the months paid at the old level
    repriced = await reprice(conn, req.region_prefix, req.period, req.cycle_id, regions)
    enrolled, due = await sql.enrolled_and_due(conn, req.region_prefix, req.period)
    t1 = time.monotonic()
    # 1. data changed since the last review: reviewed as a set where the policy decides; an individual
    #    review case (off-cycle if not due) for each household that needs a person; exits that are over end
    reviewed = await cycle_review.review_changed(conn, region_prefix=req.region_prefix, period=req.period,
                                                 cycle_id=req.cycle_id)
    opened = await _open_changed(conn, req)
    exits_ended = await cycle_review.end_exits(conn, region_prefix=req.region_prefix, period=req.period,
                                               cycle_id=req.cycle_id, regions=regions)
    t2 = time.monotonic()
    # 2. due, unchanged: continue at the same level, next review one interval on
    continued = await sql.continue_unchanged(conn, req.region_prefix, req.period, req.cycle_id)
    # 3. the period's payment roll, then the back-pay
    (on_roll, roll_fen), (back_rows, back_fen) = await sql.take_roll(conn, req.region_prefix, req.period,
                                                                     req.cycle_id)
    t3 = time.monotonic()
    log.info("cycle %s: 提标 %.1f s, changed households %.1f s, continue and roll %.1f s", req.cycle_id, t1 - t0,
             t2 - t1, t3 - t2)
    out = act.CohortReviewed(cycle_id=req.cycle_id, enrolled=enrolled, due=due, continued=continued,
                             cases_opened=opened, on_roll=on_roll + back_rows, roll_fen=roll_fen + back_fen,
                             reviewed=reviewed.reviewed, exits_ended=exits_ended)
    await sql.record_cycle(conn, cycle_id=req.cycle_id, region_prefix=req.region_prefix, period=req.period,
                           enrolled=enrolled, due=due, continued=continued, cases_opened=opened,
                           on_roll=out.on_roll, roll_fen=out.roll_fen, repriced=repriced,
                           back_pay_rows=back_rows, back_pay_fen=back_fen, reviewed=reviewed.reviewed,
                           exits_ended=exits_ended)
    return out


def _already_reviewed(done: roster.CycleView) -> act.CohortReviewed:
    return act.CohortReviewed(cycle_id=done.cycle_id, enrolled=done.enrolled, due=done.due,
                              continued=done.continued, cases_opened=done.cases_opened, on_roll=done.on_roll,
                              roll_fen=done.roll_fen, already_done=True,
                              reviewed=done.reviewed, exits_ended=done.exits_ended)


async def _open_changed(conn: asyncpg.Connection, req: act.ReviewCohort) -> int:
    """A review case for each household whose registry data changed since its last review and that the set
    left to a person; the cycle hands them to their cases in the same transaction. Returns how many."""
    on = date.fromisoformat(req.period + "-01")
    changed = await sql.changed_households(conn, req.region_prefix)
    members = await store.members_of(conn, [r["household_id"] for r in changed])
    openings: list[ReviewOpening] = []
    for e in changed:
        case_id = enrolment.review_case_id(e["household_id"], req.cycle_id)
        due_now = e["next_review"] is not None and e["next_review"] <= req.period
        why = (f"{'scheduled' if due_now else 'off-cycle'} review {req.period}: the registry "
               f"changed since the last review (version {e['reviewed_version']} -> {e['version']})")
        inp = enrolment.review_input(e, e, members.get(e["household_id"], []), case_id=case_id, on=on,
                                     why=why, pending=None)
        openings.append(ReviewOpening(enrolment.review_start(inp, on, "review_cycle", req.cycle_id),
                                      e["household_id"], why, e["level_fen"]))
    await enrolment.open_review_cases(conn, openings, period=req.period, kind="cycle", cycle_id=req.cycle_id)
    return len(openings)
