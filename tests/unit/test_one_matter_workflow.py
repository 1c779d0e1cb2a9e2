"""One matter, one discussion on the time-skipping server: automatic escalation above the cap, member
opinions (members only, once), quorum and majority, reminders and escalation to the prefecture,
minutes, and a staged plan that pays on schedule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from shared.contracts import activities as act
from tests.unit.fakes import FakeServices
from tests.unit.test_emergency_relief_workflow import Running, at_stage, until
from workflows.emergency_relief.inputs import CountyDecision, Escalation
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
from workflows.one_matter.inputs import CommitteeDecision, Opinion
from workflows.one_matter.workflow import OneMatterWorkflow

ROSTER = [act.CommitteeMember(member_id="m-civil", name="民政", department="民政", chair=True),
          act.CommitteeMember(member_id="m-finance", name="财政", department="财政"),
          act.CommitteeMember(member_id="m-health", name="卫健", department="卫健")]


def opinion(member: str, vote: str = "approve", amount: int | None = 1_500_000, **kw: Any) -> Opinion:
    return Opinion(**{**dict(member_id=member, role="committee", region="650102", vote=vote,
                             amount_fen=amount if vote == "approve" else None, reason="重大困难"), **kw})


def chair(approve: bool = True, amount: int = 1_500_000, **kw: Any) -> CommitteeDecision:
    return CommitteeDecision(**{**dict(member_id="m-civil", role="committee", region="650102", approve=approve,
                                       amount_fen=amount, reason="一事一议"), **kw})


async def matter(env: WorkflowEnvironment, parent: WorkflowHandle) -> WorkflowHandle:
    handle = env.client.get_workflow_handle(f"om-{parent.id}")

    async def probe() -> bool:
        try:
            return await handle.query(OneMatterWorkflow.stage) == "dossier_assembled"
        except Exception:
            return False
    from tests.support import wait_for
    await wait_for(probe, timeout=20)
    return handle


async def rejected(update: Any, why: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await update
    assert why in str(err.value.cause), str(err.value.cause)


async def test_a_need_above_the_cap_goes_to_the_committee_which_raises_the_amount_and_it_is_paid(
        env: WorkflowEnvironment):
    fakes = FakeServices(amount=1_200_000, committee=ROSTER)
    async with Running(env, fakes) as handle:
        om = await matter(env, handle)
        assert [(c.case_id, c.pathway, c.parent_case_id) for c in fakes.opened] == [(om.id, "one_matter", handle.id)]
        await rejected(om.execute_update(OneMatterWorkflow.opinion, opinion("m-stranger")), "not a member")
        await om.execute_update(OneMatterWorkflow.opinion, opinion("m-finance"))
        await rejected(om.execute_update(OneMatterWorkflow.opinion, opinion("m-finance")), "already given")
        await rejected(om.execute_update(OneMatterWorkflow.decide, chair()), "no quorum")  # 1 of 2
        await om.execute_update(OneMatterWorkflow.opinion, opinion("m-health", amount=1_600_000))
        await rejected(om.execute_update(OneMatterWorkflow.decide, chair(member_id="m-finance")), "only the")
        await rejected(om.execute_update(OneMatterWorkflow.decide, chair(approve=False)), "majority")
        await om.execute_update(OneMatterWorkflow.decide, chair())
        result = await handle.result()
    assert result.outcome == "paid" and result.amount_fen == 1_500_000
    assert [p.amount_fen for p in fakes.payments] == [1_500_000]
    [minutes] = fakes.minutes
    assert [o["member_id"] for o in minutes.opinions] == ["m-finance", "m-health"]
    assert minutes.decision["amount_fen"] == 1_500_000 and minutes.quorum == 2
    assert "referred_to_committee" in fakes.stages()


async def test_no_quorum_by_the_deadline_brings_a_reminder_then_escalation_to_the_prefecture(
        env: WorkflowEnvironment):
    fakes = FakeServices(amount=1_200_000, committee=ROSTER)
    async with Running(env, fakes) as handle:
        om = await matter(env, handle)
        await om.execute_update(OneMatterWorkflow.opinion, opinion("m-finance"))
        await env.sleep(timedelta(days=3, hours=13))
        await until(lambda: any("reminder" in t.note and "m-civil" in t.note and "m-health" in t.note
                                for t in fakes.transitions))
        await env.sleep(timedelta(days=4))
        await until(lambda: any(t.escalated_to == "prefecture" for t in fakes.transitions))
        assert fakes.payments == []
        await om.execute_update(OneMatterWorkflow.opinion, opinion("m-health"))
        await om.execute_update(OneMatterWorkflow.decide, chair())
        result = await handle.result()
    assert result.outcome == "paid"


async def test_a_staged_plan_starts_the_staged_aid_workflow_and_pays_on_schedule(env: WorkflowEnvironment):
    fakes = FakeServices(amount=1_200_000, committee=ROSTER)
    async with Running(env, fakes) as handle:
        om = await matter(env, handle)
        for m in ("m-finance", "m-health"):
            await om.execute_update(OneMatterWorkflow.opinion, opinion(m))
        today = (await env.get_current_time()).date()
        plan = [{"number": n, "due_on": (today + timedelta(days=30 * (n - 1))).isoformat(), "amount_fen": 500_000}
                for n in (1, 2, 3)]
        await om.execute_update(OneMatterWorkflow.decide, chair(plan=plan))
        await until(lambda: len(fakes.payments) == 1)  # the first installment is due today
        await env.sleep(timedelta(days=15))
        assert len(fakes.payments) == 1  # the second is not due yet
        result = await handle.result()  # the case stays open until the plan ends; time skips to each date
    assert result.outcome == "staged_plan" and result.amount_fen == 1_500_000
    staged_closed = [t for t in fakes.transitions if t.case_id == f"sa-{handle.id}" and t.closed]
    assert [(t.outcome, t.approved_amount_fen) for t in staged_closed] == [("completed", 1_500_000)]
    assert [(p.installment, p.amount_fen, p.case_id) for p in fakes.payments] == [
        (n, 500_000, f"sa-{handle.id}") for n in (1, 2, 3)]
    assert {c.pathway for c in fakes.opened} == {"one_matter", "staged_aid"}


async def test_a_county_approver_escalates_a_waiting_case_to_the_committee(env: WorkflowEnvironment):
    fakes = FakeServices(amount=250000, decision="needs_county", committee=ROSTER)
    async with Running(env, fakes) as handle:
        await at_stage(handle, "awaiting_county_decision")
        await rejected(handle.execute_update(EmergencyReliefWorkflow.escalate, Escalation(
            official="c-1", role="clerk", region="6501", reason="x")), "cannot escalate")
        await handle.execute_update(EmergencyReliefWorkflow.escalate, Escalation(
            official="county-7", role="county_approver", region="6501", reason="家庭重大变故"))
        await rejected(handle.execute_update(EmergencyReliefWorkflow.decide, CountyDecision(
            approver="county-8", role="county_approver", approve=True, amount_fen=250000, region="6501")),
            "not waiting")
        om = await matter(env, handle)
        for m in ("m-finance", "m-health"):
            await om.execute_update(OneMatterWorkflow.opinion, opinion(m, amount=400000))
        await om.execute_update(OneMatterWorkflow.decide, chair(amount=400000))
        result = await handle.result()
    assert result.outcome == "paid" and [p.amount_fen for p in fakes.payments] == [400000]
    assert ("close", "county_decision", "escalated") in fakes.tasks
