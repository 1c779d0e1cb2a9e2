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
- A household whose registry data changed since its last review (``households.version <>
  reviewed_version``) is reviewed by the cycle as a set where the policy decides (services/intake/
  cycle_review.py: level adjusted, a gradual exit as roster state, an exit); only one that needs a person
  gets a review case; everyone else due for review continues at the same level in one UPDATE (seed 004:
  「对没有明显变化的，不再调整救助水平」).
- A reported change (``household.income_changed``, ``household.member_deceased``) updates the
  registry; for a household carried by the cycle it opens an off-cycle review case at once, for one
  carried by a case it goes to that case as a workflow update (update id = event id).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import asyncpg

from services.intake import store
from services.intake.routing import CaseStart
from services.intake.store import roster
from services.intake.store.roster import facts_columns
from shared.contracts import activities as act
from shared.contracts.domain_events import CASE_OPENED, CaseEventData, domain_cloudevent
from shared.infra.outbox import add_many_to_outbox
from shared.policy import load_library, standards
from shared.policy.benefit import BenefitHousehold, WorkPlace
from workflows.registry import bound
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

__all__ = ["facts_columns"]  # kept here for its callers: the roster's columns of a level's facts

log = logging.getLogger(__name__)
SOURCE = "urn:doudi:intake"
# the workflow a renewal case runs (its type name from the pathway registry's binding)
RENEWAL_WORKFLOW = bound(PATHWAY).workflow_type

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
    for m in sorted(living, key=lambda m: (m["person_id"] != applicant, m.get("relation") != "head",
                                           m["person_id"])):
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
        in_institution = any(INSTITUTION_FLAG in (m.get("flags") or ()) for m in living)
        orphan = "institutional" if in_institution else "dispersed"
    return Household(members=out or [Member(person_id=members[0]["person_id"])],
                     monthly_income_fen=monthly_income_fen, urban=urban, extreme_poverty=extreme_poverty,
                     income_stable=income_stable, remote=remote, registry_version=registry_version,
                     marginal=bool(cats & MARGINAL_CATEGORIES), orphan=orphan)


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

async def settle(conn: asyncpg.Connection, s: act.EnrolmentSettlement) -> bool:
    """Write a renewal case's decision into the roster (see :class:`act.EnrolmentSettlement`)."""
    row = await roster.roster_row(conn, s.household_id, lock=True)
    # only the case that carries the household writes; after a termination, a new enrolment case may
    if row is not None and row["review_case_id"] != s.case_id and row["status"] != "terminated":
        log.warning("case %s no longer carries household %s (%s does); roster unchanged",
                    s.case_id, s.household_id, row["review_case_id"])
        return False
    h = await store.household_row(conn, s.household_id)
    if h is None:
        raise LookupError(f"household {s.household_id} is not in the registry")
    # the standard the case's level is priced at: that of the review that set it (提标 reprices from there)
    priced_at = s.priced_at or s.paid_through or s.enrolled_from
    priced = priced_standard(s.region_code, h["urban"], s.kind, priced_at)
    # ... and the facts it was computed from (a case of an older worker sends none: the registry's, as
    # the review saw them)
    facts = s.facts or await registry_facts(conn, s.household_id, kind=s.kind, person_id=s.person_id,
                                            period=priced_at, rigid_fen=s.monthly_rigid_expenditure_fen,
                                            single_person=s.single_person)
    await roster.write_settlement(conn, s, registry_version=h["version"], priced=priced, facts=facts)
    return True


def _household_of(h: asyncpg.Record, members: list[dict[str, Any]], *, kind: str, on: date,
                  applicant: str | None, rigid_fen: int, single_person: bool,
                  income_stable: bool = True) -> Household:
    """The renewal workflow's view of a registered household (``h``: its registry row) for a roster kind."""
    return household_from_registry(
        members, monthly_income_fen=h["monthly_income_fen"], urban=h["urban"],
        extreme_poverty=kind == "extreme_poverty", on=on, income_stable=income_stable,
        registry_version=h["version"], remote=h["remote"], categories=list(h["categories"] or []),
        applicant=applicant).model_copy(update={"monthly_rigid_expenditure_fen": rigid_fen,
                                                "single_person": single_person})


async def registry_facts(conn: asyncpg.Connection, household_id: str, *, kind: str, person_id: str | None,
                         period: str, rigid_fen: int, single_person: bool) -> BenefitHousehold | None:
    """The benefit facts of a household as the registry has them for ``period`` (a review's view)."""
    h = await store.household_row(conn, household_id)
    members = (await store.members_of(conn, [household_id])).get(household_id, [])
    if h is None or not members:
        return None
    return _household_of(h, members, kind=kind, on=date.fromisoformat(period + "-01"), applicant=person_id,
                         rigid_fen=rigid_fen, single_person=single_person).benefit_facts()


def review_input(e: asyncpg.Record, h: asyncpg.Record, members: list[dict[str, Any]], *, case_id: str,
                 on: date, why: str, pending: PendingChange | None) -> RenewalInput:
    """The input of an enrolled household's review case (``e``: its roster row, ``h``: its registry row)."""
    first_period = add_months(e["paid_through"], 1) if e["paid_through"] else e["enrolled_from"]
    household = _household_of(h, members, kind=e["kind"], on=on, applicant=e["person_id"],
                              income_stable=e["cadence"] == "stable",
                              rigid_fen=e["monthly_rigid_expenditure_fen"], single_person=e["single_person"])
    state = RenewalState(period=first_period, household=household, level_fen=e["level_fen"], kind=e["kind"],
                         next_review=e["next_review"], last_income_reason=h["income_reason"],
                         pending=[pending] if pending else [],
                         priced_from=e["standard_from"], priced_version=e["standard_version"],
                         reviews=[{"period": e["enrolled_from"], "kind": "roster", "outcome": "enrolled",
                                   "level_fen": e["level_fen"]}], **_exit_state(e, first_period))
    return RenewalInput(case_id=case_id, person_id=e["person_id"], household_id=e["household_id"],
                        region_code=e["region_code"], household=household, first_period=first_period,
                        rural_quarterly=e["rural_quarterly"], hand_back=True, review_reason=why,
                        first_due_at=due_at(first_period),
                        enrolment_id=e["enrolment_id"], enrolled_from=e["enrolled_from"], opening_state=state)


def _exit_state(e: asyncpg.Record, first_period: str) -> dict[str, Any]:
    """A gradual exit the cycle carries as roster state (services/intake/cycle_review.py) goes on in the
    case: the months left before ``exit_on``."""
    exit_on = e.get("exit_on")
    if e["status"] != "gradual_exit" or exit_on is None:
        return {}
    left = (int(exit_on[:4]) * 12 + int(exit_on[5:])) - (int(first_period[:4]) * 12 + int(first_period[5:]))
    return {"status": "gradual_exit", "exit_months_left": max(left, 0),
            "exit_reason": "income above the standard through employment (gradual exit begun by the cycle)"}


@dataclass(frozen=True)
class ReviewOpening:
    """A review case to open for an enrolled household, at the level it is paid now."""

    start: CaseStart
    household_id: str
    note: str
    level_fen: int


async def open_review_cases(conn: asyncpg.Connection, openings: list[ReviewOpening], *, period: str,
                            kind: str, cycle_id: str | None = None) -> None:
    """Open review cases in bulk: the case rows and their ``doudi.case.opened`` events (one outbox row
    each); the households are carried by their cases from now on, and their review history says so."""
    if not openings:
        return
    await store.open_cases(conn, [
        (o.start.case_id, o.start.pathway, o.start.trigger, o.start.person_id, o.household_id,
         o.start.region_code, o.start.business_date, o.start.cause_event_id, o.start.workflow,
         o.start.workflow_input.model_dump(mode="json")) for o in openings])
    await add_many_to_outbox(conn, schema=store.SCHEMA, events=[_opened_event(o) for o in openings])
    household_ids, case_ids = [o.household_id for o in openings], [o.start.case_id for o in openings]
    await roster.hand_to_cases(conn, household_ids, case_ids)
    await roster.record_cases_opened(conn, period=period, kind=kind, household_ids=household_ids,
                                     levels=[o.level_fen for o in openings], case_ids=case_ids,
                                     cycle_id=cycle_id)


def _opened_event(o: ReviewOpening) -> tuple[str, str, dict[str, Any]]:
    """The review case's ``doudi.case.opened`` (event id ``<case_id>:opened``) for the outbox."""
    event_id = f"{o.start.case_id}:opened"
    return event_id, CASE_OPENED, domain_cloudevent(CASE_OPENED, event_id, CaseEventData(
        case_id=o.start.case_id, pathway=o.start.pathway, status="open", stage="opened",
        person_id=o.start.person_id, household_id=o.household_id, region_code=o.start.region_code,
        cause_event_id=o.start.cause_event_id, note=o.note), source=SOURCE)


def review_start(inp: RenewalInput, on: date, trigger: str, cause: str | None) -> CaseStart:
    return CaseStart(case_id=inp.case_id, pathway=PATHWAY, trigger=trigger, workflow=RENEWAL_WORKFLOW,
                     person_id=inp.person_id, region_code=inp.region_code, business_date=on,
                     cause_event_id=cause, workflow_input=inp)


# -- a reported change -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ChangeForCase:
    """A reported change of a household its renewal case carries: the case's update to send it as."""

    case_id: str
    update: str  # "income_changed" | "member_deceased"
    change: IncomeChange | MemberDeath


@dataclass(frozen=True)
class ReviewOpened:
    """An off-cycle review case opened for a household the cycle carried: its workflow to start."""

    start: CaseStart


def _change_kind(change: IncomeChange | MemberDeath) -> str:
    return "income_changed" if isinstance(change, IncomeChange) else "member_deceased"


async def on_reported_change(conn: asyncpg.Connection, household_id: str, event_id: str, on: date,
                             change: IncomeChange | MemberDeath) -> ChangeForCase | ReviewOpened | None:
    """Called in the transaction that accepts the event, BEFORE the registry is changed. Returns what
    to do after the commit: the update for the case that carries the household, or the off-cycle review
    case opened now; None if the household is not enrolled."""
    e = await roster.roster_row(conn, household_id, lock=True)
    if e is None or e["status"] == "terminated":
        return None
    kind = _change_kind(change)
    if e["managed_by"] == "case":
        return ChangeForCase(case_id=e["review_case_id"], update=kind, change=change)
    h = await store.household_row(conn, household_id)
    assert h is not None  # an enrolled household is registered (enrolments references households)
    members = (await store.members_of(conn, [household_id])).get(household_id, [])
    pending = PendingChange(kind=kind, effective_on=change.effective_on if isinstance(change, IncomeChange)
                            else change.died_on, income=change if isinstance(change, IncomeChange) else None,
                            death=change if isinstance(change, MemberDeath) else None)
    case_id = review_case_id(household_id, event_id)
    inp = review_input(e, h, members, case_id=case_id, on=on, pending=pending,
                       why=f"off-cycle review: {kind.replace('_', ' ')} reported (event {event_id})")
    start = review_start(inp, on, "reported_change", event_id)
    opening = ReviewOpening(start, household_id, inp.review_reason or "", e["level_fen"])
    await open_review_cases(conn, [opening], period=period_of(on), kind="off-cycle")
    return ReviewOpened(start)


def priced_standard(region_code: str, urban: bool, kind: str, period: str) -> standards.PerPerson | None:
    """The standard a level computed for ``period`` is priced at (None: no pack sets it)."""
    return standards.per_person(load_library(), region_code, date.fromisoformat(period + "-01"), urban=urban,
                                extreme_poverty=kind == "extreme_poverty")


def whole_figure(name: str, region_code: str, on: date) -> int | None:
    """A whole-number figure of the packs in force (months, a month of the quarter); None: no pack sets it."""
    fig = load_library().parameter(name, region_code, on)
    value = fig.value if fig is not None else None
    return int(value) if isinstance(value, int | Decimal | str) else None


def pays_rural_quarterly(region_code: str, on: date) -> bool:
    """Seed 003 「农村低保金按季度发放的地区要实行季度首月发放」: only a region whose pack says it pays
    rural dibao quarterly does; everywhere else rural dibao is paid monthly, like urban dibao."""
    fig = load_library().parameter("rural_dibao_paid_quarterly", region_code, on)
    return fig is not None and fig.value is True


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
    h = await store.household_of_member(conn, person_id)
    if h is None:
        raise NotEnrollable("the applicant's household is not registered: register it first"
                            " (POST /api/households)")
    if not h["region_code"].startswith(region_code[:6]):
        raise NotEnrollable(f"the household is registered in {h['region_code']}, not in {region_code}")
    e = await roster.roster_row(conn, h["household_id"])
    if e is not None and e["status"] != "terminated":
        raise NotEnrollable(f"household {h['household_id']} is already enrolled ({e['kind']}, {e['status']})",
                            409)
    members = (await store.members_of(conn, [h["household_id"]])).get(h["household_id"], [])
    kind = "extreme_poverty" if "extreme_poverty" in (h["categories"] or []) else "dibao"
    household = _household_of(h, members, kind=kind, on=on, applicant=person_id,
                              rigid_fen=rigid_expenditure_fen, single_person=single_person)
    period = period_of(on)
    inp = RenewalInput(case_id=case_id, person_id=person_id, household_id=h["household_id"],
                       region_code=h["region_code"], household=household, first_period=period,
                       rural_quarterly=not h["urban"] and pays_rural_quarterly(h["region_code"], on),
                       hand_back=True, application=application,
                       first_due_at=due_at(period),
                       enrolled_from=period, enrolment_id=case_id)
    return CaseStart(case_id=case_id, pathway=PATHWAY, trigger="application", workflow=RENEWAL_WORKFLOW,
                     person_id=person_id, region_code=h["region_code"], business_date=on, cause_event_id=None,
                     workflow_input=inp), h["household_id"]
