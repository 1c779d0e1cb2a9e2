"""The duties before a dibao enrolment is confirmed (workflows/enrolment_duties), on the time-skipping
server: home visit, democratic appraisal where disputed (or always, the national default), public notice
with objections, deadlines with a reminder and an escalation. The renewal's fakes stand in for intake and
payment (tests/unit/test_renewal_workflow.py); approval's and verification's are here.

Figures (by hand from the packs): Ningxia, seed 002 「对没有争议的救助申请家庭或个人，不再进行民主评议」
(democratic_appraisal_when_undisputed false, in force 2022-06-07..2023-12-31); national LOCAL PRACTICE:
public notice 7 days, home visit and appraisal due in 10 days, reminder 2 days before, an appraisal for
every application.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_VERIFICATION
from shared.contracts import activities as act
from shared.contracts import duties
from tests.support import skip_time, wait_for
from tests.unit.fakes import recording_activities
from tests.unit.test_renewal_workflow import Fakes, Renewal
from workflows.enrolment_duties.inputs import AppraisalRecord, HomeVisitFindings, Objection
from workflows.enrolment_duties.steps import BEIJING
from workflows.one_off_assistance.inputs import ApproverDecision
from workflows.renewal.inputs import EnrolmentApplication
from workflows.renewal.workflow import RenewalWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
LEVEL = 105000  # Ningxia 650 yuan urban standard, household of 3 with 900 yuan: (65000 - 30000) x 3


def services(fakes: Fakes) -> list[Any]:
    """Verification (an eligible check) and approval (tasks and decisions, recorded in ``fakes``)."""
    @activity.defn(name=act.CHECK_ECONOMIC_STATUS)
    async def check(req: act.EconomicCheckRequest) -> act.EconomicCheckResult:
        return act.EconomicCheckResult(check_id=req.check_id, outcome="eligible", per_capita_income_fen=30000,
                                       limit_fen_per_capita=65000, reasons=["under the standard"], evidence=[],
                                       sources=[])
    shared = recording_activities(fakes)
    return [check, [shared["open_task"], shared["close_task"], shared["record_decision"]]]


@asynccontextmanager
async def enrolment(env: WorkflowEnvironment, fakes: Fakes, **over: Any) -> AsyncIterator[WorkflowHandle]:
    check, approval = services(fakes)
    extra = [Worker(env.client, task_queue=TASK_QUEUE_VERIFICATION, activities=[check]),
             Worker(env.client, task_queue=TASK_QUEUE_APPROVAL, activities=approval)]
    for w in extra:
        await w.__aenter__()
    try:
        application = EnrolmentApplication(application_id="app-duties", registered_by="clerk-1", role="clerk",
                                           region="6401", consent=True)
        async with Renewal(env, fakes, household_id="hh-duties", hand_back=True, application=application,
                           **over) as handle:
            yield handle
    finally:
        for w in reversed(extra):
            await w.__aexit__(None, None, None)


async def at_stage(handle: WorkflowHandle, stage: str) -> None:
    async def probe() -> bool:
        return bool(await handle.query(RenewalWorkflow.stage) == stage)
    await wait_for(probe, timeout=20, interval=0.02)


async def today(env: WorkflowEnvironment) -> date:
    return (await env.get_current_time()).astimezone(BEIJING).date()


def visit(on: date, *, disputed: bool, official: str = "clerk-2") -> HomeVisitFindings:
    return HomeVisitFindings(official=official, role="clerk", region="6401", visited_on=on, disputed=disputed,
                             notes="住房简陋，无大额存款" + ("；邻居反映有经营收入" if disputed else ""))


def appraisal(on: date) -> AppraisalRecord:
    return AppraisalRecord(official="tsp-1", role="township_approver", region="640104", held_on=on,
                           participants=["村委会主任", "村民代表甲", "村民代表乙"], outcome="supported",
                           minutes="评议认为经营收入系临时零工，同意纳入")


async def confirm_and_close(handle: WorkflowHandle) -> None:
    await at_stage(handle, "awaiting_approval")
    await handle.execute_update(RenewalWorkflow.decide, ApproverDecision(
        approver="tsp-2", role="township_approver", region="640104", approve=True, amount_fen=LEVEL))
    assert (await handle.result()).outcome == "handed_back"


async def refused(update: Any, arg: Any, handle: WorkflowHandle, match: str) -> None:
    """The workflow's validator refuses the update, saying why."""
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    assert match in str(err.value.cause), err.value.cause


def task_kinds(fakes: Fakes, what: str) -> list[str]:
    return [kind for op, kind, _ in fakes.tasks if op == what]


async def test_an_undisputed_ningxia_application_skips_the_appraisal_and_a_clean_notice_confirms(
        env: WorkflowEnvironment):
    fakes = Fakes()
    async with enrolment(env, fakes) as handle:
        await at_stage(handle, "awaiting_home_visit")
        assert task_kinds(fakes, "open") == ["home_visit"]
        day = await today(env)
        await handle.execute_update(RenewalWorkflow.record_home_visit, visit(day, disputed=False))
        await at_stage(handle, "public_notice")
        # the notice runs 7 whole days from the visit (national LOCAL PRACTICE): not over after 6
        await env.sleep(timedelta(days=6))
        assert await handle.query(RenewalWorkflow.stage) == "public_notice"
        await env.sleep(timedelta(days=2))
        await confirm_and_close(handle)
    stages = fakes.stages()
    assert "appraisal_skipped" in stages and "awaiting_democratic_appraisal" not in stages
    skipped = next(t for t in fakes.transitions if t.stage == "appraisal_skipped")
    assert "不再进行民主评议" in skipped.note  # seed 002's rule, cited
    assert stages.index("notice_clean") < stages.index("awaiting_approval")
    assert task_kinds(fakes, "open") == ["home_visit", "approval"]
    posted, closed = fakes.notices
    assert isinstance(posted, duties.PublicNoticePost) and isinstance(closed, duties.PublicNoticeClose)
    assert (posted.posted_on, posted.household_size, posted.monthly_amount_fen) == (day, 3, LEVEL)
    assert posted.ends_at == datetime.combine(day + timedelta(days=7), datetime.min.time(), tzinfo=BEIJING)
    assert closed.outcome == "clean" and [d.decision for d in fakes.decisions] == ["approved"]


async def test_a_disputed_application_holds_a_recorded_appraisal_before_the_notice(env: WorkflowEnvironment):
    fakes = Fakes()
    async with enrolment(env, fakes) as handle:
        await at_stage(handle, "awaiting_home_visit")
        day = await today(env)
        await handle.execute_update(RenewalWorkflow.record_home_visit, visit(day, disputed=True))
        await at_stage(handle, "awaiting_democratic_appraisal")
        assert ("open", "democratic_appraisal", "township_approver") in fakes.tasks
        await refused(RenewalWorkflow.record_appraisal, appraisal(day).model_copy(update={"role": "finance"}),
                      handle, "cannot record a democratic appraisal")
        await handle.execute_update(RenewalWorkflow.record_appraisal, appraisal(day))
        await at_stage(handle, "public_notice")
        view = await handle.query(RenewalWorkflow.duties)
        assert view is not None and view.step == "public_notice"
        [r] = view.rounds
        assert r.appraisal is not None and r.appraisal.participants == ["村委会主任", "村民代表甲", "村民代表乙"]
        await env.sleep(timedelta(days=8))
        await confirm_and_close(handle)
    appraised = next(t for t in fakes.transitions if t.stage == "appraised")
    assert "supported" in appraised.note and "评议认为经营收入系临时零工" in appraised.note
    assert ("close", "democratic_appraisal", "supported") in fakes.tasks


async def test_an_objection_during_the_notice_reopens_the_check(env: WorkflowEnvironment):
    fakes = Fakes()
    async with enrolment(env, fakes) as handle:
        await at_stage(handle, "awaiting_home_visit")
        day = await today(env)
        await handle.execute_update(RenewalWorkflow.record_home_visit, visit(day, disputed=False))
        await at_stage(handle, "public_notice")
        await env.sleep(timedelta(days=3))
        received = await today(env)
        await handle.execute_update(RenewalWorkflow.record_objection, Objection(
            official="clerk-2", role="clerk", region="6401", received_on=received, objector="村民丙",
            grounds="申请人有一辆营运货车"))
        # round 2: the home visit again, then an appraisal (an objection is a dispute), then a new notice
        await at_stage(handle, "awaiting_home_visit")
        assert "notice_objected" in fakes.stages()
        await refused(RenewalWorkflow.record_home_visit, visit(received - timedelta(days=1), disputed=False),
                      handle, "before")  # not a visit before the objection
        await handle.execute_update(RenewalWorkflow.record_home_visit, visit(received, disputed=False))
        await at_stage(handle, "awaiting_democratic_appraisal")
        await handle.execute_update(RenewalWorkflow.record_appraisal, appraisal(received))
        await at_stage(handle, "public_notice")
        await env.sleep(timedelta(days=8))
        await confirm_and_close(handle)
        view = await handle.query(RenewalWorkflow.duties)
    assert view is not None and [r.outcome for r in view.rounds] == ["reopened", "clean"]
    assert view.rounds[0].objections[0].grounds == "申请人有一辆营运货车"
    assert [n.outcome for n in fakes.notices if isinstance(n, duties.PublicNoticeClose)] == ["objected", "clean"]
    assert task_kinds(fakes, "open") == ["home_visit", "home_visit", "democratic_appraisal", "approval"]


async def test_an_objection_is_refused_once_the_notice_is_over_and_a_visit_cannot_be_dated_ahead(
        env: WorkflowEnvironment):
    fakes = Fakes()
    async with enrolment(env, fakes) as handle:
        await at_stage(handle, "awaiting_home_visit")
        day = await today(env)
        await refused(RenewalWorkflow.record_home_visit, visit(day + timedelta(days=1), disputed=False), handle,
                      "future")
        await refused(RenewalWorkflow.record_home_visit, visit(day, disputed=False).model_copy(
            update={"role": "finance"}), handle, "cannot record a home visit")
        # a visit recorded afterwards (paper records): the notice from that day has already run its period
        await handle.execute_update(RenewalWorkflow.record_home_visit, visit(day - timedelta(days=30),
                                                                             disputed=False))
        await at_stage(handle, "awaiting_approval")
        await refused(RenewalWorkflow.record_objection, Objection(
            official="clerk-2", role="clerk", region="6401", received_on=day, grounds="太晚了"), handle,
            "no public notice open")
        await confirm_and_close(handle)


async def test_outside_ningxias_notice_an_undisputed_application_is_appraised_too(env: WorkflowEnvironment):
    """After 2023-12-31 no Ningxia pack is in force: the national LOCAL PRACTICE default holds an appraisal
    for every application."""
    fakes = Fakes()
    async with enrolment(env, fakes, first_period="2024-07") as handle:
        await at_stage(handle, "awaiting_home_visit")
        day = await today(env)
        await handle.execute_update(RenewalWorkflow.record_home_visit, visit(day, disputed=False))
        await at_stage(handle, "awaiting_democratic_appraisal")
        await handle.terminate("test over")


async def test_a_home_visit_not_recorded_is_reminded_then_escalated_to_the_county(env: WorkflowEnvironment):
    fakes = Fakes()
    async with enrolment(env, fakes) as handle:
        await at_stage(handle, "awaiting_home_visit")
        due = next(t for t in fakes.transitions if t.stage == "awaiting_home_visit").deadlines
        assert [d["kind"] for d in due] == ["home_visit"]
        # 10 days, reminded 2 days before; a day at a time: the test server's one call to skip 8 days waits for
        # every timer's workflow task on the way, and timed out once on a loaded machine
        for _ in range(8):
            await skip_time(env, timedelta(days=1))
        await skip_time(env, timedelta(hours=1))

        async def reminded() -> bool:
            return any(t.note.startswith("reminder: home_visit") for t in fakes.transitions)
        await wait_for(reminded, timeout=20, interval=0.02)
        await skip_time(env, timedelta(days=2))
        await at_stage(handle, "home_visit_overdue")
        overdue = fakes.transitions[-1]
        assert overdue.escalated and overdue.escalated_to == "county" and "home_visit_overdue" in overdue.flags
        await handle.execute_update(RenewalWorkflow.record_home_visit, visit(await today(env), disputed=False))
        await at_stage(handle, "public_notice")
        assert "home_visit_overdue" not in fakes.transitions[-1].flags
        await handle.terminate("test over")


async def test_recorded_enrolment_duty_histories(env: WorkflowEnvironment):
    """With DOUDI_RECORD_HISTORIES=<version>: record the patched branch (enrolment-duties) for the replay
    test (tests/unit/test_recorded_histories.py): a Ningxia application visited undisputed (no appraisal),
    an objection during the notice, the check again with an appraisal, a clean notice, confirmed."""
    version = os.environ.get("DOUDI_RECORD_HISTORIES")
    if not version:
        return
    fakes = Fakes()
    async with enrolment(env, fakes) as handle:
        await at_stage(handle, "awaiting_home_visit")
        day = await today(env)
        await handle.execute_update(RenewalWorkflow.record_home_visit, visit(day, disputed=False))
        await at_stage(handle, "public_notice")
        await handle.execute_update(RenewalWorkflow.record_objection, Objection(
            official="clerk-2", role="clerk", region="6401", received_on=day, grounds="申请人有一辆营运货车"))
        await at_stage(handle, "awaiting_home_visit")
        await handle.execute_update(RenewalWorkflow.record_home_visit, visit(day, disputed=True))
        await at_stage(handle, "awaiting_democratic_appraisal")
        await handle.execute_update(RenewalWorkflow.record_appraisal, appraisal(day))
        await at_stage(handle, "public_notice")
        await env.sleep(timedelta(days=8))
        await confirm_and_close(handle)
        history = await handle.fetch_history()
    (HISTORIES / f"renewal-{version}-duties_objection_reopened.json").write_text(history.to_json(), encoding="utf-8")
