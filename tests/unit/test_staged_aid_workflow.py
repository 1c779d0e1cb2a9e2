"""Staged aid on the time-skipping server: month-start installments, re-checks, pause/adjust/cancel."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared.config import TASK_QUEUE_INTAKE, TASK_QUEUE_PAYMENT
from shared.contracts import activities as act
from tests.support import wait_for
from tests.unit.fakes import Recorded, recording_activities
from workflows.policy import evaluate_entitlement, service_levels
from workflows.staged_aid.inputs import PlanChange, PlannedInstallment, StagedAidInput
from workflows.staged_aid.workflow import StagedAidWorkflow

PERSON = "11010519491231002X"


@dataclass(kw_only=True)
class Fakes(Recorded):
    """Intake and payment for a staged plan: the shared recording fakes (tests/unit/fakes.py); a recipient
    who died or moved; ``payment_outages`` disburse calls fail first; a payment recorded once per key."""

    died_on: date | None = None
    moved_to: str | None = None
    payment_outages: int = 0
    attempts: int = 0

    def by_queue(self) -> dict[str, list[Any]]:
        shared = recording_activities(self)

        @activity.defn(name=act.LOOKUP_RECIPIENT)
        async def lookup(req: act.LookupRecipient) -> act.RecipientFacts:
            return act.RecipientFacts(found=True, person_id=req.person_id, household_id="hh-1",
                                      region_code=self.moved_to or "640104", categories=["dibao"], household_size=1,
                                      deceased=self.died_on is not None and self.died_on <= req.on)

        @activity.defn(name=act.DISBURSE)
        async def disburse(req: act.DisbursementRequest) -> act.Disbursement:
            self.attempts += 1
            if self.payment_outages > 0:
                self.payment_outages -= 1
                raise RuntimeError("payment provider unavailable")
            if req.idempotency_key not in {p.idempotency_key for p in self.payments}:
                self.payments.append(req)
            return act.Disbursement(payment_id=f"pay-{req.installment}", idempotency_key=req.idempotency_key,
                                    amount_fen=req.amount_fen, paid_at=activity.info().started_time)

        return {"wf": [evaluate_entitlement, service_levels], TASK_QUEUE_INTAKE: [lookup, shared["record_transition"]],
                TASK_QUEUE_PAYMENT: [disburse]}


class Plan:
    def __init__(self, env: WorkflowEnvironment, fakes: Fakes, **over: Any):
        self.env, self.fakes, self.over, self.workers = env, fakes, over, []

    async def __aenter__(self):
        queues = self.fakes.by_queue()
        queue = f"wf-{uuid.uuid4()}"
        self.workers = [Worker(self.env.client, task_queue=queue, workflows=[StagedAidWorkflow],
                               activities=queues.pop("wf"))]
        self.workers += [Worker(self.env.client, task_queue=q, activities=a) for q, a in queues.items()]
        for w in self.workers:
            await w.__aenter__()
        case_id = f"sa-{uuid.uuid4().hex[:8]}"
        base = dict(case_id=case_id, person_id=PERSON, region_code="640104", business_date=date(2022, 6, 7),
                    measure="one_time_living_subsidy", required_categories=["dibao"])
        return await self.env.client.start_workflow(StagedAidWorkflow.run, StagedAidInput(**{**base, **self.over}),
                                                    id=case_id, task_queue=queue)

    async def __aexit__(self, *exc: Any) -> None:
        for w in reversed(self.workers):
            await w.__aexit__(*exc)


async def month_starts(env: WorkflowEnvironment, n: int = 3, amount: int = 20000) -> list[PlannedInstallment]:
    """The next n month-starts of the test server's clock, 200 yuan each (Ningxia, seed 002)."""
    now = (await env.get_current_time()).date()
    out, y, m = [], now.year, now.month
    for k in range(1, n + 1):
        idx = y * 12 + m - 1 + k
        out.append(PlannedInstallment(number=k, due_on=date(idx // 12, idx % 12 + 1, 1), amount_fen=amount))
    return out


def change(action: str, **kw: Any) -> PlanChange:
    return PlanChange(**{**dict(official="approver-1", role="township_approver", region="6401", action=action,
                                reason="test"), **kw})


async def paid_count(fakes: Fakes, n: int) -> None:
    async def probe() -> bool:
        return len(fakes.payments) >= n
    await wait_for(probe, timeout=20, interval=0.02)


async def test_ningxia_subsidy_from_the_policy_pays_three_installments_of_200_yuan(env: WorkflowEnvironment):
    fakes = Fakes()
    async with Plan(env, fakes) as handle:  # the plan comes from the pack: 2022-06, -07, -08
        result = await handle.result()
    assert result.outcome == "completed" and result.paid_fen == 60000
    assert [(p.installment, p.amount_fen, p.idempotency_key) for p in fakes.payments] == [
        (n, 20000, f"{result.case_id}:{n}") for n in (1, 2, 3)]


async def test_three_month_starts_then_cancelled_after_the_second_pays_400_yuan(env: WorkflowEnvironment):
    fakes = Fakes()
    plan = await month_starts(env)
    async with Plan(env, fakes, plan=plan) as handle:
        await env.sleep(plan[0].due_on - (await env.get_current_time()).date() + timedelta(hours=1))
        await paid_count(fakes, 1)
        assert len(fakes.payments) == 1  # the second month has not started
        await env.sleep(timedelta(days=31))
        await paid_count(fakes, 2)
        await handle.execute_update(StagedAidWorkflow.change, change("cancel", reason="moved to relatives"))
        result = await handle.result()
    assert result.outcome == "cancelled" and result.paid_fen == 40000 and result.paid_installments == [1, 2]
    assert [p.installment for p in fakes.payments] == [1, 2]


async def test_a_recipient_who_dies_before_installment_three_gets_no_installment_three(env: WorkflowEnvironment):
    plan = await month_starts(env)
    fakes = Fakes(died_on=plan[1].due_on + timedelta(days=10))
    async with Plan(env, fakes, plan=plan) as handle:
        result = await handle.result()
    assert result.outcome == "stopped_ineligible" and "died" in result.reason
    assert [p.installment for p in fakes.payments] == [1, 2] and result.paid_fen == 40000


async def test_a_recipient_who_moved_away_is_not_paid(env: WorkflowEnvironment):
    plan = await month_starts(env)
    fakes = Fakes(moved_to="650102")
    async with Plan(env, fakes, plan=plan) as handle:
        result = await handle.result()
    assert result.outcome == "stopped_ineligible" and "moved" in result.reason and fakes.payments == []


async def test_pause_resume_and_an_adjustment_that_never_exceeds_the_plan(env: WorkflowEnvironment):
    fakes = Fakes()
    plan = await month_starts(env)
    async with Plan(env, fakes, plan=plan) as handle:
        async def waiting() -> bool:
            return await handle.query(StagedAidWorkflow.stage) == "waiting"
        await wait_for(waiting, timeout=20)
        await handle.execute_update(StagedAidWorkflow.change, change("pause"))
        await env.sleep(timedelta(days=100))  # every due date passes while paused
        assert fakes.payments == []
        for bad, why in ((change("adjust", amounts={2: 30000}), "exceed the plan total"),
                         (change("adjust", amounts={9: 100}), "no installments"),
                         (change("resume", role="clerk"), "cannot change"),
                         (change("resume", region="6501"), "outside jurisdiction")):
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await handle.execute_update(StagedAidWorkflow.change, bad)
            assert why in str(err.value.cause)
        await handle.execute_update(StagedAidWorkflow.change, change("adjust", amounts={2: 10000, 3: 30000}))
        await handle.execute_update(StagedAidWorkflow.change, change("resume"))
        result = await handle.result()
    assert result.outcome == "completed" and result.paid_fen == 60000
    assert [(p.installment, p.amount_fen) for p in fakes.payments] == [(1, 20000), (2, 10000), (3, 30000)]


async def test_a_payment_provider_that_is_down_is_retried_without_paying_twice(env: WorkflowEnvironment):
    fakes = Fakes(payment_outages=3)
    async with Plan(env, fakes, plan=[PlannedInstallment(number=1, due_on=date(2022, 6, 1), amount_fen=20000)]) as h:
        result = await h.result()
    assert result.paid_fen == 20000 and fakes.attempts == 4 and len(fakes.payments) == 1


def is_change(t: act.CaseTransition) -> bool:
    """The transition a plan change records ("<action> by <official>: <reason>")."""
    return t.note.split(" by ")[0] in ("pause", "resume", "cancel", "adjust")


async def test_a_resumed_plan_reports_its_real_stage_at_once(env: WorkflowEnvironment):
    """Resumed while waiting for its first installment, the plan says "waiting" at once (it said "paused"
    until the installment came)."""
    fakes = Fakes()
    plan = await month_starts(env)
    async with Plan(env, fakes, plan=plan) as handle:
        async def waiting() -> bool:
            return await handle.query(StagedAidWorkflow.stage) == "waiting"
        await wait_for(waiting, timeout=20)
        await handle.execute_update(StagedAidWorkflow.change, change("pause"))
        assert await handle.query(StagedAidWorkflow.stage) == "paused"
        await handle.execute_update(StagedAidWorkflow.change, change("resume"))
        assert await handle.query(StagedAidWorkflow.stage) == "waiting"
        await handle.execute_update(StagedAidWorkflow.change, change("cancel"))
        await handle.result()
    assert [t.stage for t in fakes.transitions if is_change(t)] == ["paused", "waiting", "waiting"]


async def test_two_changes_sent_at_once_are_recorded_one_after_the_other(env: WorkflowEnvironment):
    """A change awaits its transition record holding the workflow's lock: the records of two changes never
    overlap and keep the order of their sequence numbers."""
    fakes = Fakes()
    in_flight, overlap = [0], [0]
    plan = await month_starts(env)
    queues = fakes.by_queue()

    @activity.defn(name=act.RECORD_CASE_TRANSITION)
    async def slow_record(t: act.CaseTransition) -> bool:
        if not is_change(t):
            fakes.transitions.append(t)
            return True
        in_flight[0] += 1
        overlap[0] = max(overlap[0], in_flight[0])
        try:
            await asyncio.sleep(0.2)  # widens the window in which an unlocked second record would start
            fakes.transitions.append(t)
            return True
        finally:
            in_flight[0] -= 1

    queues[TASK_QUEUE_INTAKE] = [a for a in queues[TASK_QUEUE_INTAKE] if a is not queues[TASK_QUEUE_INTAKE][1]]
    queues[TASK_QUEUE_INTAKE].append(slow_record)
    queue = f"wf-{uuid.uuid4()}"
    workers = [Worker(env.client, task_queue=queue, workflows=[StagedAidWorkflow], activities=queues.pop("wf"))]
    workers += [Worker(env.client, task_queue=q, activities=a) for q, a in queues.items()]
    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        case_id = f"sa-{uuid.uuid4().hex[:8]}"
        handle = await env.client.start_workflow(
            StagedAidWorkflow.run, StagedAidInput(case_id=case_id, person_id=PERSON, region_code="640104",
                                                  business_date=date(2022, 6, 7), measure="one_time_living_subsidy",
                                                  plan=plan), id=case_id, task_queue=queue)

        async def waiting() -> bool:
            return await handle.query(StagedAidWorkflow.stage) == "waiting"
        await wait_for(waiting, timeout=20)
        await asyncio.gather(handle.execute_update(StagedAidWorkflow.change, change("pause")),
                             handle.execute_update(StagedAidWorkflow.change, change("adjust", amounts={3: 10000})))
        await handle.execute_update(StagedAidWorkflow.change, change("cancel"))
        await handle.result()
    records = [t for t in fakes.transitions if is_change(t)]
    assert overlap[0] == 1 and len(records) == 3
    assert [t.seq for t in records] == sorted(t.seq for t in records)


def test_every_case_workflow_knows_its_case_before_its_first_task():
    """``_init_steps`` sets the case, region and pathway in the workflow's init: an update handled in the
    first workflow task (before ``run`` starts) records its transition under the right pathway."""
    from workflows.emergency_relief.inputs import EmergencyReliefInput
    from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
    from workflows.one_matter.inputs import OneMatterInput
    from workflows.one_matter.workflow import OneMatterWorkflow
    from workflows.one_off_assistance.inputs import OneOffInput
    from workflows.one_off_assistance.workflow import OneOffAssistanceWorkflow
    from workflows.renewal.inputs import Household, Member, RenewalInput
    from workflows.renewal.workflow import RenewalWorkflow

    on = date(2024, 3, 1)
    cases: list[tuple[Any, str]] = [
        (StagedAidWorkflow(StagedAidInput(case_id="c1", person_id=PERSON, region_code="640104", business_date=on,
                                          measure="one_time_living_subsidy")), "staged_aid"),
        (EmergencyReliefWorkflow(EmergencyReliefInput(case_id="c1", trigger="quarantine", person_id=PERSON,
                                                      region_code="640104", business_date=on)), "emergency_relief"),
        (OneOffAssistanceWorkflow(OneOffInput(case_id="c1", measure="job_loss", person_id=PERSON,
                                              region_code="640104", business_date=on)), "one_off"),
        (OneMatterWorkflow(OneMatterInput(case_id="c1", parent_case_id="p", parent_pathway="one_off",
                                          person_id=PERSON, region_code="640104", business_date=on,
                                          requested_amount_fen=1, reason="r")), "one_matter"),
        (RenewalWorkflow(RenewalInput(case_id="c1", person_id=PERSON, region_code="640104", first_period="2024-03",
                                      household=Household(members=[Member(person_id=PERSON)]))), "renewal"),
    ]
    for wf, pathway in cases:
        assert (wf._case_id, wf._region, wf._pathway) == ("c1", "640104", pathway)
