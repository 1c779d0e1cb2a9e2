"""The straight-through lane's gathering and intake's memory of it (docs/adr/0021), without PostgreSQL or a
server: ``LaneGathering`` with a fake Temporal client (tests/unit/fakes.py) and the service's callbacks as
recorders; ``IntakeService`` over an in-memory case registry put in the store's place. What it holds: a case
alone starts its own workflow; cases gathered together start ONE lane, their membership written before the
start; a failed start fails every waiter (their messages are redelivered); and a case in a lane is re-driven
through its lane, never through a workflow of its own, while a case its lane hands over starts its own."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from services.intake import service as intake_service
from services.intake import store
from services.intake.activities import IntakeActivities
from services.intake.lane import LaneGathering, lane_eligible
from services.intake.routing import CaseStart
from services.intake.service import IntakeService
from shared.contracts import activities as act
from shared.contracts.events import InboundEvent, make_cloudevent, parse_inbound
from shared.contracts.pathways import EMERGENCY_RELIEF
from shared.contracts.sources import BY_USER
from tests.unit.fakes import FakeTemporal
from workflows.emergency_relief.inputs import EmergencyReliefInput, EmergencyReliefResult
from workflows.emergency_relief.lane import WORKFLOW as LANE
from workflows.emergency_relief.lane import LaneInput, lane_id
from workflows.emergency_relief.settled import WORKFLOW as SETTLED
from workflows.emergency_relief.settled import SettledInput

PERSON = "11010519491231002X"
REGION = "640104001"
QUARANTINED = "doudi.events.health.quarantined"


def case(case_id: str, *, from_row: bool = False) -> CaseStart:
    """An emergency case an agency's quarantine report opened for a registered person (the lane may settle
    it); ``from_row``: its input as the store reads it back (JSON)."""
    inp = EmergencyReliefInput(case_id=case_id, trigger="quarantine", person_id=PERSON, region_code=REGION,
                               business_date=date(2022, 8, 10), cause_event_id=f"evt-{case_id}",
                               facts=act.RecipientFacts(found=True, person_id=PERSON, household_id=f"hh-{case_id}",
                                                        region_code=REGION, categories=["dibao"], household_size=1))
    return CaseStart(case_id=case_id, pathway=EMERGENCY_RELIEF.name, trigger="quarantine", workflow="EmergencyRelief",
                     person_id=PERSON, region_code=REGION, business_date=date(2022, 8, 10),
                     cause_event_id=f"evt-{case_id}",
                     workflow_input=inp.model_dump(mode="json") if from_row else inp)


def lane_cases(temporal: FakeTemporal, lane: str) -> list[str]:
    name, arg = temporal.started[lane]
    assert name == LANE and isinstance(arg, LaneInput)
    return [c.case_id for c in arg.cases]


class Unreachable(FakeTemporal):
    """Temporal down: every start fails."""

    async def start_workflow(self, workflow: Any, arg: Any, *, id: str, **_: Any) -> Any:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


@dataclass
class Gathering:
    """A ``LaneGathering`` whose callbacks record, in one log, what the service would do, in order."""

    temporal: FakeTemporal = field(default_factory=FakeTemporal)
    taken: set[str] = field(default_factory=set)  # cases another lane took first
    log: list[tuple[Any, ...]] = field(default_factory=list)
    window_s: float = 0.05
    max_cases: int = 32

    def __post_init__(self) -> None:
        temporal: Any = self.temporal  # the fake client: start_workflow only
        self.lane = LaneGathering(temporal, self.alone, join=self.join, started=self.started,
                                  window_s=self.window_s, max_cases=self.max_cases)

    async def alone(self, start: CaseStart) -> None:
        self.log.append(("alone", start.case_id))

    async def join(self, lane: str, case_ids: list[str]) -> list[str]:
        self.log.append(("join", lane, case_ids, sorted(self.temporal.started)))  # what had started by then
        return [c for c in case_ids if c not in self.taken]

    async def started(self, case_ids: list[str]) -> None:
        self.log.append(("started", case_ids, sorted(self.temporal.started)))


# -- the gathering ---------------------------------------------------------------------------------------


async def test_a_case_alone_in_its_window_starts_on_its_own() -> None:
    g = Gathering()
    await g.lane.start(case("em-1"))
    assert g.log == [("alone", "em-1")]
    assert g.temporal.started == {}  # no lane: the service's own start (claimed, then its workflow)


async def test_cases_within_the_window_start_one_lane_their_membership_written_before_it() -> None:
    g = Gathering()
    await asyncio.gather(*(g.lane.start(case(c)) for c in ("em-3", "em-1", "em-2")))
    ids = ["em-1", "em-2", "em-3"]
    lane = lane_id(ids)
    assert list(g.temporal.started) == [lane]
    assert lane_cases(g.temporal, lane) == ids  # ordered by case id, as a re-drive reads them back
    assert g.log == [("join", lane, ids, []),            # written while nothing had started
                     ("started", ids, [lane])]           # marked started in one call, after the start


async def test_a_case_reported_twice_in_one_window_is_one_case_alone() -> None:
    """Two members' reports of one household's incident: one case, started once."""
    g = Gathering()
    await asyncio.gather(g.lane.start(case("em-1")), g.lane.start(case("em-1")))
    assert g.log == [("alone", "em-1")] and g.temporal.started == {}


async def test_a_case_another_lane_took_first_is_left_to_it() -> None:
    g = Gathering(taken={"em-2"})
    await asyncio.gather(*(g.lane.start(case(c)) for c in ("em-1", "em-2", "em-3")))  # every waiter returns
    lane = lane_id(["em-1", "em-2", "em-3"])
    assert lane_cases(g.temporal, lane) == ["em-1", "em-3"]
    assert g.log[-1] == ("started", ["em-1", "em-3"], [lane])


async def test_no_lane_starts_when_every_case_is_in_another_lane_already() -> None:
    g = Gathering(taken={"em-1", "em-2"})
    await asyncio.gather(g.lane.start(case("em-1")), g.lane.start(case("em-2")))
    assert g.temporal.started == {} and [e[0] for e in g.log] == ["join"]


async def test_a_failed_start_fails_every_waiter_so_their_messages_are_redelivered() -> None:
    g = Gathering(temporal=Unreachable())
    results = await asyncio.gather(*(g.lane.start(case(c)) for c in ("em-1", "em-2", "em-3")),
                                   return_exceptions=True)
    assert all(isinstance(r, RPCError) for r in results), results
    # the membership stays written: the redelivery re-drives this lane; nothing is marked started
    assert [e[0] for e in g.log] == ["join"]


async def test_a_failed_alone_start_fails_its_waiter() -> None:
    class Failing(Gathering):
        async def alone(self, start: CaseStart) -> None:
            raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    g = Failing()
    with pytest.raises(RPCError):
        await g.lane.start(case("em-1"))


async def test_a_full_gathering_starts_without_waiting_for_the_window() -> None:
    g = Gathering(window_s=60, max_cases=2)
    await asyncio.wait_for(asyncio.gather(g.lane.start(case("em-1")), g.lane.start(case("em-2"))), timeout=5)
    assert list(g.temporal.started) == [lane_id(["em-1", "em-2"])]


def test_a_gathering_is_full_when_every_handler_of_the_family_waits_in_it() -> None:
    """Once intake's handlers of a family all wait in the gathering, no other report can join it: it starts
    then, not at the end of the window (a burst's lanes start at once)."""
    from services.intake import lane, subscribers

    assert lane.MAX_CASES == subscribers.CONCURRENCY


def test_only_a_straight_through_emergency_case_is_gathered_and_a_stored_one_is_read_back() -> None:
    assert lane_eligible(case("em-1")) and lane_eligible(case("em-1", from_row=True))
    with_amount = case("em-1").workflow_input.model_copy(update={"requested_amount_fen": 120000})
    assert not lane_eligible(CaseStart(**{**vars(case("em-1")), "workflow_input": with_amount}))
    assert not lane_eligible(CaseStart(**{**vars(case("em-1")), "pathway": "one_off_assistance"}))


# -- the service: each case's lane, remembered ------------------------------------------------------------


class _Conn:
    def transaction(self) -> _Conn:
        return self

    async def __aenter__(self) -> _Conn:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None


class MemoryPool:
    """A pool whose connections reach nothing: the store's functions in use are faked (``MemoryCases``)."""

    def acquire(self) -> _Conn:
        return _Conn()


@dataclass
class MemoryCases:
    """Intake's case registry in memory, with the semantics of its statements (services/intake/store/cases.py):
    ``join_lane`` writes a lane only where none is written yet (or the same one)."""

    cases: dict[str, CaseStart] = field(default_factory=dict)
    lanes: dict[str, str] = field(default_factory=dict)
    causes: dict[str, str] = field(default_factory=dict)  # event id -> case id
    marked: list[list[str]] = field(default_factory=list)  # each statement marking started, its cases

    def add(self, start: CaseStart, lane: str | None = None, event_id: str | None = None) -> None:
        self.cases[start.case_id] = start
        if lane is not None:
            self.lanes[start.case_id] = lane
        if event_id is not None:
            self.causes[event_id] = start.case_id

    def read(self, case_id: str) -> CaseStart:
        s = self.cases[case_id]
        inp = s.workflow_input.model_dump(mode="json") if hasattr(s.workflow_input, "model_dump") else s.workflow_input
        return CaseStart(**{**vars(s), "workflow_input": inp, "lane_id": self.lanes.get(case_id)})

    def install(self, monkeypatch: pytest.MonkeyPatch) -> MemoryCases:
        async def join_lane(conn: Any, lane: str, case_ids: list[str]) -> list[str]:
            joined = [c for c in case_ids if c in self.cases and self.lanes.get(c, lane) == lane]
            self.lanes.update(dict.fromkeys(joined, lane))
            return sorted(joined)

        async def lane_of(conn: Any, case_id: str) -> str | None:
            return self.lanes.get(case_id)

        async def lane_starts(conn: Any, lane: str) -> list[CaseStart]:
            return [self.read(c) for c in sorted(c for c, x in self.lanes.items() if x == lane)]

        async def start_for_case(conn: Any, case_id: str) -> CaseStart | None:
            return self.read(case_id) if case_id in self.cases else None

        async def start_for_event(conn: Any, event_id: str) -> CaseStart | None:
            return self.read(self.causes[event_id]) if event_id in self.causes else None

        async def case_row(conn: Any, case_id: str) -> dict[str, Any] | None:
            s = self.cases.get(case_id)
            return None if s is None else {"case_id": case_id, "pathway": s.pathway, "region_code": s.region_code}

        async def mark_workflow_started(conn: Any, case_id: str) -> None:
            self.marked.append([case_id])

        async def mark_workflows_started(conn: Any, case_ids: list[str]) -> None:
            self.marked.append(list(case_ids))

        for fn in (join_lane, lane_of, lane_starts, start_for_case, start_for_event, case_row,
                   mark_workflow_started, mark_workflows_started):
            monkeypatch.setattr(store, fn.__name__, fn)
        return self


@pytest.fixture
def cases(monkeypatch: pytest.MonkeyPatch) -> MemoryCases:
    return MemoryCases().install(monkeypatch)


def intake(temporal: FakeTemporal) -> IntakeService:
    return IntakeService(MemoryPool(), temporal)  # type: ignore[arg-type]  # the store in use is faked


def laned(cases: MemoryCases, *ids: str) -> str:
    lane = lane_id(list(ids))
    for c in ids:
        cases.add(case(c), lane, event_id=f"evt-{c}")
    return lane


def quarantine_event(event_id: str) -> InboundEvent:
    body = make_cloudevent("health.quarantined", {"person_id": PERSON, "region_code": "640104",
                                                  "quarantined_on": "2022-08-10"},
                           event_id=event_id, source=BY_USER["health"].source_uri)
    return parse_inbound(QUARANTINED, json.dumps(body).encode())


async def test_a_redelivered_event_of_a_laned_case_re_drives_its_lane_not_its_own_workflow(
        cases: MemoryCases, monkeypatch: pytest.MonkeyPatch) -> None:
    """Intake crashed after writing the lane and before starting it: the redelivery starts the lane, with
    every member's input and the same id, and no case gets a workflow of its own."""
    lane = laned(cases, "em-1", "em-2", "em-3")

    async def redelivered(conn: Any, event_id: str, subject: str) -> bool:
        return False

    monkeypatch.setattr(intake_service, "first_delivery", redelivered)
    temporal = FakeTemporal()
    assert await intake(temporal).accept_event(quarantine_event("evt-em-2"), QUARANTINED) == "em-2"
    assert list(temporal.started) == [lane]
    assert lane_cases(temporal, lane) == ["em-1", "em-2", "em-3"]
    assert cases.marked == [["em-1", "em-2", "em-3"]]  # one statement


async def test_a_lane_that_runs_or_ran_is_left_as_it_is(cases: MemoryCases) -> None:
    lane = laned(cases, "em-1", "em-2")
    temporal = FakeTemporal()
    temporal.started[lane] = (LANE, "the first start")
    await intake(temporal).drive(cases.read("em-1"))  # WorkflowAlreadyStartedError: fine
    assert temporal.started == {lane: (LANE, "the first start")}


async def test_a_case_never_gathered_claims_itself_before_its_own_workflow_starts(cases: MemoryCases) -> None:
    cases.add(case("em-1"))
    temporal = FakeTemporal()
    await intake(temporal).drive(cases.read("em-1"))
    assert cases.lanes == {"em-1": "em-1"} and list(temporal.started) == ["em-1"]
    assert temporal.started["em-1"][0] == "EmergencyRelief"
    await intake(temporal).drive(cases.read("em-1"))  # again (a redelivery): its own workflow, once
    assert list(temporal.started) == ["em-1"]


async def test_a_case_a_lane_took_first_drives_that_lane_instead_of_its_own_workflow(cases: MemoryCases) -> None:
    """Two reports of one household's incident in two windows: the second found the case before the first
    window's lane was written; alone in its window it finds the lane and drives it."""
    lane = laned(cases, "em-1", "em-2")
    temporal = FakeTemporal()
    stale = CaseStart(**{**vars(cases.read("em-1")), "lane_id": None})
    await intake(temporal).drive(stale)
    assert list(temporal.started) == [lane] and cases.lanes["em-1"] == lane


async def test_a_case_outside_the_lane_starts_its_own_workflow_without_a_claim(cases: MemoryCases) -> None:
    other = CaseStart(**{**vars(case("oo-1")), "case_id": "oo-1", "pathway": "one_off_assistance",
                         "workflow": "OneOffAssistance"})
    cases.add(other)
    temporal = FakeTemporal()
    await intake(temporal).drive(cases.read("oo-1"))
    assert list(temporal.started) == ["oo-1"] and cases.lanes == {}


async def test_the_gathering_of_the_service_writes_the_lane_and_marks_its_cases_in_one_statement(
        cases: MemoryCases) -> None:
    for c in ("em-1", "em-2"):
        cases.add(case(c))
    temporal = FakeTemporal()
    service = intake(temporal)
    await asyncio.gather(service._lane.start(case("em-1")), service._lane.start(case("em-2")))
    lane = lane_id(["em-1", "em-2"])
    assert cases.lanes == {"em-1": lane, "em-2": lane} and list(temporal.started) == [lane]
    assert cases.marked == [["em-1", "em-2"]]


def lane_env(lane: str) -> ActivityEnvironment:
    """An activity of the lane ``lane`` (its workflow id)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=lane)
    return env


# -- the lane's end: each of its cases gets its own workflow ----------------------------------------------------


async def test_a_settled_case_gets_its_record_and_a_handed_over_case_its_own_workflow(cases: MemoryCases) -> None:
    lane = lane_id(["em-1", "em-2"])
    for c in ("em-1", "em-2"):
        cases.add(case(c), lane)
    temporal = FakeTemporal()
    activities = IntakeActivities(MemoryPool(), intake(temporal))  # type: ignore[arg-type]  # the store is faked
    result = {"case_id": "em-1", "outcome": "paid", "amount_fen": 195000, "payment_id": "pay-em-1",
              "reason": "quarantine", "policy": {"pack_id": "seed", "pack_version": "1"}}
    await lane_env(lane).run(activities.start_lane_cases, act.LaneCaseStarts(cases=[
        act.LaneCaseStart(case_id="em-1", settled=True, result=result),
        act.LaneCaseStart(case_id="em-2", settled=False)]))
    assert sorted(temporal.started) == ["em-1", "em-2"]  # each under the case's own id; the lane not re-driven
    name, arg = temporal.started["em-1"]
    assert name == SETTLED and isinstance(arg, SettledInput)
    assert arg == SettledInput(lane_id=lane, result=EmergencyReliefResult.model_validate(result))
    name, arg = temporal.started["em-2"]
    assert name == "EmergencyRelief" and arg["case_id"] == "em-2"  # the case's own input, as the row holds it
    assert ["em-2"] in cases.marked

    # a retry of the activity starts none twice
    await lane_env(lane).run(activities.start_lane_cases, act.LaneCaseStarts(cases=[
        act.LaneCaseStart(case_id="em-1", settled=True, result=result),
        act.LaneCaseStart(case_id="em-2", settled=False)]))
    assert sorted(temporal.started) == ["em-1", "em-2"]


async def test_the_lanes_end_records_each_settled_cases_steps_before_its_record_starts(
        cases: MemoryCases, monkeypatch: pytest.MonkeyPatch) -> None:
    """``settle_lane_cases``: the steps of the cases the lane paid (one transaction per case), then every case's
    own workflow; a retry records none twice and starts none twice (the service's own guarantees)."""
    lane = lane_id(["em-1", "em-2"])
    for c in ("em-1", "em-2"):
        cases.add(case(c), lane)
    temporal = FakeTemporal()
    service = intake(temporal)
    order: list[str] = []

    async def record_transitions(ts: list[act.CaseTransition]) -> list[bool]:
        order.append(f"recorded {ts[0].case_id}: {[t.stage for t in ts]}")
        return [True] * len(ts)

    start = temporal.start_workflow

    async def start_workflow(workflow: str, arg: Any, *, id: str, **kw: Any) -> Any:
        order.append(f"started {id}")
        return await start(workflow, arg, id=id, **kw)

    monkeypatch.setattr(service, "record_transitions", record_transitions)
    monkeypatch.setattr(temporal, "start_workflow", start_workflow)
    activities = IntakeActivities(MemoryPool(), service)  # type: ignore[arg-type]  # the store is faked
    result = {"case_id": "em-1", "outcome": "paid", "amount_fen": 195000, "payment_id": "pay-em-1",
              "reason": "quarantine", "policy": {"pack_id": "seed", "pack_version": "1"}}
    at = datetime(2022, 8, 10, tzinfo=UTC)
    steps = act.CaseTransitions(transitions=[
        act.CaseTransition(case_id="em-1", pathway="emergency_relief", seq=n, status=status, stage=stage, at=at)
        for n, status, stage in ((1, "open", "assessed"), (2, "open", "approved"), (3, "paid", "paid"),
                                 (4, "closed", "closed"))])
    await lane_env(lane).run(activities.settle_lane_cases, act.LaneSettlement(recorded=[steps], starts=[
        act.LaneCaseStart(case_id="em-1", settled=True, result=result),
        act.LaneCaseStart(case_id="em-2", settled=False)]))
    assert order[0] == "recorded em-1: ['assessed', 'approved', 'paid', 'closed']"
    assert sorted(order[1:]) == ["started em-1", "started em-2"]
    assert temporal.started["em-1"][0] == SETTLED and temporal.started["em-2"][0] == "EmergencyRelief"
