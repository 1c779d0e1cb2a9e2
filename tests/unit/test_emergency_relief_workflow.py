"""The emergency-relief workflow alone: Temporal's time-skipping test server, the services' activities
replaced by fakes of the same names (samples-python style). Timers (county deadline, document
deadline and reminders, reserve retries) pass in skipped time."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from shared.contracts import activities as act
from tests.support import wait_for
from tests.unit.fakes import PERSON, RELATIVE, FakeServices, WorkerSet
from workflows.emergency_relief.inputs import (
    CountyDecision,
    CountyPayment,
    DocumentsSubmitted,
    EmergencyReliefInput,
    IneligibleResolution,
)
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
from workflows.one_matter.workflow import OneMatterWorkflow
from workflows.staged_aid.workflow import StagedAidWorkflow


class Running:
    def __init__(self, env: WorkflowEnvironment, fakes: FakeServices, **input_overrides: Any):
        self.env, self.fakes, self.overrides = env, fakes, input_overrides

    async def __aenter__(self) -> WorkflowHandle:
        self.workers = WorkerSet(self.env, [EmergencyReliefWorkflow, OneMatterWorkflow, StagedAidWorkflow],
                                 self.fakes.activities())
        self.queue = await self.workers.__aenter__()
        case_id = f"em-{uuid.uuid4().hex[:8]}"
        inp = EmergencyReliefInput(case_id=case_id, trigger="application", person_id=PERSON,
                                   region_code="650102001", business_date=date(2022, 8, 10),
                                   cause_event_id="evt-9", opened_by="clerk-1", **self.overrides)
        return await self.env.client.start_workflow(EmergencyReliefWorkflow.run, inp, id=case_id,
                                                    task_queue=self.queue)

    async def __aexit__(self, *exc: Any) -> None:
        await self.workers.__aexit__(*exc)


async def at_stage(handle: WorkflowHandle, stage: str) -> None:
    async def probe() -> bool:
        return await handle.query(EmergencyReliefWorkflow.stage) == stage
    await wait_for(probe, timeout=20)


async def rejected(update: Any, why: str) -> None:
    """The update's validator refused it, for the reason given (the cause carries the validator's message)."""
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await update
    assert why in str(err.value.cause), str(err.value.cause)


async def until(condition: Any) -> None:
    """Timers fire in skipped time; the activities they lead to still take a moment of real time."""
    async def probe() -> bool:
        return bool(condition())
    await wait_for(probe, timeout=20, interval=0.02)


def county(approve: bool = True, **kw: Any) -> CountyDecision:
    base = dict(approver="county-7", role="county_approver", approve=approve, region="6501",
                amount_fen=250000 if approve else None, reason="" if approve else "not in hardship")
    return CountyDecision(**{**base, **kw})


def docs(**kw: Any) -> DocumentsSubmitted:
    return DocumentsSubmitted(**{**dict(submitted_by="clerk-2", role="clerk", region="650102",
                                        documents=[{"kind": "explanation", "reference": "doc-1"}]), **kw})


# -- within the township's authority ------------------------------------------------------------------

async def test_recipient_entitled_by_status_is_paid_once_and_closed(env: WorkflowEnvironment):
    fakes = FakeServices(amount=195000)
    async with Running(env, fakes) as handle:
        result = await handle.result()
    assert result.outcome == "paid" and result.amount_fen == 195000
    assert [(p.idempotency_key, p.amount_fen, p.cause_event_id) for p in fakes.payments] == [
        (f"{result.case_id}:1", 195000, "evt-9")]
    assert fakes.stages() == ["assessed", "approved", "paid", "closed"]
    assert [t.seq for t in fakes.transitions] == [1, 2, 3, 4]
    assert fakes.checks == [] and fakes.transitions[-1].outcome == "paid"


def registry_facts() -> act.RecipientFacts:
    """What intake read of the registry opening the case (the fake look-up's answer)."""
    return act.RecipientFacts(found=True, person_id=PERSON, household_id="hh-1", region_code="650102001",
                              categories=["dibao"], household_size=2, member_ids=[PERSON, RELATIVE])


async def test_facts_read_opening_the_case_spare_the_look_up_and_transitions_stay_in_order(env: WorkflowEnvironment):
    """Issue 18: the case takes the registry's facts from its input (no look-up round trip) and records its
    assessment and approval while it goes on; the transitions still reach the case in order, paid once."""
    fakes = FakeServices(amount=195000)
    async with Running(env, fakes, facts=registry_facts()) as handle:
        result = await handle.result()
        history = await handle.fetch_history()
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    assert act.LOOKUP_RECIPIENT not in scheduled
    assert result.outcome == "paid" and [(p.idempotency_key, p.amount_fen) for p in fakes.payments] == [
        (f"{result.case_id}:1", 195000)]
    assert fakes.stages() == ["assessed", "approved", "paid", "closed"]
    assert [t.seq for t in fakes.transitions] == [1, 2, 3, 4]


async def test_the_approval_goes_with_the_payment_in_one_record(env: WorkflowEnvironment):
    """Issue 18 (patch emergency-relief-2026-12-consolidated): a case paid at once records its assessment,
    approval, payment and closing in one call to the case record: three activities in all."""
    fakes = FakeServices(amount=195000)
    async with Running(env, fakes, facts=registry_facts()) as handle:
        await handle.result()
        history = await handle.fetch_history()
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled == [act.DECIDE_WITHIN_AUTHORITY, act.DISBURSE, act.RECORD_CASE_TRANSITIONS]
    assert fakes.stages() == ["assessed", "approved", "paid", "closed"]


async def test_a_payment_not_back_in_time_shows_the_case_approved_meanwhile(env: WorkflowEnvironment):
    """A hung payment (its service stopped) must not leave the case looking unapproved: after
    APPROVAL_SHOWN_AFTER (10 s) the approval is recorded while the payment goes on; then it pays once."""
    hold = asyncio.Event()
    fakes = FakeServices(amount=195000, payment_hold=hold)
    async with Running(env, fakes, facts=registry_facts()) as handle:
        await until(lambda: fakes.payments)
        assert fakes.stages() == []  # within the 10 s, nothing yet: the approval waits for the payment
        await env.sleep(timedelta(seconds=11))
        await until(lambda: fakes.stages() == ["assessed", "approved"])
        hold.set()
        result = await handle.result()
    # the first attempt timed out at 10 s too and was tried again: the same key, so paid once
    assert result.outcome == "paid" and {(p.idempotency_key, p.amount_fen) for p in fakes.payments} == {
        (f"{result.case_id}:1", 195000)}
    assert fakes.stages() == ["assessed", "approved", "paid", "closed"]
    assert [t.seq for t in fakes.transitions] == [1, 2, 3, 4]


async def test_a_failed_payment_shows_the_case_approved_before_it_fails(env: WorkflowEnvironment):
    """A payment that fails for good (a deployed bug: the operators reset the case after the fix) leaves the
    case approved, as a caseworker must see it, not merely opened."""
    fakes = FakeServices(amount=195000, payment_fails=True)
    async with Running(env, fakes, facts=registry_facts()) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    assert fakes.stages() == ["assessed", "approved"]
    assert [t.seq for t in fakes.transitions] == [1, 2]


async def test_not_payable_closes_without_any_payment(env: WorkflowEnvironment):
    fakes = FakeServices(amount=0, payable=False)
    async with Running(env, fakes) as handle:
        result = await handle.result()
    assert result.outcome == "not_payable" and fakes.payments == []
    assert fakes.transitions[-1].outcome == "not_payable" and fakes.transitions[-1].note == "fake policy"


# -- assist first, document later -----------------------------------------------------------------------

async def test_documents_that_never_arrive_bring_reminders_then_a_flag_and_escalation(env: WorkflowEnvironment):
    fakes = FakeServices(amount=180000, check_required=True)
    async with Running(env, fakes) as handle:
        await at_stage(handle, "awaiting_documents")
        assert [p.account for p in fakes.payments] == ["township-reserve:650102001"]  # paid before the paperwork
        await env.sleep(timedelta(days=23, hours=1))  # past the reminder 7 days before the 30-day deadline
        await until(lambda: fakes.stages().count("awaiting_documents") == 2)
        await env.sleep(timedelta(days=7))   # past the reminder 1 day before, and the deadline
        await until(lambda: fakes.stages()[-1] == "documents_overdue")
        assert fakes.stages().count("awaiting_documents") == 3
        overdue = fakes.transitions[-1]
        assert overdue.escalated and overdue.escalated_to == "county" and "documents_overdue" in overdue.flags
        assert overdue.status == "open"  # flagged, never silently closed
        await env.sleep(timedelta(days=30))
        assert fakes.stages()[-1] == "documents_overdue" and fakes.checks == []

        # the documents arrive late: verification runs and the case closes
        await handle.execute_update(EmergencyReliefWorkflow.submit_documents, docs())
        result = await handle.result()
    assert result.outcome == "confirmed" and result.amount_fen == 180000
    # verified against the sudden event (急难, seeds 003/004), not the dibao income line
    assert fakes.checks == [] and [c.check_id for c in fakes.event_checks] == [f"{result.case_id}:event"]
    assert fakes.stages()[-2:] == ["documents_received", "closed"]
    assert "(late)" in next(t.note for t in fakes.transitions if t.stage == "documents_received")
    assert fakes.tasks == [("open", "documents", "clerk"), ("close", "documents", "received")]
    assert len(fakes.payments) == 1


async def test_documents_on_time_then_verified_eligible_close_the_case(env: WorkflowEnvironment):
    fakes = FakeServices(amount=180000, check_required=True)
    async with Running(env, fakes) as handle:
        await at_stage(handle, "awaiting_documents")
        deadline = fakes.transitions[-1].deadlines
        assert deadline and deadline[0]["kind"] == "documents"
        await env.sleep(timedelta(days=3))
        await rejected(handle.execute_update(EmergencyReliefWorkflow.submit_documents, docs(region="6401")),
                       "outside jurisdiction")
        await handle.execute_update(EmergencyReliefWorkflow.submit_documents, docs())
        result = await handle.result()
    assert result.outcome == "confirmed"
    assert "documents_overdue" not in fakes.stages()
    assert fakes.stages().count("awaiting_documents") == 1  # no reminder was due yet


@pytest.mark.parametrize(("action", "outcome"), [("recover", "recovery_opened"),
                                                 ("good_faith_correction", "corrected_in_good_faith")])
async def test_found_ineligible_leads_to_recovery_or_a_recorded_correction(env: WorkflowEnvironment, action: str,
                                                                          outcome: str):
    # 急难 is verified against the sudden event (seeds 003/004), not the dibao income line: an application's
    # case whose documents attest no event (only an ID card) fails the event test
    fakes = FakeServices(amount=180000, check_required=True, eligible=False)
    async with Running(env, fakes) as handle:
        await at_stage(handle, "awaiting_documents")
        await handle.execute_update(EmergencyReliefWorkflow.submit_documents,
                                    docs(documents=[{"kind": "id_card", "reference": "id-1"}]))
        await at_stage(handle, "found_ineligible")
        await rejected(handle.execute_update(EmergencyReliefWorkflow.resolve_ineligible, IneligibleResolution(
            official="clerk-1", role="township_approver", region="650102", action=action, reason="x")),
            "separation of duties")
        await handle.execute_update(EmergencyReliefWorkflow.resolve_ineligible, IneligibleResolution(
            official="approver-3", role="township_approver", region="650102", action=action,
            reason="income from wages not declared"))
        result = await handle.result()
    assert result.outcome == outcome
    if action == "recover":
        assert [(r.amount_fen, r.original_payment_id, r.decided_by) for r in fakes.recoveries] == [
            (180000, "pay-1", "approver-3")]
    else:
        assert fakes.recoveries == []
        assert "容错纠错" in fakes.transitions[-1].note and "approver-3" in fakes.transitions[-1].note
    assert [(d.decision, d.decided_by) for d in fakes.decisions] == [(action, "approver-3")]


# -- above the township's authority ---------------------------------------------------------------------

async def test_county_decision_is_validated_reminded_escalated_and_then_paid(env: WorkflowEnvironment):
    fakes = FakeServices(amount=250000, decision="needs_county")
    async with Running(env, fakes) as handle:
        await at_stage(handle, "awaiting_county_decision")
        for bad, why in ((county(role="clerk"), "cannot decide"),
                         (county(approver="clerk-1"), "separation of duties"),
                         (county(person_id=RELATIVE), "conflict of interest"),
                         (county(region="6502"), "outside jurisdiction"),
                         (county(amount_fen=0), "positive amount")):
            await rejected(handle.execute_update(EmergencyReliefWorkflow.decide, bad), why)
        await env.sleep(timedelta(hours=25))
        await until(lambda: "reminder" in fakes.transitions[-1].note)
        await env.sleep(timedelta(hours=24))
        await until(lambda: fakes.transitions[-1].escalated)
        assert fakes.transitions[-1].escalated and fakes.transitions[-1].escalated_to == "prefecture"
        assert fakes.payments == []
        await handle.execute_update(EmergencyReliefWorkflow.decide, county())
        result = await handle.result()
    assert result.outcome == "paid"
    assert [(p.amount_fen, p.account) for p in fakes.payments] == [(250000, "county-fund:650102")]
    assert [(d.decision, d.decided_by, d.amount_fen) for d in fakes.decisions] == [("approved", "county-7", 250000)]
    assert fakes.tasks == [("open", "county_decision", "county_approver"), ("close", "county_decision", "approved")]


async def test_county_refusal_closes_the_case_unpaid(env: WorkflowEnvironment):
    fakes = FakeServices(amount=250000, decision="needs_county")
    async with Running(env, fakes) as handle:
        await at_stage(handle, "awaiting_county_decision")
        await handle.execute_update(EmergencyReliefWorkflow.decide, county(approve=False))
        result = await handle.result()
    assert result.outcome == "rejected" and fakes.payments == []


# -- the township reserve -------------------------------------------------------------------------------

async def test_payment_waits_for_the_reserve_and_resumes_on_the_top_up_signal(env: WorkflowEnvironment):
    fakes = FakeServices(amount=180000, reserve_short=1)
    async with Running(env, fakes) as handle:
        await at_stage(handle, "waiting_for_reserve")
        await handle.signal(act.SIGNAL_RESERVE_AVAILABLE)
        result = await handle.result()
    assert result.outcome == "paid"
    assert [p.idempotency_key for p in fakes.payments] == [f"{result.case_id}:1"] * 2  # same key: never twice


async def test_while_the_reserve_is_empty_the_county_may_pay_directly(env: WorkflowEnvironment):
    fakes = FakeServices(amount=180000, reserve_short=100)
    async with Running(env, fakes) as handle:
        await at_stage(handle, "waiting_for_reserve")
        await env.sleep(timedelta(hours=3))  # hourly retries, still short
        await until(lambda: len(fakes.payments) >= 4)
        await rejected(handle.execute_update(EmergencyReliefWorkflow.pay_from_county, CountyPayment(
            official="c-1", role="clerk", region="6501")), "cannot pay")
        await handle.execute_update(EmergencyReliefWorkflow.pay_from_county, CountyPayment(
            official="fin-1", role="finance", region="6501", reason="reserve exhausted"))
        result = await handle.result()
    assert result.outcome == "paid"
    accounts = [p.account for p in fakes.payments]
    assert accounts[-1] == "county-fund:650102" and set(accounts[:-1]) == {"township-reserve:650102001"}
    assert len(accounts) >= 4  # the first try and the hourly retries


# -- replay: recorded histories must replay on today's workflow code (non-determinism caught in CI) ------

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def test_recorded_histories_replay_without_nondeterminism(env: WorkflowEnvironment):
    """Every history in tests/histories was recorded from a released version (2026-11, 2026-12, ...) or
    today's; a change to live workflow logic that is not behind ``workflow.patched`` fails here. Record
    today's with DOUDI_RECORD_HISTORIES=<version> (docs/adr/0015-patch-lifecycle.md)."""
    if os.environ.get("DOUDI_RECORD_HISTORIES"):
        await _record_histories(env, os.environ["DOUDI_RECORD_HISTORIES"])
    files = sorted(HISTORIES.glob("emergency_relief-*.json"))
    assert any("-2026-11-" in f.name for f in files), "the first release's histories are missing"
    replayer = Replayer(workflows=[EmergencyReliefWorkflow], data_converter=pydantic_data_converter)
    for f in files:
        await replayer.replay_workflow(WorkflowHistory.from_json(f.stem, f.read_text()))


async def _record_histories(env: WorkflowEnvironment, version: str) -> None:
    async def documents_late(handle: WorkflowHandle) -> None:
        await at_stage(handle, "awaiting_documents")
        await env.sleep(timedelta(days=31))
        await handle.execute_update(EmergencyReliefWorkflow.submit_documents, docs())

    async def county_late(handle: WorkflowHandle) -> None:
        await at_stage(handle, "awaiting_county_decision")
        await env.sleep(timedelta(hours=50))
        await handle.execute_update(EmergencyReliefWorkflow.decide, county())

    async def recover(handle: WorkflowHandle) -> None:
        await at_stage(handle, "awaiting_documents")
        await handle.execute_update(EmergencyReliefWorkflow.submit_documents,
                                    docs(documents=[{"kind": "id_card", "reference": "id-1"}]))
        await at_stage(handle, "found_ineligible")
        await handle.execute_update(EmergencyReliefWorkflow.resolve_ineligible, IneligibleResolution(
            official="approver-3", role="township_approver", region="650102", action="recover", reason="r"))

    async def reserve(handle: WorkflowHandle) -> None:
        await at_stage(handle, "waiting_for_reserve")
        await handle.signal(act.SIGNAL_RESERVE_AVAILABLE)

    async def nothing(handle: WorkflowHandle) -> None:
        return None

    scenarios = {
        "paid": (FakeServices(amount=195000), nothing),
        "documents_late": (FakeServices(amount=180000, check_required=True), documents_late),
        "county_late": (FakeServices(amount=250000, decision="needs_county"), county_late),
        "recover": (FakeServices(amount=180000, check_required=True, eligible=False), recover),
        "reserve": (FakeServices(amount=180000, reserve_short=1), reserve),
    }
    for name, (fakes, drive) in scenarios.items():
        async with Running(env, fakes) as handle:
            await drive(handle)
            await handle.result()
            history = await handle.fetch_history()
        (HISTORIES / f"emergency_relief-{version}-{name}.json").write_text(history.to_json())
    async with Running(env, FakeServices(amount=195000), facts=registry_facts()) as handle:  # no look-up
        await handle.result()
        history = await handle.fetch_history()
    (HISTORIES / f"emergency_relief-{version}-paid_with_facts.json").write_text(history.to_json())
    hold = asyncio.Event()
    slow = FakeServices(amount=195000, payment_hold=hold)
    async with Running(env, slow, facts=registry_facts()) as handle:  # the approval shown meanwhile
        await until(lambda: slow.payments)
        await env.sleep(timedelta(seconds=11))
        await until(lambda: slow.stages() == ["assessed", "approved"])
        hold.set()
        await handle.result()
        history = await handle.fetch_history()
    (HISTORIES / f"emergency_relief-{version}-payment_slow.json").write_text(history.to_json())
    async with Running(env, FakeServices(amount=195000, payment_fails=True), facts=registry_facts()) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        history = await handle.fetch_history()
    (HISTORIES / f"emergency_relief-{version}-payment_failed.json").write_text(history.to_json())
