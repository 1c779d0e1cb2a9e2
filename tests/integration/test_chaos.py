"""Fault injection in the suite: a small event storm on a private embedded stack while the killer
SIGKILLs services, the worker, NATS, Temporal and PostgreSQL (never the session ``stack`` other tests use);
``make chaos`` runs the same code at full size. Plus the checker itself, shown to catch each violation."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.chaos.storm import (
    KILL_TARGETS,
    KINDS,
    ChaosReport,
    PlannedEvent,
    State,
    plan_events,
    run_chaos,
    verify,
)

PAID_KINDS = {k.name: k.amount_fen for k in KINDS if k.expect == "paid"}


@pytest.mark.stack
async def test_event_storm_with_processes_killed_loses_nothing_and_pays_once():
    # its own data folder outside pytest's basetemp (which a concurrent pytest run may prune); removed
    # when the run is OK, kept with its logs (path in the table) when not
    report = await run_chaos(events=40, seconds=24, seed=20220810, kill_every=3.0, max_settle=100, quiet=60)
    print("\n" + report.table())  # the figures, with -s
    assert report.ok, report.table()
    assert report.duplicates == 0 and report.missing == 0, report.table()
    assert report.orphan_ledger_rows == 0 and report.stuck_cases == 0 and report.read_model_mismatches == 0

    # the storm was a storm: every process kind may be hit, NATS, Temporal and PostgreSQL were, and each
    # came back (PostgreSQL from its WAL: the checks below read what it recovered)
    assert report.kills["nats"] >= 1 and report.kills["temporal"] >= 1 and report.kills["postgres"] >= 1, \
        report.kills
    assert sum(report.kills.values()) >= 6, report.kills
    assert set(report.kills) <= set(KILL_TARGETS)
    for name, n in report.kills.items():
        assert report.restarts[name] >= n, (name, report.restarts)
    # each SIGKILL of PostgreSQL left it to replay its WAL at the next start (crash recovery, its log says)
    assert report.postgres_crash_recoveries >= report.kills["postgres"], report.table()
    assert report.resent_same_id >= 1 and report.publications >= report.events + report.resent_same_id
    assert report.unacked_publications == 0

    # the figures add up to the plan: one case per event, one ledger row per payable case, amounts in fen
    paid = sum(n for kind, n in report.by_kind.items() if kind in PAID_KINDS)
    assert report.events == 40 and report.cases == 40
    assert report.cases_paid == paid == report.ledger_rows
    assert report.cases_not_payable == report.by_kind["ningxia_covid_expired"] >= 1
    assert report.cases_awaiting_decision == report.by_kind["ningxia_quarantine_non_recipient"] >= 1
    assert report.ledger_total_fen == report.expected_total_fen == sum(
        PAID_KINDS[kind] * n for kind, n in report.by_kind.items() if kind in PAID_KINDS)


# -- the checker catches what it is there to catch ----------------------------------------------------


def _consistent(plan: list[PlannedEvent]) -> State:
    """The state a correct run leaves behind for ``plan``."""
    cases: dict[str, Any] = {}
    outcomes: dict[str, Any] = {}
    causes: dict[str, str] = {}
    ledger: list[Any] = []
    rm_cases: dict[str, Any] = {}
    rm_payments: list[Any] = []
    for i, ev in enumerate(plan):
        case_id = f"em-{i:04d}"
        status, stage, outcome = {
            "paid": ("closed", "closed", "paid"),
            "not_payable": ("closed", "closed", "not_payable"),
            "awaiting_county_decision": ("awaiting_decision", "awaiting_county_decision", None),
        }[ev.kind.expect]
        cases[case_id] = {"case_id": case_id, "pathway": "emergency_relief", "person_id": ev.person_id,
                          "status": status, "stage": stage, "cause_event_id": ev.event_id}
        outcomes[case_id] = outcome
        causes[ev.event_id] = case_id
        rm_cases[case_id] = {"case_id": case_id, "status": status, "stage": stage, "outcome": outcome}
        if ev.kind.expect == "paid":
            ledger.append({"payment_id": f"pay-{i}", "idempotency_key": f"{case_id}:1", "case_id": case_id,
                           "person_id": ev.person_id, "amount_fen": ev.kind.amount_fen,
                           "cause_event_id": ev.event_id, "kind": "disbursement"})
            rm_payments.append({"payment_id": f"pay-{i}", "case_id": case_id, "amount_fen": ev.kind.amount_fen})
    return State(cases, outcomes, causes, ledger, rm_cases, rm_payments)


@pytest.fixture
def plan() -> list[PlannedEvent]:
    return plan_events(len(KINDS), 10, random.Random(3))


def _verified(plan: list[PlannedEvent], state: State) -> ChaosReport:
    report = ChaosReport(seed=3)
    verify(plan, state, report)
    return report


def _first(plan: list[PlannedEvent], expect: str) -> tuple[PlannedEvent, str]:
    i, ev = next((i, ev) for i, ev in enumerate(plan) if ev.kind.expect == expect)
    return ev, f"em-{i:04d}"


def test_checker_passes_a_consistent_state(plan: list[PlannedEvent]):
    assert {ev.kind.name for ev in plan} == {k.name for k in KINDS}
    report = _verified(plan, _consistent(plan))
    assert report.ok and report.violations == 0, report.examples
    assert report.cases == len(KINDS) and report.ledger_rows == len(PAID_KINDS)


def test_checker_counts_a_double_payment_as_a_duplicate(plan: list[PlannedEvent]):
    state = _consistent(plan)
    second = dict(state.ledger[0], payment_id="pay-x", idempotency_key=state.ledger[0]["case_id"] + ":2")
    state.ledger.append(second)
    report = _verified(plan, state)
    assert report.duplicates == 1 and report.extra_ledger_rows == 1 and not report.ok
    state.ledger.append(dict(second, payment_id="pay-y"))  # the same key twice (were the constraint gone)
    report = _verified(plan, state)
    assert report.duplicate_idempotency_keys == 1 and report.duplicates == 3


def test_checker_counts_a_second_case_for_one_event_as_a_duplicate(plan: list[PlannedEvent]):
    state = _consistent(plan)
    ev, case_id = _first(plan, "paid")
    state.cases["em-extra"] = dict(state.cases[case_id], case_id="em-extra")
    report = _verified(plan, state)
    assert report.extra_cases == 1 and report.duplicates == 1 and report.missing == 0


def test_checker_counts_a_lost_event_and_a_lost_payment_as_missing(plan: list[PlannedEvent]):
    state = _consistent(plan)
    ev, case_id = _first(plan, "paid")
    state.ledger = [row for row in state.ledger if row["case_id"] != case_id]
    state.rm_payments = [p for p in state.rm_payments if p["case_id"] != case_id]
    report = _verified(plan, state)
    assert report.payable_cases_without_payment == 1 and report.missing == 1
    lost, lost_case = _first(plan, "not_payable")
    del state.causes[lost.event_id], state.cases[lost_case]
    report = _verified(plan, state)
    assert report.events_without_case == 1 and report.missing == 2


def test_checker_counts_orphans_wrong_amounts_stray_payments_stuck_cases_and_read_model_gaps(
        plan: list[PlannedEvent]):
    state = _consistent(plan)
    state.ledger.append(dict(state.ledger[0], payment_id="pay-o", idempotency_key="em-gone:1", case_id="em-gone"))
    assert _verified(plan, state).orphan_ledger_rows == 1

    state = _consistent(plan)
    state.ledger[0] = dict(state.ledger[0], amount_fen=state.ledger[0]["amount_fen"] + 1)
    assert _verified(plan, state).wrong_ledger_rows == 1

    state = _consistent(plan)
    ev, case_id = _first(plan, "not_payable")
    state.ledger.append({"payment_id": "pay-np", "idempotency_key": f"{case_id}:1", "case_id": case_id,
                         "person_id": ev.person_id, "amount_fen": 100, "cause_event_id": ev.event_id, "kind": "x"})
    assert _verified(plan, state).unexpected_payments == 1

    state = _consistent(plan)
    ev, case_id = _first(plan, "paid")
    state.cases[case_id] = dict(state.cases[case_id], status="open", stage="paying")
    assert _verified(plan, state).stuck_cases == 1

    state = _consistent(plan)
    state.rm_payments.pop()
    report = _verified(plan, state)
    assert report.read_model_mismatches == 1 and not report.ok
