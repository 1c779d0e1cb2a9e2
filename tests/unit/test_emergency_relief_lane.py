"""The straight-through lane (docs/adr/0021) alone: Temporal's time-skipping test server, the services'
activities replaced by the shared fakes (tests/unit/fakes.py), whose batch activities loop over the single
ones as the services' do. The lane pays and records its straight cases with one call per service, and hands
every other case over to its own workflow; the settled record returns the case's result."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from shared.config import TASK_QUEUE_INTAKE
from shared.contracts import activities as act
from shared.policy import Entitlement
from shared.policy.disaster import DisasterLoss
from tests.support import wait_for
from tests.unit.fakes import FakeServices, WorkerSet
from tests.unit.sandbox_probe import UnsandboxedClock
from workflows.emergency_relief.inputs import EmergencyReliefInput, EmergencyReliefResult
from workflows.emergency_relief.lane import EmergencyReliefLaneWorkflow, LaneInput, LaneResult, lane_id
from workflows.emergency_relief.settled import EmergencyReliefSettledWorkflow, SettledInput
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
from workflows.errors import ContractViolation, PolicyError
from workflows.policy import EvaluateEntitlement

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
RECORDING = os.environ.get("DOUDI_RECORD_HISTORIES", "")  # record today's code (tests/unit/test_recorded_histories.py)

REGION = "650102001"
RESERVE = "township-reserve:650102001"
# the fake policy's amount for a household of each size (0: not payable); the committee's threshold in
# Urumqi is 1,000,000 fen, so every payable amount here is within it
AMOUNTS = {1: 65000, 2: 130000, 3: 195000, 4: 0, 5: 250000, 6: 65000}
# what a case records of the fake policy (quarantine: the trigger's measure)
POLICY = {"pack_id": "fake", "pack_version": "1", "measure": "quarantine", "region_prefix": "65"}
BATCH_STEPS = [act.DECIDE_WITHIN_AUTHORITY_MANY, act.DISBURSE_MANY, act.SETTLE_LANE_CASES]


def facts(size: int) -> act.RecipientFacts:
    return act.RecipientFacts(found=True, person_id=f"p-{size}", household_id=f"hh-{size}", region_code=REGION,
                              categories=["dibao"], household_size=size)


def case(size: int, **over: Any) -> EmergencyReliefInput:
    """A quarantine report's case, opened with the registry's facts for a household of ``size``."""
    case_id = f"em-{uuid.uuid4().hex[:8]}"
    fields: dict[str, Any] = dict(case_id=case_id, trigger="quarantine", person_id=f"p-{case_id}",
                                  region_code=REGION, business_date=date(2022, 8, 10),
                                  cause_event_id=f"evt-{case_id}", facts=facts(size))
    return EmergencyReliefInput(**{**fields, **over})


def services(**kw: Any) -> FakeServices:
    return FakeServices(amount=0, amount_for_size=AMOUNTS, **kw)


def settled(c: EmergencyReliefInput, amount: int, payment_id: str) -> act.LaneCaseStart:
    """What the lane must hand intake for a case it paid and closed."""
    return act.LaneCaseStart(case_id=c.case_id, settled=True, result={
        "case_id": c.case_id, "outcome": "paid", "amount_fen": amount, "payment_id": payment_id,
        "reason": "fake policy", "policy": POLICY})


def handed_over(c: EmergencyReliefInput) -> act.LaneCaseStart:
    return act.LaneCaseStart(case_id=c.case_id, settled=False)


def started(fakes: FakeServices) -> dict[str, act.LaneCaseStart]:
    """Each case the lane started, by id (a case started twice by one lane is a finding)."""
    starts = {s.case_id: s for _, s in fakes.lane_starts}
    assert len(starts) == len(fakes.lane_starts), fakes.lane_starts
    return starts


def steps(fakes: FakeServices, c: EmergencyReliefInput) -> list[tuple[int, str, str, int | None]]:
    return [(t.seq, t.status, t.stage, t.approved_amount_fen) for t in fakes.transitions if t.case_id == c.case_id]


def paid_and_closed(amount: int) -> list[tuple[int, str, str, int | None]]:
    return [(1, "open", "assessed", amount), (2, "open", "approved", amount), (3, "paid", "paid", amount),
            (4, "closed", "closed", amount)]


def scheduled(history: WorkflowHistory) -> list[str]:
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")]


def replaced(acts: dict[str, list[Any]], queue: str, fake: Any) -> dict[str, list[Any]]:
    """The fakes with ``fake`` in place of the one of the same name on ``queue``."""
    name = activity._Definition.must_from_callable(fake).name
    return {**acts, queue: [a for a in acts[queue] if activity._Definition.must_from_callable(a).name != name]
            + [fake]}


def by_name(acts: dict[str, list[Any]], queue: str, name: str) -> Any:
    return next(a for a in acts[queue] if activity._Definition.must_from_callable(a).name == name)


async def run_lane(env: WorkflowEnvironment, fakes: FakeServices, cases: list[EmergencyReliefInput],
                   acts: dict[str, list[Any]] | None = None) -> tuple[LaneResult, WorkflowHistory]:
    async with WorkerSet(env, [EmergencyReliefLaneWorkflow], acts or fakes.activities()) as queue:
        handle = await env.client.start_workflow(EmergencyReliefLaneWorkflow.run, LaneInput(cases=cases),
                                                 id=lane_id([c.case_id for c in cases]), task_queue=queue)
        return await handle.result(), await handle.fetch_history()


# -- the straight path ----------------------------------------------------------------------------------

async def test_a_lane_pays_each_case_once_with_one_call_per_service(env: WorkflowEnvironment):
    fakes = services()
    one, two, three = case(1), case(2), case(3)
    result, history = await run_lane(env, fakes, [one, two, three])

    assert fakes.batch_calls == BATCH_STEPS  # one call each, in this order
    assert scheduled(history) == BATCH_STEPS
    # each case paid once from the township's reserve, under its own key (pay-1.. in the batch's order)
    assert [(p.case_id, p.idempotency_key, p.amount_fen, p.account, p.cause_event_id) for p in fakes.payments] == [
        (one.case_id, f"{one.case_id}:1", 65000, RESERVE, f"evt-{one.case_id}"),
        (two.case_id, f"{two.case_id}:1", 130000, RESERVE, f"evt-{two.case_id}"),
        (three.case_id, f"{three.case_id}:1", 195000, RESERVE, f"evt-{three.case_id}")]
    assert {k: (d.payment_id, d.amount_fen) for k, d in fakes.paid.items()} == {
        f"{one.case_id}:1": ("pay-1", 65000), f"{two.case_id}:1": ("pay-2", 130000),
        f"{three.case_id}:1": ("pay-3", 195000)}
    assert sum(d.amount_fen for d in fakes.paid.values()) == 390000
    # each case's own workflow is its settled record, with the case's result
    assert started(fakes) == {one.case_id: settled(one, 65000, "pay-1"), two.case_id: settled(two, 130000, "pay-2"),
                              three.case_id: settled(three, 195000, "pay-3")}
    assert {lane for lane, _ in fakes.lane_starts} == {history.workflow_id}
    assert EmergencyReliefResult.model_validate(started(fakes)[two.case_id].result) == EmergencyReliefResult(
        case_id=two.case_id, outcome="paid", amount_fen=130000, payment_id="pay-2", reason="fake policy",
        policy=POLICY)
    assert result == LaneResult(settled=sorted([one.case_id, two.case_id, three.case_id]), handed_over=[])
    assert steps(fakes, one) == paid_and_closed(65000)
    assert steps(fakes, two) == paid_and_closed(130000)
    assert steps(fakes, three) == paid_and_closed(195000)
    assert [t.note for t in fakes.transitions if t.case_id == three.case_id] == [
        "fake policy", "fake authority", "paid 195000 fen, payment pay-3", "paid under assist-first"]
    closing = fakes.transitions[-1]
    assert closing.closed and closing.outcome == "paid" and closing.policy == POLICY


async def test_the_lane_records_what_the_cases_own_workflow_records(env: WorkflowEnvironment):
    """The same inputs, the same fakes: the lane's transitions of each case are the emergency-relief
    workflow's (but for the time), and its settled record carries the result that workflow returns."""
    one, three = case(1), case(3)
    laned, alone = services(), services()
    await run_lane(env, laned, [one, three])
    async with WorkerSet(env, [EmergencyReliefWorkflow], alone.activities()) as queue:
        results = [await env.client.execute_workflow(EmergencyReliefWorkflow.run, c, id=c.case_id, task_queue=queue)
                   for c in (one, three)]

    def recorded(fakes: FakeServices, c: EmergencyReliefInput) -> list[dict[str, Any]]:
        return [t.model_dump(exclude={"at"}) for t in fakes.transitions if t.case_id == c.case_id]

    for c in (one, three):
        assert len(recorded(alone, c)) == 4
        assert recorded(laned, c) == recorded(alone, c)
    assert [EmergencyReliefResult.model_validate(started(laned)[c.case_id].result) for c in (one, three)] == results
    assert [(r.outcome, r.amount_fen, r.payment_id) for r in results] == [("paid", 65000, "pay-1"),
                                                                           ("paid", 195000, "pay-2")]


# -- off the straight path: handed over, the other cases settled ------------------------------------------

WAYS = ["not_payable", "above_the_townships_authority", "reserve_short", "payment_failed", "decision_failed",
        "a_disaster_raises_the_aid", "no_registry_facts"]


def off_the_straight_path(way: str) -> tuple[EmergencyReliefInput, FakeServices]:
    """A case that leaves the straight path ``way``, and the fakes that make it so."""
    if way == "not_payable":
        return case(4), services()
    if way == "above_the_townships_authority":  # 250,000 fen, the township decides up to 200,000: the county
        return case(5), services(township_limit_fen=200000)
    if way == "reserve_short":  # the lane's first payment from the township's reserve finds it short
        return case(1), services(reserve_short=1)
    if way == "a_disaster_raises_the_aid":  # its own workflow raises the aid for the losses
        return case(1, disaster=DisasterLoss(deaths=1)), services()
    if way == "no_registry_facts":  # its own workflow looks the person up
        return case(1, facts=None), services()
    off = case(1)
    if way == "payment_failed":
        return off, services(payment_fails_for={off.case_id})
    assert way == "decision_failed"
    return off, services(decision_fails_for={off.case_id})


@pytest.mark.parametrize("way", WAYS)
async def test_a_case_off_the_straight_path_is_handed_over_and_the_others_settle(env: WorkflowEnvironment, way: str):
    off, fakes = off_the_straight_path(way)
    one, two = case(1), case(2)
    result, _ = await run_lane(env, fakes, [off, one, two])

    assert result == LaneResult(settled=sorted([one.case_id, two.case_id]), handed_over=[off.case_id])
    # only the reserve's wait gave the handed-over case a payment id: the others are paid after it
    first = 2 if way == "reserve_short" else 1
    assert started(fakes) == {off.case_id: handed_over(off), one.case_id: settled(one, 65000, f"pay-{first}"),
                              two.case_id: settled(two, 130000, f"pay-{first + 1}")}
    assert steps(fakes, off) == []  # nothing on the case: its own workflow records from the start
    assert steps(fakes, one) == paid_and_closed(65000) and steps(fakes, two) == paid_and_closed(130000)
    asked = [p.idempotency_key for p in fakes.payments if p.case_id == off.case_id]
    assert asked == ([f"{off.case_id}:1"] if way in ("reserve_short", "payment_failed") else [])
    assert set(fakes.paid) == {f"{one.case_id}:1", f"{two.case_id}:1"}  # the handed-over case is not paid
    assert fakes.batch_calls == BATCH_STEPS


async def test_every_way_off_in_one_lane(env: WorkflowEnvironment):
    """All of them together, with two straight cases: the two are settled, the seven handed over."""
    offs, knobs = [], dict[str, Any](reserve_short=1, township_limit_fen=200000)
    short = case(1)  # first in the lane: its payment is the first from the reserve
    offs.append(short)
    payment_failed, decision_failed = case(1), case(1)
    offs += [case(4), case(5), payment_failed, decision_failed, case(1, disaster=DisasterLoss(deaths=1)),
             case(1, facts=None)]
    fakes = services(payment_fails_for={payment_failed.case_id}, decision_fails_for={decision_failed.case_id},
                     **knobs)
    one, two = case(1), case(2)
    result, _ = await run_lane(env, fakes, [*offs[:3], one, *offs[3:], two])

    assert result.settled == sorted([one.case_id, two.case_id])
    assert sorted(result.handed_over) == sorted(c.case_id for c in offs)
    assert started(fakes) == {**{c.case_id: handed_over(c) for c in offs},
                              one.case_id: settled(one, 65000, "pay-2"), two.case_id: settled(two, 130000, "pay-3")}
    assert {t.case_id for t in fakes.transitions} == {one.case_id, two.case_id}
    assert {p.case_id for p in fakes.payments} == {short.case_id, payment_failed.case_id, one.case_id, two.case_id}
    assert sum(d.amount_fen for d in fakes.paid.values()) == 195000


async def test_a_policy_that_cannot_answer_one_case_hands_that_case_over(env: WorkflowEnvironment):
    """A policy error (non-retryable) for one case must not fail the lane and strand the others."""
    fakes = services()
    acts = fakes.activities()
    fake_evaluate = by_name(acts, "wf", "policy.evaluate_entitlement")

    @activity.defn(name="policy.evaluate_entitlement")
    async def evaluate(req: EvaluateEntitlement) -> Entitlement:
        if req.profile.household_size == 6:
            raise PolicyError("no pack in force sets the amount")
        return await fake_evaluate(req)

    unanswered, one = case(6), case(1)
    result, _ = await run_lane(env, fakes, [unanswered, one], replaced(acts, "wf", evaluate))
    assert result == LaneResult(settled=[one.case_id], handed_over=[unanswered.case_id])
    assert started(fakes) == {unanswered.case_id: handed_over(unanswered), one.case_id: settled(one, 65000, "pay-1")}
    assert [p.case_id for p in fakes.payments] == [one.case_id]


async def test_a_batch_step_that_fails_for_good_hands_its_cases_over(env: WorkflowEnvironment):
    """The settlement of the cases fails for good (a contract broken): the lane does not fail with its cases
    paid and no workflow of their own; each is handed over (its workflow gets its payment back, same key)."""
    fakes = services()

    @activity.defn(name=act.SETTLE_LANE_CASES)
    async def settle_lane_cases(settlement: act.LaneSettlement) -> None:
        fakes.batch_calls.append(act.SETTLE_LANE_CASES)
        raise ContractViolation("unknown case")

    one, two = case(1), case(2)
    acts = replaced(fakes.activities(), TASK_QUEUE_INTAKE, settle_lane_cases)
    result, _ = await run_lane(env, fakes, [one, two], acts)
    assert result == LaneResult(settled=[], handed_over=[one.case_id, two.case_id])
    assert started(fakes) == {one.case_id: handed_over(one), two.case_id: handed_over(two)}
    assert fakes.batch_calls == [*BATCH_STEPS, act.START_LANE_CASES]
    assert {k: d.amount_fen for k, d in fakes.paid.items()} == {f"{one.case_id}:1": 65000, f"{two.case_id}:1": 130000}


async def test_the_settlement_carries_each_straight_cases_steps_and_every_cases_start(env: WorkflowEnvironment):
    """One call ends the lane: the steps of the cases it paid (and of no other), and a start for every case."""
    fakes = services()
    seen: list[act.LaneSettlement] = []
    fake_settle = by_name(fakes.activities(), TASK_QUEUE_INTAKE, act.SETTLE_LANE_CASES)

    @activity.defn(name=act.SETTLE_LANE_CASES)
    async def settle_lane_cases(settlement: act.LaneSettlement) -> None:
        seen.append(settlement)
        await fake_settle(settlement)

    off, one = case(4), case(1)  # 4: not payable
    await run_lane(env, fakes, [off, one], replaced(fakes.activities(), TASK_QUEUE_INTAKE, settle_lane_cases))
    [settlement] = seen
    assert [[t.stage for t in c.transitions] for c in settlement.recorded] == [
        ["assessed", "approved", "paid", "closed"]]
    assert {t.case_id for c in settlement.recorded for t in c.transitions} == {one.case_id}
    assert settlement.starts == [settled(one, 65000, "pay-1"), handed_over(off)]


def test_a_settlement_records_steps_only_for_a_case_the_lane_settled():
    """The contract refuses steps for a handed-over case, or one case's steps twice."""
    step = act.CaseTransition(case_id="em-1", pathway="emergency_relief", seq=1, status="open", stage="assessed",
                              note="", at=datetime(2022, 8, 10, tzinfo=UTC))
    steps_of_one = act.CaseTransitions(transitions=[step])
    with pytest.raises(ValidationError):
        act.LaneSettlement(recorded=[steps_of_one], starts=[act.LaneCaseStart(case_id="em-1", settled=False)])
    with pytest.raises(ValidationError):
        act.LaneSettlement(recorded=[steps_of_one, steps_of_one],
                           starts=[act.LaneCaseStart(case_id="em-1", settled=True, result={})])
    assert act.LaneSettlement(recorded=[steps_of_one], starts=[act.LaneCaseStart(case_id="em-1", settled=True)])


# -- duplicates -----------------------------------------------------------------------------------------

async def test_the_same_lane_run_twice_pays_each_case_once(env: WorkflowEnvironment):
    """A redelivery, or the same cases gathered again, starts a second lane: every case is asked again under
    its own key, and the ledger pays it once."""
    fakes = services()
    one, two = case(1), case(2)
    lane = LaneInput(cases=[one, two])
    async with WorkerSet(env, [EmergencyReliefLaneWorkflow], fakes.activities()) as queue:
        handles = [await env.client.start_workflow(EmergencyReliefLaneWorkflow.run, lane,
                                                   id=f"{lane_id([one.case_id, two.case_id])}-{n}", task_queue=queue)
                   for n in (1, 2)]
        results = [await h.result() for h in handles]

    assert results == [LaneResult(settled=sorted([one.case_id, two.case_id]), handed_over=[])] * 2
    assert sorted(p.idempotency_key for p in fakes.payments) == sorted(
        [f"{one.case_id}:1", f"{two.case_id}:1"] * 2)  # asked twice, always under the case's one key
    assert {k: (d.payment_id, d.amount_fen) for k, d in fakes.paid.items()} == {
        f"{one.case_id}:1": ("pay-1", 65000), f"{two.case_id}:1": ("pay-2", 130000)}
    assert sum(d.amount_fen for d in fakes.paid.values()) == 195000
    # both lanes start the same settled records, with the first payment's id (intake starts each id once)
    assert sorted(((lane, s.case_id) for lane, s in fakes.lane_starts), key=str) == sorted(
        ((h.id, c.case_id) for h in handles for c in (one, two)), key=str)
    assert {s.case_id: s for _, s in fakes.lane_starts} == {one.case_id: settled(one, 65000, "pay-1"),
                                                              two.case_id: settled(two, 130000, "pay-2")}


async def test_a_case_gathered_twice_into_one_lane_is_paid_and_started_once(env: WorkflowEnvironment):
    fakes = services()
    one, two = case(1), case(2)
    result, _ = await run_lane(env, fakes, [one, two, one])
    assert result == LaneResult(settled=sorted([one.case_id, two.case_id]), handed_over=[])
    assert [p.case_id for p in fakes.payments] == [one.case_id, two.case_id]
    assert started(fakes) == {one.case_id: settled(one, 65000, "pay-1"), two.case_id: settled(two, 130000, "pay-2")}
    assert steps(fakes, one) == paid_and_closed(65000)


# -- the settled case's record --------------------------------------------------------------------------

async def test_the_settled_record_returns_its_cases_result_in_one_task(env: WorkflowEnvironment):
    result = EmergencyReliefResult(case_id=f"em-{uuid.uuid4().hex[:8]}", outcome="paid", amount_fen=195000,
                                   payment_id="pay-7", reason="fake policy", policy=POLICY)
    async with WorkerSet(env, [EmergencyReliefSettledWorkflow], {}) as queue:
        handle = await env.client.start_workflow(EmergencyReliefSettledWorkflow.run,
                                                 SettledInput(lane_id="lane-0123", result=result),
                                                 id=result.case_id, task_queue=queue)
        assert await handle.result() == result
        assert await handle.query(EmergencyReliefSettledWorkflow.stage) == "closed"  # as every case workflow
        history = await handle.fetch_history()
    assert [e.event_type for e in history.events] == [
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED]


async def test_a_workflow_the_worker_runs_unsandboxed_runs_in_the_sandbox_in_the_tests(env: WorkflowEnvironment):
    """The lane and the settled record skip the sandbox's cost per run in production (docs/adr/0021); the tests'
    workers still run them in it, so a call it refuses fails their tests. Shown on a workflow that reads the
    clock."""
    async with WorkerSet(env, [UnsandboxedClock], {}) as queue:
        handle = await env.client.start_workflow(UnsandboxedClock.run, id=f"clock-{uuid.uuid4()}", task_queue=queue)

        async def refused() -> str | None:
            for e in (await handle.fetch_history()).events:
                if e.HasField("workflow_task_failed_event_attributes"):
                    return e.workflow_task_failed_event_attributes.failure.message
            return None

        message = await wait_for(refused, timeout=20)
        await handle.terminate()
    assert "datetime.datetime.now" in message
    assert not EmergencyReliefLaneWorkflow.__temporal_workflow_definition.sandboxed  # type: ignore[attr-defined]


# -- recorded histories -----------------------------------------------------------------------------------

async def test_recorded_lane_histories_replay(env: WorkflowEnvironment):
    """The lane's and the settled record's histories replay on today's code (tests/unit/test_recorded_histories.py
    replays them too). With DOUDI_RECORD_HISTORIES=<version>: a lane of two straight cases and one handed over
    (the reserve short), and the settled record of one of them."""
    if RECORDING:
        fakes = services(reserve_short=1)
        short, one, two = case(1), case(1), case(2)
        async with WorkerSet(env, [EmergencyReliefLaneWorkflow, EmergencyReliefSettledWorkflow],
                             fakes.activities()) as queue:
            lane = await env.client.start_workflow(EmergencyReliefLaneWorkflow.run, LaneInput(cases=[short, one, two]),
                                                   id=lane_id([short.case_id, one.case_id, two.case_id]),
                                                   task_queue=queue)
            assert await lane.result() == LaneResult(settled=sorted([one.case_id, two.case_id]),
                                                     handed_over=[short.case_id])
            record = started(fakes)[one.case_id]
            assert record.result is not None
            settled_record = await env.client.start_workflow(
                EmergencyReliefSettledWorkflow.run,
                SettledInput(lane_id=lane.id, result=EmergencyReliefResult.model_validate(record.result)),
                id=one.case_id, task_queue=queue)
            await settled_record.result()
            for name, handle in (("emergency_relief_lane-{}-straight_and_reserve_short", lane),
                                 ("emergency_relief_settled-{}-paid", settled_record)):
                history = await handle.fetch_history()
                (HISTORIES / f"{name.format(RECORDING)}.json").write_text(history.to_json())
    files = sorted([*HISTORIES.glob("emergency_relief_lane-*.json"),
                    *HISTORIES.glob("emergency_relief_settled-*.json")])
    assert {f.name.split("-")[0] for f in files} == {"emergency_relief_lane", "emergency_relief_settled"}
    replayer = Replayer(workflows=[EmergencyReliefLaneWorkflow, EmergencyReliefSettledWorkflow],
                        data_converter=pydantic_data_converter, unsandboxed_workflow_runner=SandboxedWorkflowRunner())
    for f in files:
        await replayer.replay_workflow(WorkflowHistory.from_json(f.stem, f.read_text()))
