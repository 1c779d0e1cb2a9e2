"""The cycle's set-based review of changed households (issue 18): what a ``Renewal`` review case would
decide for a household whose registry data changed, decided for all of them at once in the cycle's
transaction, because the policy decides it without a person.

- **level**: monthly_benefit term by term in SQL at the period's row of the price table (the 提标 SQL's
  ``level_sql``); the few the table does not cover (单人保, members working away, care, orphans) and those
  no longer payable are reviewed in Python by the renewal case's own policy step (``period_terms_now``);
- **outcome** as the case's ``_review_outcome`` gives it (seed 004 「没有明显变化的，不再调整救助水平」):
  ``adjust`` / ``continue`` at the new level, paid by the period's roll under ``dibao:<household>:<period>``
  like everyone else; ``gradual_exit`` (income above the standard through employment: the months of
  shared/policy/exits.py, seeds 001/002/004) as roster state — status ``gradual_exit`` until ``exit_on``,
  its months as rows with their dates, paid by the rolls and ended by the cycle (``end_exits``); ``exit``
  (above the standard otherwise) ends the benefit this period, unpaid;
- **records**: the review history row, a case record per household (id ``review_case_id(household,
  cycle)``, the one its review case would have had) with the transitions a renewal case records, and its
  bus events ``doudi.case.opened`` / ``.updated`` / ``.closed`` (the read model and timeline project them);
- **a person**: a household the registry no longer places here (or whose applicant died), a level no pack
  decides, an exit while exits are suspended: left changed, so the cycle opens its own review case
  (a ``Renewal`` workflow) as before.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from opentelemetry import propagate

from services.intake import enrolment, store
from services.intake.store import cycle_review as sql
from shared.contracts.domain_events import CASE_CLOSED, CASE_OPENED, CASE_UPDATED, CaseEventData, domain_cloudevent
from shared.policy import load_library
from shared.policy.exits import exit_paused
from workflows.renewal.activities import PeriodQuery, period_terms_now
from workflows.renewal.inputs import PATHWAY, add_months

log = logging.getLogger(__name__)
WORKING_FROM = enrolment.WORKING_AGE[0]


@dataclass(frozen=True)
class Reviewed:
    """How many changed households the cycle reviewed as a set (the rest are opened as review cases)."""

    reviewed: int


def _years_before(on: date, years: int) -> date:
    return on.replace(year=on.year - years)  # on is a month's first day: no 29 February


async def review_changed(conn: asyncpg.Connection, *, region_prefix: str, period: str,
                         cycle_id: str) -> Reviewed:
    """Review every changed household the policy decides (see the module docstring); returns how many.
    Needs ``cycle_standards`` and ``cycle_terms`` (loaded by the cycle before)."""
    on = date.fromisoformat(period + "-01")
    marks = [time.monotonic()]
    await sql.select_targets(conn, region_prefix, period, on=on, minor_after=_years_before(on, enrolment.MINOR_UNDER),
                             elderly_by=_years_before(on, enrolment.ELDERLY_FROM),
                             working_from=_years_before(on, WORKING_FROM))
    marks.append(time.monotonic())
    await sql.write_python_outcomes(conn, await _decide_in_python(conn, period, on))
    marks.append(time.monotonic())
    await sql.name_cases(conn, cycle_id)
    await sql.write_reviews(conn, period=period, cycle_id=cycle_id, pathway=PATHWAY, on=on)
    marks.append(time.monotonic())
    rows = await sql.decided(conn)
    await _record(conn, rows, period=period, cycle_id=cycle_id)
    marks.append(time.monotonic())
    log.info("cycle %s: %d changed households reviewed as a set in %.1f s (levels in SQL %.1f s, in Python "
             "%.1f s, roster and history %.1f s, case records and events %.1f s)", cycle_id, len(rows),
             marks[-1] - marks[0], *(b - a for a, b in zip(marks, marks[1:], strict=False)))
    return Reviewed(reviewed=len(rows))


async def _decide_in_python(conn: asyncpg.Connection, period: str,
                            on: date) -> list[tuple[str, str | None, int | None, int, str]]:
    """The renewal case's review of the few the price table leaves: its inputs (``review_input``) and its
    policy step (``period_terms_now``), its outcome rules (workflows/renewal/workflow.py _review_outcome)."""
    rows = await sql.decided_in_python(conn)
    members = await store.members_of(conn, [r["household_id"] for r in rows])
    out: list[tuple[str, str | None, int | None, int, str]] = []
    for e in rows:
        inp = enrolment.review_input(e, e, members.get(e["household_id"], []), case_id="", on=on, why="",
                                     pending=None)
        terms = period_terms_now(PeriodQuery(region_code=e["region_code"], on=on,
                                             household=inp.household.benefit_facts()))
        b, hid = terms.benefit, e["household_id"]
        if not b.decidable:
            out.append((hid, None, None, 0, f"a person decides: {b.reason}"))
        elif b.payable:
            outcome = "adjust" if b.amount_fen != e["level_fen"] else "continue"
            out.append((hid, outcome, b.amount_fen, 0, f"{b.amount_fen} fen/month ({b.reason})"))
        elif terms.exit_suspended:  # the case suspends the exit and pays meanwhile: a person follows it
            out.append((hid, None, None, 0, f"exit suspended: {b.reason}"))
        elif e["income_reason"] == "employment" and terms.gradual_exit_months:
            n = terms.gradual_exit_months
            out.append((hid, "gradual_exit", 0, n, f"{n} months of gradual exit at {e['level_fen']} fen/month, "
                        f"then exit (income above the standard through employment ({b.reason}))"))
        else:
            out.append((hid, "exit", 0, 0, f"exit: {b.reason}"))
    return out


def suspended_regions(regions: list[str], on: date) -> list[str]:
    """The regions whose packs suspend exits on ``on`` (seed 002 「疫情防控期间暂停低保退出」)."""
    lib = load_library()
    return [r for r in regions if exit_paused(lib, r, on).suspended]


# -- the case records and their events --------------------------------------------------------------

def _policy(r: asyncpg.Record) -> dict[str, Any]:
    pack_id, _, pack_version = (r["std_version"] or "").partition("@")
    return {"pack_id": pack_id or None, "pack_version": pack_version or None, "measure": r["kind"],
            "region_prefix": r["region_code"]}


def _event(subject: str, event_id: str, data: CaseEventData) -> tuple[str, str, dict[str, Any]]:
    return event_id, subject, domain_cloudevent(subject, event_id, data, source=enrolment.SOURCE, time=data.occurred_at)


async def _record(conn: asyncpg.Connection, rows: list[asyncpg.Record], *, period: str, cycle_id: str) -> None:
    """Per household, the transitions and events its renewal case would have recorded: opened, the review
    (``review_<outcome>``) and, unless a gradual exit keeps it open, closed (handed back to the cycle, or
    terminated). Batched: a few statements whatever the number."""
    at = datetime.now(UTC)
    transitions: list[tuple[str, int, str, str, str, dict[str, Any]]] = []
    events: list[tuple[str, str, dict[str, Any]]] = []
    for r in rows:
        case_id, outcome = r["case_id"], r["outcome"]
        level = r["new_level"] if outcome in ("adjust", "continue") else r["old_level"]
        base = dict(case_id=case_id, pathway=PATHWAY, person_id=r["person_id"], household_id=r["household_id"],
                    region_code=r["region_code"], cause_event_id=cycle_id, occurred_at=at)
        opened = (f"{r['review_kind']} review {period}: the registry changed since the last review (version "
                  f"{r['reviewed_version']} -> {r['version']}); reviewed by the region's cycle")
        first = _event(CASE_OPENED, f"{case_id}:opened", CaseEventData(**base, status="open", stage="opened",
                                                                        note=opened))
        events.append(first)
        schedule = f"next review {r['next_review']} ({r['cadence']})" if r["next_review"] else "no review interval"
        note = f"{r['review_kind']} review {period}: {r['why']}; {schedule}"
        policy = _policy(r)
        steps: list[tuple[str, str, str, str | None, dict[str, Any] | None]] = [
            ("open", f"review_{outcome}", note, None, policy)]
        if outcome == "exit":
            steps.append(("closed", "closed", f"exit {period}: {r['why']}", "terminated", None))
        elif outcome != "gradual_exit":
            steps.append(("closed", "closed", f"settled at {level} fen/month, next review {r['next_review']}: "
                          f"paid by the region's monthly cycle from {period}", "handed_back", None))
        for seq, (status, stage, text, end, pol) in enumerate(steps, start=1):
            detail = {"outcome": end, "policy": pol, "approved_amount_fen": level, "flags": [], "deadlines": [],
                      "escalated_to": None}
            transitions.append((case_id, seq, status, stage, text, detail))
            # the opened event's envelope and data, with the transition's fields (as record_transition sends
            # them): one model dump per household, not one per event
            subject = CASE_CLOSED if end else CASE_UPDATED
            events.append((f"{case_id}:{seq}", subject, {
                **first[2], "id": f"{case_id}:{seq}", "type": f"{subject}.v1",
                "data": {**first[2]["data"], "status": status, "stage": stage, "note": text, "policy": pol,
                         "approved_amount_fen": level, "outcome": end, "seq": seq, "flags": [], "deadlines": [],
                         "escalated_to": None}}))
    await _write(conn, transitions, events)


async def _write(conn: asyncpg.Connection, transitions: list[tuple[str, int, str, str, str, dict[str, Any]]],
                 events: list[tuple[str, str, dict[str, Any]]]) -> None:
    headers: dict[str, str] = {}
    propagate.inject(headers)  # the trace of the cycle that caused the events
    await sql.write_transitions(conn, transitions)
    await sql.stage_events(conn, events, headers, schema=store.SCHEMA)


async def end_exits(conn: asyncpg.Connection, *, region_prefix: str, period: str, cycle_id: str,
                    regions: list[str]) -> int:
    """End the gradual exits whose months are over (the case record closes, terminated); returns how many."""
    on = date.fromisoformat(period + "-01")
    ended = await sql.end_exits(conn, region_prefix, period, cycle_id, suspended_regions(regions, on))
    at = datetime.now(UTC)
    transitions: list[tuple[str, int, str, str, str, dict[str, Any]]] = []
    events: list[tuple[str, str, dict[str, Any]]] = []
    for r in ended:
        if r["case_id"] is None:
            continue
        note = f"exit {period}: the gradual exit ended (last month paid {add_months(r['exit_on'], -1)})"
        seq = 2  # the review was the case's first transition
        detail = {"outcome": "terminated", "policy": None, "approved_amount_fen": r["level_fen"], "flags": [],
                  "deadlines": [], "escalated_to": None}
        transitions.append((r["case_id"], seq, "closed", "closed", note, detail))
        events.append(_event(CASE_CLOSED, f"{r['case_id']}:{seq}", CaseEventData(
            case_id=r["case_id"], pathway=PATHWAY, status="closed", stage="closed", person_id=r["person_id"],
            household_id=r["household_id"], region_code=r["region_code"], note=note, occurred_at=at,
            approved_amount_fen=r["level_fen"], outcome="terminated", seq=seq, flags=[], deadlines=[],
            escalated_to=None)))
    await _write(conn, transitions, events)
    return len(ended)
