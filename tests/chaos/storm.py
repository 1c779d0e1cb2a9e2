"""An event storm under SIGKILL: the invariants that must survive any crash of any process.

During the storm a seeded killer SIGKILLs, every few seconds, one process among the services, the
workflow worker, NATS, the Temporal dev server and PostgreSQL (its whole process group: the postmaster
and every backend at once, as a power cut would; the restarted server replays its WAL); the stack's
supervisor restarts it, as ``doudi up`` does. The publisher behaves like an agency's system: it retries
each publish until JetStream acks it (NATS may be down), and re-sends some events on purpose with the
same event id (with and without ``Nats-Msg-Id``, i.e. inside and beyond JetStream's duplicate window).

Afterwards (killer stopped, every process healthy, the system quiet) the databases must show:

* every distinct event id has exactly one case (intake.case_causes / intake.cases);
* every payable case exactly one ledger row, of the amount the policy pays, for that person and event;
* every non-payable case no ledger row, and the final state its pathway calls for;
* no ledger row without a case, no idempotency key twice;
* the operations read model agrees (status, outcome, payments) — nothing lost between outbox and bus.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats

from deploy.embedded import SERVICES, EmbeddedStack, Ports
from deploy.nats_cluster import NatsCluster
from shared.contracts.events import make_cloudevent
from shared.contracts.sources import SOURCE_USERS, owner_of
from shared.infra.bus import STREAM_EVENTS, connect
from shared.infra.nats_permissions import ADMIN
from tests.support import StackClient, consumer_settled, household, national_id

log = logging.getLogger("doudi.chaos")

KILL_TARGETS: tuple[str, ...] = (*SERVICES, "nats", "temporal", "postgres")
# killed at least once in every run
MUST_KILL: tuple[str, ...] = ("nats", "temporal", "postgres")
POLICY_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "policy"

YINCHUAN_URBAN = "640104"  # 银川市兴庆区 (Ningxia)
YINCHUAN_RURAL = "640122"  # 贺兰县 (Ningxia)
XINZHOU = "361102"         # 上饶市信州区 (Jiangxi; dibao standard from the test fixture: 800 yuan)


@dataclass(frozen=True)
class Kind:
    """One sort of inbound fact, and what the system must make of it."""

    name: str
    event: str               # doudi.events.<event>
    region: str
    urban: bool
    categories: tuple[str, ...] | None   # None: the person is not in the registry
    date_field: str
    on: str
    expect: str              # "paid" | "not_payable" | "awaiting_county_decision"
    amount_fen: int = 0      # what the ledger must hold when paid (integer fen)
    weight: int = 1


KINDS: tuple[Kind, ...] = (
    # seed 002, Ningxia: quarantined dibao household, 3 x the city standard (650 yuan) = 1,950 yuan
    Kind("ningxia_quarantine", "health.quarantined", YINCHUAN_URBAN, True, ("dibao",), "quarantined_on",
         "2022-08-10", "paid", 195000, weight=6),
    # seed 002, Ningxia: COVID diagnosis of a recipient, urban at least 3,000 yuan, rural at least 2,000
    Kind("ningxia_covid_urban", "health.covid_diagnosed", YINCHUAN_URBAN, True, ("extreme_poverty",),
         "diagnosed_on", "2022-08-12", "paid", 300000, weight=3),
    Kind("ningxia_covid_rural", "health.covid_diagnosed", YINCHUAN_RURAL, False, ("extreme_poverty",),
         "diagnosed_on", "2022-08-12", "paid", 200000, weight=3),
    # seed 001, Jiangxi via the Shangrao fixture: 2 x 800 yuan = 1,600 yuan, quarantine and diagnosis
    Kind("shangrao_quarantine", "health.quarantined", XINZHOU, True, ("dibao",), "quarantined_on",
         "2022-08-10", "paid", 160000, weight=3),
    Kind("shangrao_covid", "health.covid_diagnosed", XINZHOU, True, ("dibao",), "diagnosed_on",
         "2022-08-12", "paid", 160000, weight=2),
    # not payable: the Ningxia measure expired on 2023-12-31 (closed, says why, pays nothing)
    Kind("ningxia_covid_expired", "health.covid_diagnosed", YINCHUAN_URBAN, True, ("dibao",), "diagnosed_on",
         "2024-03-01", "not_payable", weight=2),
    # not payable directly: a quarantined non-recipient waits for the county's decision
    Kind("ningxia_quarantine_non_recipient", "health.quarantined", YINCHUAN_URBAN, True, None, "quarantined_on",
         "2022-08-10", "awaiting_county_decision", weight=1),
)


@dataclass
class PlannedEvent:
    event_id: str
    kind: Kind
    person_id: str
    at: float                       # seconds into the storm
    resend_at: float | None = None  # a second publication of the same event id
    resend_with_msg_id: bool = True

    @property
    def data(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "region_code": self.kind.region, self.kind.date_field: self.kind.on}


def plan_events(n: int, seconds: float, rng: random.Random, *, duplicate_share: float = 0.12) -> list[PlannedEvent]:
    """``n`` distinct events spread over the storm (each for its own person: one incident, one case),
    a share of them re-sent later with the same event id."""
    kinds = [k for k in KINDS for _ in range(k.weight)]
    chosen = [rng.choice(kinds) for _ in range(n)]
    # every kind at least once when there is room, so a small storm still covers each outcome
    for i, kind in enumerate(KINDS[: min(n, len(KINDS))]):
        chosen[i] = kind
    rng.shuffle(chosen)
    plan = []
    for i, kind in enumerate(chosen):
        at = i * seconds / n + rng.uniform(0, seconds / n)
        plan.append(PlannedEvent(event_id=f"evt-chaos-{uuid.uuid4()}", kind=kind, person_id=national_id(kind.region),
                                 at=at))
    for ev in rng.sample(plan, max(1, round(n * duplicate_share))):
        ev.resend_at = rng.uniform(ev.at, seconds)
        ev.resend_with_msg_id = rng.random() < 0.5
    return plan


# -- the report ------------------------------------------------------------------------------------


@dataclass
class ChaosReport:
    seed: int
    events: int = 0
    publications: int = 0
    resent_same_id: int = 0
    publish_retries: int = 0
    unacked_publications: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    stream_replicas: int = 0  # the inbound events' stream, when a NATS cluster's leader was killed
    postgres_crash_recoveries: int = 0  # starts after a crash that replayed the WAL (postgres.log)
    stream_messages: dict[str, int] = field(default_factory=dict)  # each stream's messages at the end
    stream_bytes: dict[str, int] = field(default_factory=dict)     # and its bytes
    restarts: dict[str, int] = field(default_factory=dict)
    by_kind: Counter[str] = field(default_factory=Counter)
    cases: int = 0
    cases_paid: int = 0
    cases_not_payable: int = 0
    cases_awaiting_decision: int = 0
    ledger_rows: int = 0
    ledger_total_fen: int = 0
    expected_total_fen: int = 0
    # violations
    events_without_case: int = 0
    extra_cases: int = 0
    payable_cases_without_payment: int = 0
    extra_ledger_rows: int = 0
    duplicate_idempotency_keys: int = 0
    orphan_ledger_rows: int = 0
    wrong_ledger_rows: int = 0
    unexpected_payments: int = 0
    stuck_cases: int = 0
    read_model_mismatches: int = 0
    examples: list[str] = field(default_factory=list)
    publish_failures: list[str] = field(default_factory=list)
    storm_s: float = 0.0
    recovery_s: float = 0.0
    settle_s: float = 0.0
    wall_s: float = 0.0
    data_dir: str = ""

    @property
    def duplicates(self) -> int:
        return self.extra_cases + self.extra_ledger_rows + self.duplicate_idempotency_keys

    @property
    def missing(self) -> int:
        return self.events_without_case + self.payable_cases_without_payment

    @property
    def violations(self) -> int:
        return (self.duplicates + self.missing + self.orphan_ledger_rows + self.wrong_ledger_rows
                + self.unexpected_payments + self.stuck_cases + self.read_model_mismatches
                + self.unacked_publications)

    @property
    def ok(self) -> bool:
        return self.violations == 0

    def table(self) -> str:
        rows: list[tuple[str, str]] = [
            ("seed", str(self.seed)),
            ("events published (distinct)", str(self.events)),
            ("publications incl. duplicates", f"{self.publications} ({self.resent_same_id} re-sent with the same id)"),
            ("publish retries until acked", str(self.publish_retries)),
            ("publications never acked", str(self.unacked_publications)),
        ]
        rows += [(f"  events {k}", str(v)) for k, v in sorted(self.by_kind.items())]
        rows.append(("kills (SIGKILL)", str(sum(self.kills.values()))))
        rows.append(("PostgreSQL crash recoveries (WAL redo)", str(self.postgres_crash_recoveries)))
        rows += [(f"  kills {name}", f"{self.kills.get(name, 0)} (restarts {self.restarts.get(name, 0)})")
                 for name in [*KILL_TARGETS, *sorted(set(self.kills) - set(KILL_TARGETS))]]
        rows += [
            ("cases", str(self.cases)),
            ("  closed paid", str(self.cases_paid)),
            ("  closed not payable", str(self.cases_not_payable)),
            ("  awaiting county decision", str(self.cases_awaiting_decision)),
            ("ledger rows", str(self.ledger_rows)),
            ("ledger total", f"{self.ledger_total_fen} fen (expected {self.expected_total_fen})"),
            ("duplicates", str(self.duplicates)),
            ("  extra cases", str(self.extra_cases)),
            ("  extra ledger rows", str(self.extra_ledger_rows)),
            ("  idempotency keys twice", str(self.duplicate_idempotency_keys)),
            ("missing", str(self.missing)),
            ("  events without a case", str(self.events_without_case)),
            ("  payable cases without payment", str(self.payable_cases_without_payment)),
            ("orphan ledger rows", str(self.orphan_ledger_rows)),
            ("wrong ledger rows (amount/person/event)", str(self.wrong_ledger_rows)),
            ("payments of non-payable cases", str(self.unexpected_payments)),
            ("stuck cases", str(self.stuck_cases)),
            ("read model mismatches", str(self.read_model_mismatches)),
            ("JetStream messages (bytes) per stream", ", ".join(
                f"{k} {v} ({self.stream_bytes.get(k, 0)})" for k, v in self.stream_messages.items())),
            ("storm / recovery / settle", f"{self.storm_s:.1f} s / {self.recovery_s:.1f} s / {self.settle_s:.1f} s"),
            ("wall time", f"{self.wall_s:.1f} s"),
            ("result", "OK" if self.ok else f"FAILED: {self.violations} violations"),
        ]
        width = max(len(k) for k, _ in rows)
        out = [f"{k.ljust(width)}  {v}" for k, v in rows]
        if self.examples:
            out += ["", "violations (first ones):", *(f"  {e}" for e in self.examples[:20])]
        if not self.ok:
            out += ["", f"data folder (logs): {self.data_dir}"]
        return "\n".join(out)


# -- reading the databases -------------------------------------------------------------------------


@dataclass
class State:
    cases: dict[str, asyncpg.Record]
    outcomes: dict[str, str | None]
    causes: dict[str, str]
    ledger: list[asyncpg.Record]
    rm_cases: dict[str, asyncpg.Record]
    rm_payments: list[asyncpg.Record]

    def fingerprint(self) -> tuple[Any, ...]:
        return (len(self.cases), len(self.causes), len(self.ledger), len(self.rm_payments),
                tuple(sorted((k, r["status"], r["stage"]) for k, r in self.cases.items())),
                tuple(sorted((k, r["status"], r["outcome"]) for k, r in self.rm_cases.items())))


async def read_state(pool: asyncpg.Pool) -> State:
    async with pool.acquire() as conn:
        cases = {r["case_id"]: r for r in await conn.fetch(
            "SELECT case_id, pathway, person_id, status, stage, cause_event_id FROM intake.cases")}
        outcomes = {r["case_id"]: r["outcome"] for r in await conn.fetch(
            "SELECT DISTINCT ON (case_id) case_id, detail->>'outcome' AS outcome FROM intake.case_transitions"
            " ORDER BY case_id, seq DESC")}
        causes = {r["event_id"]: r["case_id"] for r in await conn.fetch(
            "SELECT event_id, case_id FROM intake.case_causes")}
        ledger = await conn.fetch("SELECT payment_id, idempotency_key, case_id, person_id, amount_fen, cause_event_id,"
                                  " kind FROM payment.ledger ORDER BY entry_seq")
        rm_cases = {r["case_id"]: r for r in await conn.fetch(
            "SELECT case_id, status, stage, outcome FROM operations.cases")}
        rm_payments = await conn.fetch("SELECT payment_id, case_id, amount_fen FROM operations.payments")
    return State(cases, outcomes, causes, ledger, rm_cases, rm_payments)


def verify(plan: Sequence[PlannedEvent], state: State, report: ChaosReport) -> None:
    """Fill the report's figures and violation counts from the databases' state."""
    examples: list[str] = []
    r = report
    r.cases = len(state.cases)
    r.ledger_rows = len(state.ledger)
    r.ledger_total_fen = sum(row["amount_fen"] for row in state.ledger)
    r.expected_total_fen = sum(ev.kind.amount_fen for ev in plan if ev.kind.expect == "paid")
    r.cases_paid = r.cases_not_payable = r.cases_awaiting_decision = 0
    r.events_without_case = r.extra_cases = r.payable_cases_without_payment = r.extra_ledger_rows = 0
    r.wrong_ledger_rows = r.unexpected_payments = r.stuck_cases = r.read_model_mismatches = 0

    ledger_by_case: dict[str, list[asyncpg.Record]] = {}
    for row in state.ledger:
        ledger_by_case.setdefault(row["case_id"], []).append(row)
    cases_by_person: Counter[str] = Counter(c["person_id"] for c in state.cases.values())
    rm_pay_by_case: Counter[str] = Counter(p["case_id"] for p in state.rm_payments)
    planned_people = {ev.person_id for ev in plan}

    keys = Counter(row["idempotency_key"] for row in state.ledger)
    r.duplicate_idempotency_keys = sum(n - 1 for n in keys.values() if n > 1)
    orphans = [row for row in state.ledger if row["case_id"] not in state.cases]
    r.orphan_ledger_rows = len(orphans)
    examples += [f"orphan ledger row {o['payment_id']} for unknown case {o['case_id']}" for o in orphans]
    strangers = [c for c in state.cases.values() if c["person_id"] not in planned_people]
    r.extra_cases = len(strangers)
    examples += [f"case {c['case_id']} for a person no event named" for c in strangers]

    for ev in plan:
        kind = ev.kind
        if cases_by_person[ev.person_id] > 1:
            r.extra_cases += cases_by_person[ev.person_id] - 1
            examples.append(f"{ev.event_id} ({kind.name}): {cases_by_person[ev.person_id]} cases for one incident")
        case_id = state.causes.get(ev.event_id)
        case = state.cases.get(case_id) if case_id else None
        if case is None:
            r.events_without_case += 1
            examples.append(f"{ev.event_id} ({kind.name}): no case")
            continue
        if case["person_id"] != ev.person_id or case["cause_event_id"] != ev.event_id:
            r.stuck_cases += 1
            examples.append(f"{ev.event_id}: case {case_id} is for {case['person_id']} / {case['cause_event_id']}")
        rows = ledger_by_case.get(case_id, [])
        outcome = state.outcomes.get(case_id)
        if kind.expect == "paid":
            reached = case["status"] == "closed" and outcome == "paid"
            if not rows:
                r.payable_cases_without_payment += 1
                examples.append(f"{ev.event_id} ({kind.name}): case {case_id} {case['status']}/{case['stage']}"
                                f" has no ledger row")
            r.extra_ledger_rows += max(0, len(rows) - 1)
            if len(rows) > 1:
                examples.append(f"case {case_id}: {len(rows)} ledger rows")
            for row in rows:
                if (row["amount_fen"], row["person_id"], row["cause_event_id"], row["idempotency_key"]) != (
                        kind.amount_fen, ev.person_id, ev.event_id, f"{case_id}:1"):
                    r.wrong_ledger_rows += 1
                    examples.append(f"case {case_id}: ledger row {row['payment_id']} pays {row['amount_fen']} fen"
                                    f" (expected {kind.amount_fen}) key {row['idempotency_key']}")
            r.cases_paid += reached
        else:
            if rows:
                r.unexpected_payments += len(rows)
                examples.append(f"{ev.event_id} ({kind.name}): non-payable case {case_id} has {len(rows)} payments")
            if kind.expect == "not_payable":
                reached = case["status"] == "closed" and outcome == "not_payable"
                r.cases_not_payable += reached
            else:
                reached = case["stage"] == kind.expect
                r.cases_awaiting_decision += reached
        if not reached:
            r.stuck_cases += 1
            examples.append(f"{ev.event_id} ({kind.name}): case {case_id} stopped at {case['status']}/"
                            f"{case['stage']} outcome {outcome} (expected {kind.expect})")
            continue
        rm = state.rm_cases.get(case_id)
        if (rm is None or (rm["status"], rm["stage"], rm["outcome"]) != (case["status"], case["stage"], outcome)
                or rm_pay_by_case[case_id] != len(rows)):
            r.read_model_mismatches += 1
            examples.append(f"read model of {case_id}: {dict(rm) if rm else None}, {rm_pay_by_case[case_id]} payments"
                            f" vs intake {case['status']}/{case['stage']}/{outcome}, {len(rows)} ledger rows")
    r.examples = [*r.publish_failures, *examples]


# -- the storm -------------------------------------------------------------------------------------


class Publisher:
    """The agencies' systems: publish each event as the source agency that owns it (its own NATS user),
    retry until JetStream acknowledges it."""

    def __init__(self, nats_urls: dict[str, str], report: ChaosReport):
        self.nats_urls = nats_urls  # source agency user -> URL with its credentials
        self.report = report
        self._ncs: dict[str, nats.NATS] = {}
        self._lock = asyncio.Lock()

    async def _conn(self, user: str) -> nats.NATS:
        async with self._lock:
            nc = self._ncs.get(user)
            if nc is None or nc.is_closed:
                # bounded: an initial connect that cannot succeed (NATS down, refused credentials) must
                # come back to the retry loop and its deadline, not retry inside nats-py for ever
                nc = self._ncs[user] = await asyncio.wait_for(
                    connect(self.nats_urls[user], max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                            connect_timeout=2, allow_reconnect=True, error_cb=self._on_error), timeout=10)
            return nc

    @staticmethod
    async def _on_error(e: Exception) -> None:
        log.debug("publisher's NATS connection: %r", e)  # expected while NATS is being killed

    async def publish(self, ev: PlannedEvent, *, with_msg_id: bool = True, deadline: float) -> bool:
        agency = owner_of(ev.kind.event)
        body = json.dumps(make_cloudevent(ev.kind.event, ev.data, event_id=ev.event_id,
                                          source=f"{agency.source_uri}:chaos")).encode()
        headers = {"Nats-Msg-Id": ev.event_id} if with_msg_id else None
        delay = 0.2
        while True:
            try:
                nc = await self._conn(agency.user)
                await nc.jetstream().publish(f"doudi.events.{ev.kind.event}", body, headers=headers, timeout=3)
                self.report.publications += 1
                return True
            except Exception as e:  # NATS down, restarting, stream not yet recovered: try again
                log.debug("publish %s failed (%r); retrying", ev.event_id, e)
                self.report.publish_retries += 1
                if time.monotonic() > deadline:
                    self.report.unacked_publications += 1
                    self.report.publish_failures.append(f"publication of {ev.event_id} never acked: {e!r}")
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        for nc in self._ncs.values():
            if not nc.is_closed:
                with contextlib.suppress(Exception):
                    await nc.close()


async def killer(stack: EmbeddedStack, rng: random.Random, report: ChaosReport, stop: asyncio.Event, *,
                 every: float, targets: Sequence[str], must: Sequence[str]) -> None:
    """SIGKILL one live process every ``every`` seconds (give or take half), until ``stop``; the ones in
    ``must`` are killed at least once (early when there is time, else when the storm ends)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(0.5 * every, 1.5 * every))
        if stop.is_set():
            break
        alive = [n for n in targets if stack.procs[n].alive]
        if not alive:
            continue
        owed = [n for n in must if report.kills[n] == 0 and n in alive]
        name = rng.choice(owed) if owed and rng.random() < 0.5 else rng.choice(alive)
        _kill(stack, name, report)
    for name in must:
        if report.kills[name] == 0:
            await _until(lambda n=name: stack.procs[n].alive, 60)
            _kill(stack, name, report)


async def kill_stream_leader(stack: EmbeddedStack, report: ChaosReport, at: float,
                             stream: str = STREAM_EVENTS) -> None:
    """At monotonic time ``at``, SIGKILL the NATS cluster node that leads ``stream`` (asked as admin)."""
    assert stack.nats_cluster is not None, "a stream leader is a cluster's"
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    nc = await connect(stack.admin_nats_url, connect_timeout=5)
    try:
        info = await nc.jetstream(timeout=10).stream_info(stream)
    finally:
        await nc.close()
    leader = info.cluster.leader if info.cluster is not None else None
    report.stream_replicas = 1 + len(info.cluster.replicas or []) if info.cluster is not None else 1
    assert leader in stack.nats_cluster.node_names, f"stream {stream} has no leader among the nodes: {leader}"
    _kill(stack, leader, report)


def _kill(stack: EmbeddedStack, name: str, report: ChaosReport) -> None:
    log.info("SIGKILL %s (pid %s)", name, stack.procs[name].pid)
    stack.procs[name].signal(signal.SIGKILL)
    report.kills[name] += 1


async def stream_usage(stack: EmbeddedStack) -> tuple[dict[str, int], dict[str, int]]:
    """Each doudi stream's messages and bytes (what a storm cost the bus: docs/capacity.md)."""
    from shared.infra.bus import STREAMS

    nc = await connect(stack.admin_nats_url, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=10)
        states = {name: (await js.stream_info(name)).state for name in STREAMS}
    finally:
        await nc.close()
    return {n: s.messages for n, s in states.items()}, {n: s.bytes for n, s in states.items()}


def postgres_crash_recoveries(log_path: Path) -> int:
    """How many times PostgreSQL started after a crash and replayed its WAL (its log says so each time)."""
    if not log_path.exists():
        return 0
    return log_path.read_text(errors="replace").count("automatic recovery in progress")


async def _until(cond: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def _wait_recovered(stack: EmbeddedStack, timeout: float) -> None:
    """Every process restarted and answering (PostgreSQL, HTTP health, Temporal's namespace, JetStream)."""
    deadline = time.monotonic() + timeout
    while True:
        if all(p.alive for p in stack.procs.values()):
            try:
                await stack._wait_postgres(timeout=30)
                await stack.wait_services()
                await stack._wait_temporal(timeout=30)
                await stack.wait_nats(timeout=30)
                if all(p.alive for p in stack.procs.values()):
                    return
            except (RuntimeError, TimeoutError) as e:
                log.info("not recovered yet: %s", str(e).splitlines()[0])
        if time.monotonic() > deadline:
            dead = [n for n, p in stack.procs.items() if not p.alive]
            raise TimeoutError(f"the stack did not recover within {timeout}s (down: {dead})")
        await asyncio.sleep(0.5)


async def describe_stuck(stack: EmbeddedStack, case_ids: Sequence[str]) -> list[str]:
    """What Temporal says a stuck case is waiting for: its pending activities (attempt, last failure,
    next attempt) or its pending workflow task."""
    from temporalio.client import Client

    out = []
    try:
        client = await Client.connect(stack.temporal_address, namespace="doudi")
        for case_id in case_ids:
            d = await client.get_workflow_handle(case_id).describe()
            raw = d.raw_description
            for pa in raw.pending_activities:
                failure = pa.last_failure.message[:160] if pa.HasField("last_failure") else ""
                out.append(f"{case_id}: {d.status.name if d.status else '?'} pending {pa.activity_type.name}"
                           f" attempt {pa.attempt} next {pa.next_attempt_schedule_time.ToDatetime():%H:%M:%S}"
                           f" last failure: {failure}")
            if not raw.pending_activities:
                task = raw.pending_workflow_task
                out.append(f"{case_id}: {d.status.name if d.status else '?'}, no pending activity; workflow task"
                           f" {task.state if raw.HasField('pending_workflow_task') else 'none'}"
                           f" attempt {task.attempt if raw.HasField('pending_workflow_task') else 0}")
    except Exception as e:  # a diagnosis only: never hide the figures behind it
        out.append(f"(could not describe workflows: {e!r})")
    return out


def _stuck_case_ids(report: ChaosReport, limit: int = 5) -> list[str]:
    ids = []
    for line in report.examples:
        if "case em-" in line and ("stopped at" in line or "no ledger row" in line):
            case_id = line.split("case ", 1)[1].split()[0]
            if case_id not in ids:
                ids.append(case_id)
    return ids[:limit]


async def _events_settled(stack: EmbeddedStack | None, timeout: float) -> None:
    """Every intake consumer of the inbound events settled (tests/support.py ``consumer_settled``); without
    a stack of ours to ask, a short pause instead."""
    from services.intake.subscribers import CONSUMED

    if stack is None:
        await asyncio.sleep(3.0)
        return
    deadline = time.monotonic() + timeout
    nc = await connect(stack.admin_nats_url)
    try:
        for family in CONSUMED:
            with contextlib.suppress(AssertionError):  # not settled within max_wait: the check below reports
                await consumer_settled(nc, STREAM_EVENTS, f"intake-{family}",
                                       timeout=max(0.1, deadline - time.monotonic()))
    finally:
        await nc.close()


async def _settle(pool: asyncpg.Pool, plan: Sequence[PlannedEvent], report: ChaosReport, *,
                  max_wait: float, quiet: float, stack: EmbeddedStack | None = None) -> None:
    """Wait until every case reached its final state (then until intake's consumers settled, so a late
    duplicate would show), or nothing changed for ``quiet`` seconds, or ``max_wait`` passed."""
    start = last_change = last_describe = time.monotonic()
    last: tuple[Any, ...] | None = None
    while True:
        state = await read_state(pool)
        verify(plan, state, report)
        now = time.monotonic()
        if report.violations == 0:
            # a late duplicate would come from a redelivery: wait until intake's consumers have none left
            # (nothing waiting, nothing delivered unacknowledged), then check again
            await _events_settled(stack, max(1.0, max_wait - (now - start)))
            state = await read_state(pool)
            verify(plan, state, report)
            if report.violations == 0 or time.monotonic() - start > max_wait:
                return
            continue
        fingerprint = state.fingerprint()
        if fingerprint != last:
            last, last_change = fingerprint, now
            log.info("settling after %.0f s: %d violations, e.g. %s", now - start, report.violations,
                     report.examples[:3])
        if stack is not None and log.isEnabledFor(logging.INFO) and now - last_describe > 20:
            last_describe = now
            for line in await describe_stuck(stack, _stuck_case_ids(report, 3)):
                log.info("  %s", line)
        if now - last_change > quiet or now - start > max_wait:
            if stack is not None:
                report.examples += await describe_stuck(stack, _stuck_case_ids(report))
            return
        await asyncio.sleep(1.0)


async def _register_households(client: StackClient, plan: Sequence[PlannedEvent]) -> None:
    sem = asyncio.Semaphore(8)

    async def one(ev: PlannedEvent) -> None:
        assert ev.kind.categories is not None
        async with sem:
            await client.register(household(ev.person_id, region=ev.kind.region, urban=ev.kind.urban,
                                            categories=list(ev.kind.categories)))

    await asyncio.gather(*(one(ev) for ev in plan if ev.kind.categories is not None))


async def run_chaos(*, events: int = 300, seconds: float = 90.0, seed: int = 1, kill_every: float = 4.0,
                    targets: Sequence[str] = KILL_TARGETS, must_kill: Sequence[str] = MUST_KILL,
                    max_settle: float = 240.0, quiet: float = 75.0, data_dir: Path | None = None,
                    keep_data: bool = False, nats_nodes: int = 1, kill_stream_leader_at: float | None = None
                    ) -> ChaosReport:
    """Start a private embedded stack, storm it while killing processes, and verify the invariants.

    ``nats_nodes`` > 1: NATS is a cluster of that many nodes on loopback (deploy/nats_cluster.py, streams
    with one replica per node; the nodes are ``nats-1`` ...); ``kill_stream_leader_at``: that many seconds
    into the storm, the node leading the inbound events' stream is SIGKILLed (the supervisor restarts it)."""
    os.environ.setdefault("DOUDI_CODEC_KEYS", "chaos1:" + base64.b64encode(os.urandom(32)).decode())
    t_start = time.monotonic()
    rng = random.Random(seed)
    report = ChaosReport(seed=seed)
    own_dir = data_dir is None
    data = Path(tempfile.mkdtemp(prefix="doudi-chaos-")) if data_dir is None else data_dir
    report.data_dir = str(data)
    cluster = NatsCluster.on_free_ports(data / "nats-cluster", nats_nodes) if nats_nodes > 1 else None
    stack = EmbeddedStack(data, Ports.free(), extra_env={
        "DOUDI_ENV": "test",
        "DOUDI_POLICY_LOCAL_DIR": str(POLICY_FIXTURES),
    }, nats_cluster=cluster)
    plan = plan_events(events, seconds, rng)
    report.events = len(plan)
    report.by_kind = Counter(ev.kind.name for ev in plan)
    report.resent_same_id = sum(ev.resend_at is not None for ev in plan)

    stop_supervisor = asyncio.Event()
    supervisor: asyncio.Task[None] | None = None
    # the database URL carries a password the stack generates when it starts
    client = StackClient(stack.api_url, stack.nats_url_for(ADMIN), "")
    publisher = Publisher({u: stack.nats_url_for(u) for u in SOURCE_USERS}, report)  # as the agencies publish
    pool: asyncpg.Pool | None = None
    finished = False
    try:
        await stack.start()
        client.database_url = stack.database_url
        supervisor = asyncio.create_task(stack.supervise(stop_supervisor))
        await _register_households(client, plan)
        pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=4)

        # the storm
        t_storm = time.monotonic()
        stop_killing = asyncio.Event()
        killing = asyncio.create_task(killer(stack, random.Random(rng.random()), report, stop_killing,
                                             every=kill_every, targets=targets, must=must_kill))
        leader_kill = (asyncio.create_task(kill_stream_leader(stack, report, t_storm + kill_stream_leader_at))
                       if kill_stream_leader_at is not None else None)
        publish_deadline = t_storm + seconds + 180
        schedule = sorted([(ev.at, ev, True) for ev in plan]
                          + [(ev.resend_at, ev, ev.resend_with_msg_id) for ev in plan if ev.resend_at is not None],
                          key=lambda x: x[0])
        pending = []
        for at, ev, with_id in schedule:
            await asyncio.sleep(max(0.0, t_storm + at - time.monotonic()))
            pending.append(asyncio.create_task(publisher.publish(ev, with_msg_id=with_id,
                                                                 deadline=publish_deadline)))
        await asyncio.sleep(max(0.0, t_storm + seconds - time.monotonic()))
        stop_killing.set()
        await killing
        if leader_kill is not None:
            await leader_kill
        await asyncio.gather(*pending)
        report.storm_s = time.monotonic() - t_storm

        # recovery: every process back and healthy
        t_recover = time.monotonic()
        await _wait_recovered(stack, timeout=180)
        report.recovery_s = time.monotonic() - t_recover

        t_settle = time.monotonic()
        await _settle(pool, plan, report, max_wait=max_settle, quiet=quiet, stack=stack)
        report.settle_s = time.monotonic() - t_settle
        finished = True
        report.restarts = {name: proc.restarts for name, proc in stack.procs.items()}
        report.postgres_crash_recoveries = postgres_crash_recoveries(stack.logs / "postgres.log")
        report.stream_messages, report.stream_bytes = await stream_usage(stack)
    finally:
        await publisher.close()
        await client.close()
        if pool is not None:
            await pool.close()
        stop_supervisor.set()
        if supervisor is not None:
            await supervisor
        stack.stop()
        report.wall_s = time.monotonic() - t_start
        if own_dir and not keep_data and report.ok and finished:  # a run that raised keeps its logs
            shutil.rmtree(data, ignore_errors=True)
    return report
