"""The one-off assistance workflow on the time-skipping server, the services replaced by fakes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_INTAKE, TASK_QUEUE_PAYMENT, TASK_QUEUE_VERIFICATION
from shared.contracts import activities as act
from tests.support import wait_for
from tests.unit.fakes import Recorded, recording_activities
from workflows.one_matter.inputs import CommitteeDecision, Opinion
from workflows.one_matter.limits import authority_limits_activity
from workflows.one_matter.workflow import OneMatterWorkflow
from workflows.one_off_assistance.inputs import ApplicationReceived, ApproverDecision, Escalation, OneOffInput
from workflows.one_off_assistance.workflow import OneOffAssistanceWorkflow
from workflows.policy import evaluate_entitlement, service_levels

PERSON = "11010519491231002X"
ROSTER = [act.CommitteeMember(member_id="m-civil", name="民政", department="民政", chair=True),
          act.CommitteeMember(member_id="m-finance", name="财政", department="财政"),
          act.CommitteeMember(member_id="m-health", name="卫健", department="卫健")]


@dataclass(kw_only=True)
class Fakes(Recorded):
    """The one-off pathway's services: the shared recording fakes (tests/unit/fakes.py), approval's real
    township rule, a recipient of ``categories``, an economic check that finds ``eligible``."""

    categories: list[str]
    eligible: bool = True
    checks: list[str] = field(default_factory=list)

    def by_queue(self) -> dict[str, list[Any]]:
        shared = recording_activities(self, committee=ROSTER)

        @activity.defn(name=act.LOOKUP_RECIPIENT)
        async def lookup(req: act.LookupRecipient) -> act.RecipientFacts:
            return act.RecipientFacts(found=True, person_id=req.person_id, household_id="hh-1", region_code="640104",
                                      categories=self.categories, household_size=1, member_ids=[req.person_id])

        @activity.defn(name=act.DECIDE_WITHIN_AUTHORITY)
        async def decide(req: act.ApprovalRequest) -> act.ApprovalOutcome:
            from services.approval.authority import township_decision  # the real rule, no I/O
            return township_decision(req)

        @activity.defn(name=act.CHECK_ECONOMIC_STATUS)
        async def check(req: act.EconomicCheckRequest) -> act.EconomicCheckResult:
            self.checks.append(req.check_id)
            return act.EconomicCheckResult(check_id=req.check_id, outcome="eligible" if self.eligible else "ineligible",
                                           per_capita_income_fen=0 if self.eligible else 150000,
                                           limit_fen_per_capita=65000,
                                           reasons=["ok"] if self.eligible
                                           else ["per-capita income above the standard"],
                                           evidence=[], sources=[])

        return {"wf": [evaluate_entitlement, service_levels, authority_limits_activity],
                TASK_QUEUE_INTAKE: [lookup, shared["record_transition"], shared["open_case"]],
                TASK_QUEUE_APPROVAL: [decide, shared["open_task"], shared["close_task"], shared["record_decision"],
                                      shared["roster"], shared["record_minutes"]],
                TASK_QUEUE_VERIFICATION: [check], TASK_QUEUE_PAYMENT: [shared["disburse"]]}


async def start(env: WorkflowEnvironment, fakes: Fakes, workers: list[Worker], **over: Any):
    queues = fakes.by_queue()
    queue = f"wf-{uuid.uuid4()}"
    workers.append(Worker(env.client, task_queue=queue, workflows=[OneOffAssistanceWorkflow, OneMatterWorkflow],
                          activities=queues.pop("wf")))
    workers += [Worker(env.client, task_queue=q, activities=a) for q, a in queues.items()]
    for w in workers:
        await w.__aenter__()
    case_id = f"oo-{uuid.uuid4().hex[:8]}"
    inp = OneOffInput(**{**dict(case_id=case_id, measure="job_loss", person_id=PERSON, region_code="640104",
                                business_date=date(2022, 9, 1), unemployment_insured=False), **over})
    return await env.client.start_workflow(OneOffAssistanceWorkflow.run, inp, id=case_id, task_queue=queue)


async def stop(workers: list[Worker]) -> None:
    for w in reversed(workers):
        await w.__aexit__(None, None, None)


async def at_stage(handle, stage: str) -> None:
    async def probe() -> bool:
        return await handle.query(OneOffAssistanceWorkflow.stage) == stage
    await wait_for(probe, timeout=20)


APPLICATION = ApplicationReceived(application_id="app-1", registered_by="clerk-1", role="clerk", region="640104")


async def test_outreach_waits_for_the_application_then_pays_without_a_check(env: WorkflowEnvironment):
    fakes, workers = Fakes(categories=["low_income_db"]), []
    try:
        handle = await start(env, fakes, workers)
        await at_stage(handle, "outreach")
        assert fakes.payments == []
        await env.sleep(timedelta(days=30))
        await handle.execute_update(OneOffAssistanceWorkflow.apply, APPLICATION)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OneOffAssistanceWorkflow.apply, APPLICATION)  # one application per case
        result = await handle.result()
    finally:
        await stop(workers)
    assert result.outcome == "paid" and result.amount_fen == 195000
    assert fakes.checks == []
    stages = [t.stage for t in fakes.transitions]
    assert stages == ["assessed", "outreach", "application_received", "check_waived", "approved", "paid", "closed"]


async def test_no_application_within_the_outreach_window_closes_the_case_unpaid(env: WorkflowEnvironment):
    fakes, workers = Fakes(categories=["low_income_db"]), []
    try:
        handle = await start(env, fakes, workers)
        await at_stage(handle, "outreach")
        result = await handle.result()  # time skips past the 90-day window
    finally:
        await stop(workers)
    assert result.outcome == "no_application" and fakes.payments == []


async def test_a_failed_check_rejects_with_the_reason(env: WorkflowEnvironment):
    fakes, workers = Fakes(categories=[], eligible=False), []
    try:
        handle = await start(env, fakes, workers, application=APPLICATION)
        result = await handle.result()
    finally:
        await stop(workers)
    assert result.outcome == "rejected" and "above the standard" in result.reason
    assert len(fakes.checks) == 1 and fakes.payments == []


async def test_after_a_check_an_approver_decides_and_the_registering_clerk_cannot(env: WorkflowEnvironment):
    fakes, workers = Fakes(categories=[]), []
    try:
        handle = await start(env, fakes, workers, application=APPLICATION)
        await at_stage(handle, "awaiting_approval")
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(OneOffAssistanceWorkflow.decide, ApproverDecision(
                approver="clerk-1", role="county_approver", approve=True, amount_fen=195000, region="6401"))
        assert "separation of duties" in str(err.value.cause)
        await handle.execute_update(OneOffAssistanceWorkflow.decide, ApproverDecision(
            approver="county-ma", role="county_approver", approve=True, amount_fen=195000, region="6401"))
        result = await handle.result()
    finally:
        await stop(workers)
    assert result.outcome == "paid" and [p.amount_fen for p in fakes.payments] == [195000]
    assert [p.idempotency_key for p in fakes.payments] == [f"{result.case_id}:1"]


async def test_a_decision_above_the_county_cap_sends_the_case_up_to_the_committee_which_decides_it(
        env: WorkflowEnvironment):
    # Ningxia job loss (seed 002): 3 x 650 yuan = 195000 fen awaits the county; the county's cap is the national
    # pack's local-practice 10,000 yuan = 1000000 fen, the committee's 50,000 yuan = 5000000 fen
    fakes, workers = Fakes(categories=[]), []
    try:
        handle = await start(env, fakes, workers, application=APPLICATION)
        await at_stage(handle, "awaiting_approval")
        authority = await handle.query(OneOffAssistanceWorkflow.authority)
        assert authority.awaiting == "county" and authority.escalable is True
        assert authority.limits is not None and authority.limits.county is not None
        assert authority.limits.county.limit_fen == 1_000_000
        with pytest.raises(WorkflowUpdateFailedError) as err:   # above the county's cap: refused, never paid
            await handle.execute_update(OneOffAssistanceWorkflow.decide, ApproverDecision(
                approver="county-ma", role="county_approver", approve=True, amount_fen=1_000_001, region="6401"))
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(OneOffAssistanceWorkflow.escalate, Escalation(
                official="clerk-9", role="clerk", region="6401", reason="x"))
        assert "cannot escalate" in str(err.value.cause)
        # ... and goes up a tier (what the approval route does on such a decision)
        await handle.execute_update(OneOffAssistanceWorkflow.escalate, Escalation(
            official="county-ma", role="county_approver", region="6401",
            reason="decision above the delegated limit: 1000001 fen"))
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(OneOffAssistanceWorkflow.decide, ApproverDecision(
                approver="county-ma", role="county_approver", approve=True, amount_fen=195000, region="6401"))
        assert "not waiting" in str(err.value.cause)
        assert (await handle.query(OneOffAssistanceWorkflow.authority)).awaiting is None
        matter = env.client.get_workflow_handle(f"om-{handle.id}")

        async def assembled() -> bool:
            try:
                return await matter.query(OneMatterWorkflow.stage) == "dossier_assembled"
            except Exception:
                return False
        await wait_for(assembled, timeout=20)
        for member in ("m-finance", "m-health"):
            await matter.execute_update(OneMatterWorkflow.opinion, Opinion(
                member_id=member, role="committee", region="640104", vote="approve", amount_fen=1_000_001,
                reason="重大困难"))
        await matter.execute_update(OneMatterWorkflow.decide, CommitteeDecision(
            member_id="m-civil", role="committee", region="640104", approve=True, amount_fen=1_000_001,
            reason="一事一议"))
        result = await handle.result()
    finally:
        await stop(workers)
    assert result.outcome == "paid" and [p.amount_fen for p in fakes.payments] == [1_000_001]
    assert [p.idempotency_key for p in fakes.payments] == [f"{result.case_id}:1"]
    assert [c.pathway for c in fakes.opened] == ["one_matter"]
    referred = [t for t in fakes.transitions if t.stage == "referred_to_committee"]
    assert len(referred) == 1 and referred[0].escalated and referred[0].escalated_to == "committee"


# -- replay ---------------------------------------------------------------------------------------------

HISTORIES = __import__("pathlib").Path(__file__).resolve().parent.parent / "histories"


async def test_recorded_one_off_histories_replay(env: WorkflowEnvironment):
    import os

    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    if os.environ.get("DOUDI_RECORD_HISTORIES"):
        version = os.environ["DOUDI_RECORD_HISTORIES"]
        for name, fakes, over, drive in (
            ("outreach_paid", Fakes(categories=["low_income_db"]), {}, "apply"),
            ("checked_approved", Fakes(categories=[]), {"application": APPLICATION}, "decide"),
        ):
            workers: list[Worker] = []
            try:
                handle = await start(env, fakes, workers, **over)
                if drive == "apply":
                    await at_stage(handle, "outreach")
                    await handle.execute_update(OneOffAssistanceWorkflow.apply, APPLICATION)
                else:
                    await at_stage(handle, "awaiting_approval")
                    await handle.execute_update(OneOffAssistanceWorkflow.decide, ApproverDecision(
                        approver="county-ma", role="county_approver", approve=True, amount_fen=195000, region="6401"))
                await handle.result()
                history = await handle.fetch_history()
            finally:
                await stop(workers)
            (HISTORIES / f"one_off-{version}-{name}.json").write_text(history.to_json())
    files = sorted(HISTORIES.glob("one_off-*.json"))
    assert files, "no recorded one-off histories"
    replayer = Replayer(workflows=[OneOffAssistanceWorkflow], data_converter=pydantic_data_converter)
    for f in files:
        await replayer.replay_workflow(WorkflowHistory.from_json(f.stem, f.read_text()))
