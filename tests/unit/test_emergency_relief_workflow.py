"""The emergency-relief workflow alone: Temporal's time-skipping test server, the services' activities
replaced by fakes of the same names (samples-python style)."""

from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from deploy.embedded import _bin
from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_INTAKE, TASK_QUEUE_PAYMENT
from shared.contracts import activities as act
from shared.policy import Entitlement
from workflows.emergency_relief.inputs import CountyDecision, EmergencyReliefInput
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
from workflows.policy import EvaluateEntitlement


@pytest.fixture(scope="module")
async def env():
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=_bin("temporal-test-server"),
    ) as e:
        yield e


class FakeServices:
    def __init__(self, amount: int, decision: str = "approved", payable: bool = True):
        self.amount, self.decision, self.payable = amount, decision, payable
        self.transitions: list[act.CaseTransition] = []
        self.payments: list[act.DisbursementRequest] = []

    def activities(self):
        @activity.defn(name=act.LOOKUP_RECIPIENT)
        async def lookup(req: act.LookupRecipient) -> act.RecipientFacts:
            return act.RecipientFacts(found=True, person_id=req.person_id, household_id="hh-1",
                                      region_code="650102", categories=["dibao"], household_size=2)

        @activity.defn(name="policy.evaluate_entitlement")
        async def evaluate(req: EvaluateEntitlement) -> Entitlement:
            return Entitlement(measure=req.measure, payable=self.payable, amount_fen=self.amount if self.payable else 0,
                               reason="fake policy", pack_id="fake", pack_version="1", region_prefix="65")

        @activity.defn(name=act.DECIDE_WITHIN_AUTHORITY)
        async def decide(req: act.ApprovalRequest) -> act.ApprovalOutcome:
            return act.ApprovalOutcome(case_id=req.case_id, decision=self.decision,
                                       tier="township" if self.decision == "approved" else "county",
                                       decided_by="system", amount_fen=req.amount_fen, reason="fake authority")

        @activity.defn(name=act.DISBURSE)
        async def disburse(req: act.DisbursementRequest) -> act.Disbursement:
            self.payments.append(req)
            return act.Disbursement(payment_id="pay-1", idempotency_key=req.idempotency_key,
                                    amount_fen=req.amount_fen, paid_at=activity.info().started_time)

        @activity.defn(name=act.RECORD_CASE_TRANSITION)
        async def record(t: act.CaseTransition) -> bool:
            self.transitions.append(t)
            return True

        return lookup, evaluate, decide, disburse, record


async def _run(env: WorkflowEnvironment, fakes: FakeServices, *, county: CountyDecision | None = None,
               bad_county: CountyDecision | None = None):
    lookup, evaluate, decide, disburse, record = fakes.activities()
    wf_queue = f"wf-{uuid.uuid4()}"
    async with (
        Worker(env.client, task_queue=wf_queue, workflows=[EmergencyReliefWorkflow], activities=[evaluate]),
        Worker(env.client, task_queue=TASK_QUEUE_INTAKE, activities=[lookup, record]),
        Worker(env.client, task_queue=TASK_QUEUE_APPROVAL, activities=[decide]),
        Worker(env.client, task_queue=TASK_QUEUE_PAYMENT, activities=[disburse]),
    ):
        case_id = f"em-{uuid.uuid4().hex[:8]}"
        handle = await env.client.start_workflow(
            EmergencyReliefWorkflow.run,
            EmergencyReliefInput(case_id=case_id, trigger="quarantine", person_id="11010519491231002X",
                                 region_code="650102", business_date=date(2022, 8, 10), cause_event_id="evt-9"),
            id=case_id, task_queue=wf_queue)
        if county is not None:
            async def awaiting() -> bool:
                return await handle.query(EmergencyReliefWorkflow.stage) == "awaiting_county_decision"

            from tests.support import wait_for

            await wait_for(awaiting, timeout=20)
            if bad_county is not None:
                with pytest.raises(WorkflowUpdateFailedError):
                    await handle.execute_update(EmergencyReliefWorkflow.decide, bad_county)
            await handle.execute_update(EmergencyReliefWorkflow.decide, county)
        return await handle.result()


async def test_within_township_authority_pays_once_with_the_derived_key(env: WorkflowEnvironment):
    fakes = FakeServices(amount=195000)
    result = await _run(env, fakes)
    assert result.outcome == "paid" and result.amount_fen == 195000
    assert [(p.idempotency_key, p.amount_fen, p.cause_event_id) for p in fakes.payments] == [
        (f"{result.case_id}:1", 195000, "evt-9")]
    assert [t.stage for t in fakes.transitions] == ["assessed", "approved", "paid", "closed"]
    assert [t.seq for t in fakes.transitions] == [1, 2, 3, 4]
    assert fakes.transitions[-1].closed and fakes.transitions[-1].outcome == "paid"


async def test_not_payable_closes_without_any_payment(env: WorkflowEnvironment):
    fakes = FakeServices(amount=0, payable=False)
    result = await _run(env, fakes)
    assert result.outcome == "not_payable" and fakes.payments == []
    assert fakes.transitions[-1].outcome == "not_payable" and fakes.transitions[-1].note == "fake policy"


async def test_above_township_authority_waits_for_the_county_and_refuses_a_clerk(env: WorkflowEnvironment):
    fakes = FakeServices(amount=250000, decision="needs_county")
    result = await _run(
        env, fakes,
        bad_county=CountyDecision(approver="c-1", role="clerk", approve=True, amount_fen=250000),
        county=CountyDecision(approver="county-7", role="county_approver", approve=True, amount_fen=250000))
    assert result.outcome == "paid"
    assert [p.amount_fen for p in fakes.payments] == [250000]
    assert "awaiting_county_decision" in [t.stage for t in fakes.transitions]


async def test_county_refusal_closes_the_case_unpaid(env: WorkflowEnvironment):
    fakes = FakeServices(amount=250000, decision="needs_county")
    result = await _run(env, fakes, county=CountyDecision(approver="county-7", role="county_approver",
                                                          approve=False, reason="not in hardship"))
    assert result.outcome == "rejected" and fakes.payments == []


# -- replay: recorded histories must replay on today's workflow code (non-determinism caught in CI) ------

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def test_recorded_histories_replay_without_nondeterminism(env: WorkflowEnvironment):
    """Every history in tests/histories was recorded from a real run; a change to live workflow logic that
    is not behind ``workflow.patched`` fails here. Re-record with DOUDI_RECORD_HISTORIES=1."""
    if os.environ.get("DOUDI_RECORD_HISTORIES"):
        await _record_histories(env)
    files = sorted(HISTORIES.glob("emergency_relief-*.json"))
    assert files, "no recorded histories"
    replayer = Replayer(workflows=[EmergencyReliefWorkflow], data_converter=pydantic_data_converter)
    for f in files:
        history = WorkflowHistory.from_json(f.stem, f.read_text())
        await replayer.replay_workflow(history)


async def _record_histories(env: WorkflowEnvironment) -> None:
    HISTORIES.mkdir(exist_ok=True)
    scenarios = {
        "paid": (FakeServices(amount=195000), None),
        "not_payable": (FakeServices(amount=0, payable=False), None),
        "county": (FakeServices(amount=250000, decision="needs_county"),
                   CountyDecision(approver="county-7", role="county_approver", approve=True, amount_fen=250000)),
    }
    for name, (fakes, county) in scenarios.items():
        result = await _run(env, fakes, county=county)
        history = await env.client.get_workflow_handle(result.case_id).fetch_history()
        (HISTORIES / f"emergency_relief-{name}.json").write_text(history.to_json())
