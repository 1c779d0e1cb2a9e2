"""Recorded histories and the patch lifecycle (docs/adr/0015-patch-lifecycle.md).

Every workflow type the worker registers and every ``workflow.patched`` / ``deprecate_patch`` id in
``workflows/`` has a history in ``tests/histories`` that CI replays on today's code: a change to a
running workflow's logic that is not behind a patch fails ``test_recorded_histories_replay``; a patch
(or a workflow type) no recorded history covers fails the two coverage tests below.

Record today's code with ``DOUDI_RECORD_HISTORIES=<version> pytest tests/unit -k "recorded or replay"``:
besides each pathway's own recordings (its test module), the scenarios here drive the branches those
do not reach (a committee and its staged plan, a caseworker's assessment, a condition waited for, the
township's confirmation, a quarter's remainder) and the types no pathway test records (the committee,
staged aid, batch subsidies, the stalled-case sweep). Files are named ``<type>-<version>-<scenario>.json``.
"""

from __future__ import annotations

import ast
import base64
import importlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_VERIFICATION, TASK_QUEUE_WORKFLOWS
from shared.contracts import activities as act
from tests.support import wait_for
from workflows.stalled_sweep import (
    SWEEP_ACTIVITY,
    TASK_QUEUE_OPERATIONS,
    StalledCaseSweepLoopWorkflow,
    StalledCaseSweepWorkflow,
    SweepInput,
    SweepLoopInput,
    SweepSummary,
)

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "histories"
WORKFLOW_CODE = ROOT / "workflows"
# ``_since`` is ``workflow.patched`` for a case begun before its pathway consolidated its patches (common.py)
PATCH_CALLS = ("patched", "deprecate_patch", "_since")
# the file-name prefix of each workflow type's histories
PREFIX = {"EmergencyRelief": "emergency_relief", "OneOffAssistance": "one_off", "Renewal": "renewal",
          "BenefitCycle": "benefit_cycle", "OneMatterOneDiscussion": "one_matter", "StagedAid": "staged_aid",
          "BatchSubsidy": "batch_subsidy", "StalledCaseSweep": "stalled_sweep",
          "StalledCaseSweepLoop": "stalled_sweep_loop", "Reconsideration": "reconsideration", "Complaint": "complaint",
          # the straight-through lane (docs/adr/0021), recorded by tests/unit/test_emergency_relief_lane.py
          "EmergencyReliefLane": "emergency_relief_lane", "EmergencyReliefSettled": "emergency_relief_settled"}


# -- what the code patches and what the histories carry ------------------------------------------------

def patch_ids_in(source: str, resolve: Callable[[str], Any]) -> dict[str, int]:
    """The ids of every ``workflow.patched(...)`` / ``workflow.deprecate_patch(...)`` call in a module's
    source, with the line of its first use: a literal, or a name ``resolve`` looks up in the module."""
    found: dict[str, int] = {}
    tree = ast.parse(source)
    # the wrappers themselves (``CaseSteps._since``) pass their caller's id on: their callers are scanned
    wrappers = {id(call) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef) and fn.name in PATCH_CALLS
                for call in ast.walk(fn) if isinstance(call, ast.Call)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in PATCH_CALLS and node.args) or id(node) in wrappers:
            continue
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            patch_id = arg.value
        elif isinstance(arg, ast.Name) and isinstance(resolve(arg.id), str):
            patch_id = resolve(arg.id)
        else:
            raise AssertionError(f"line {node.lineno}: a patch id must be a string or a module constant "
                                 f"naming one, not {ast.unparse(arg)}")
        found.setdefault(patch_id, node.lineno)
    return found


def patch_ids_in_code() -> dict[str, str]:
    """Every patch id in workflows/, with where it is used (``path:line``)."""
    ids: dict[str, str] = {}
    for path in sorted(WORKFLOW_CODE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if not any(f"{call}(" in source for call in PATCH_CALLS):
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for patch_id, line in patch_ids_in(source, vars(module).get).items():
            ids.setdefault(patch_id, f"{path.relative_to(ROOT)}:{line}")
    return ids


def patch_markers(history: dict[str, Any]) -> set[str]:
    """The patch ids a history recorded (``core_patch`` markers: ``{"id": ..., "deprecated": ...}``)."""
    ids = set()
    for event in history["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker is None or marker.get("markerName") != "core_patch":
            continue
        for payload in marker["details"]["patch-data"]["payloads"]:
            ids.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return ids


def workflow_type(history: dict[str, Any]) -> str:
    return str(history["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"])


def recorded() -> dict[Path, dict[str, Any]]:
    return {f: json.loads(f.read_text(encoding="utf-8")) for f in sorted(HISTORIES.glob("*.json"))}


def registered_workflows() -> list[type]:
    """Every workflow class a worker runs, on every task queue a pathway polls (workflows/registry.py)."""
    from workflows import registry
    queues = dict.fromkeys([TASK_QUEUE_WORKFLOWS, *registry.task_queues()])
    return list(dict.fromkeys(w for q in queues for w in registry.workflows(q)))


def type_name(cls: type) -> str:
    defn = workflow._Definition.must_from_class(cls)
    assert defn.name is not None
    return defn.name


def uncovered_patches(code: dict[str, str], histories: dict[Path, dict[str, Any]]) -> dict[str, str]:
    covered = set().union(*(patch_markers(h) for h in histories.values()))
    return {patch_id: where for patch_id, where in code.items() if patch_id not in covered}


# -- the checks CI runs -------------------------------------------------------------------------------

def test_every_patch_in_the_workflows_has_a_recorded_history() -> None:
    code = patch_ids_in_code()
    assert code, "no patch found in workflows/: the scan is broken"
    missing = uncovered_patches(code, recorded())
    assert not missing, (
        f"patches no recorded history covers: {missing}. Drive the patched branch in a recording scenario "
        "(tests/unit/test_recorded_histories.py) and record: DOUDI_RECORD_HISTORIES=<version> "
        "pytest tests/unit -k 'recorded or replay'")


def test_every_workflow_type_the_worker_registers_has_a_recorded_history() -> None:
    types = {workflow_type(h) for h in recorded().values()}
    missing = sorted(name for name in map(type_name, registered_workflows()) if name not in types)
    assert not missing, f"workflow types without a recorded history: {missing}"
    for f, h in recorded().items():  # and each file is named by its type, so that a glob finds it
        assert f.name.startswith(PREFIX[workflow_type(h)] + "-"), f"{f.name} records {workflow_type(h)}"


def test_each_retired_history_says_why_it_was_retired() -> None:
    """Histories no longer replayed (tests/histories/retired) are named, with the reason, in its README."""
    retired = HISTORIES / "retired"
    readme = (retired / "README.md").read_text(encoding="utf-8")
    unexplained = [f.name for f in sorted(retired.glob("*.json")) if f"`{f.name}`" not in readme]
    assert not unexplained, f"retired without a reason in {retired / 'README.md'}: {unexplained}"


def test_the_check_names_a_patch_no_history_carries(tmp_path: Path) -> None:
    """The check itself: a new ``patched`` id, literal or constant, that no history carries is reported
    with its place; one a history carries is not."""
    source = ('NEW = "a-new-patch"\nif workflow.patched(NEW):\n    pass\n'
              'workflow.deprecate_patch("renewal-standard-follows")\n')
    constants: dict[str, Any] = {"NEW": "a-new-patch"}
    code = {i: f"new.py:{line}" for i, line in patch_ids_in(source, constants.get).items()}
    assert code == {"a-new-patch": "new.py:2", "renewal-standard-follows": "new.py:4"}
    assert uncovered_patches(code, recorded()) == {"a-new-patch": "new.py:2"}
    with pytest.raises(AssertionError, match="module constant"):
        patch_ids_in("workflow.patched(ids[0])", dict[str, Any]().get)


async def test_recorded_histories_replay(env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Every recorded history replays on today's workflow code (the worker's own set of workflows)."""
    if os.environ.get("DOUDI_RECORD_HISTORIES"):
        await record(env, tmp_path, monkeypatch, os.environ["DOUDI_RECORD_HISTORIES"])
    histories = recorded()
    assert histories, "no recorded histories"
    replayer = Replayer(workflows=registered_workflows(), data_converter=pydantic_data_converter)
    for f in histories:
        await replayer.replay_workflow(WorkflowHistory.from_json(f.stem, f.read_text(encoding="utf-8")))


# -- recording: the scenarios that drive each patched branch and each type -----------------------------

@dataclass
class Recording:
    env: WorkflowEnvironment
    version: str

    async def save(self, prefix: str, scenario: str, handle: WorkflowHandle | str) -> None:
        if isinstance(handle, str):
            handle = self.env.client.get_workflow_handle(handle)
        history = await handle.fetch_history()
        (HISTORIES / f"{prefix}-{self.version}-{scenario}.json").write_text(history.to_json(), encoding="utf-8")


async def record(env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    rec = Recording(env, version)
    for scenario in (committee_and_staged_plan, disaster_assessed_by_a_caseworker, one_off_waits_for_condition,
                     one_off_assessed_by_a_caseworker, one_off_escalated_to_the_committee):
        await scenario(rec)
    await renewal_enrolments(rec, tmp_path, monkeypatch)
    await staged_aid_from_the_policy(rec)
    await batch_paused_and_resumed(rec)
    await stalled_sweep(rec)
    await stalled_sweep_loop(rec)


async def child(env: WorkflowEnvironment, workflow_id: str, query: Any, stage: str) -> WorkflowHandle:
    handle = env.client.get_workflow_handle(workflow_id)

    async def probe() -> bool:
        try:
            return bool(await handle.query(query) == stage)
        except Exception:  # not started yet
            return False
    await wait_for(probe, timeout=20)
    return handle


async def committee_decides(env: WorkflowEnvironment, matter_id: str, region: str, amount: int,
                            plan: list[dict[str, Any]] | None = None) -> None:
    from workflows.one_matter.inputs import CommitteeDecision, Opinion
    from workflows.one_matter.workflow import OneMatterWorkflow
    matter = await child(env, matter_id, OneMatterWorkflow.stage, "dossier_assembled")
    for member in ("m-finance", "m-health"):
        await matter.execute_update(OneMatterWorkflow.opinion, Opinion(
            member_id=member, role="committee", region=region, vote="approve", amount_fen=amount, reason="重大困难"))
    await matter.execute_update(OneMatterWorkflow.decide, CommitteeDecision(
        member_id="m-civil", role="committee", region=region, approve=True, amount_fen=amount,
        plan=plan or [], reason="一事一议"))


async def committee_and_staged_plan(rec: Recording) -> None:
    """Emergency relief above the committee threshold (emergency-relief-committee): one matter, one
    discussion (one-matter-authority) decides a staged plan, which runs as its own StagedAid case."""
    from tests.unit.test_emergency_relief_workflow import FakeServices, Running
    from tests.unit.test_one_matter_workflow import ROSTER
    fakes = FakeServices(amount=1_200_000, committee=ROSTER)
    async with Running(rec.env, fakes) as handle:
        today = (await rec.env.get_current_time()).date()
        plan = [{"number": n, "due_on": (today + timedelta(days=30 * (n - 1))).isoformat(), "amount_fen": 600_000}
                for n in (1, 2)]
        await committee_decides(rec.env, f"om-{handle.id}", "650102", 1_200_000, plan)
        result = await handle.result()
        assert result.outcome == "staged_plan" and [p.amount_fen for p in fakes.payments] == [600_000, 600_000]
        await rec.save("emergency_relief", "committee_staged_plan", handle)
        await rec.save("one_matter", "emergency_relief_staged_plan", f"om-{handle.id}")
        await rec.save("staged_aid", "committee_plan", f"sa-{handle.id}")


async def disaster_assessed_by_a_caseworker(rec: Recording) -> None:
    """A disaster outside Ningxia: the policy fixes no amount (emergency-relief-caseworker-assessment);
    the caseworker assesses it, the tier approves, the documents follow, the event is confirmed."""
    from tests.unit.test_emergency_relief_workflow import PERSON, FakeServices, at_stage, docs
    from workflows.assessment import AssessmentSubmitted
    from workflows.emergency_relief.inputs import EmergencyReliefInput
    from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
    from workflows.policy import evaluate_entitlement
    fakes = FakeServices(amount=0)
    acts = fakes.activities()
    acts["wf"] = [a for a in acts["wf"] if activity._Definition.must_from_callable(a).name
                  != "policy.evaluate_entitlement"] + [evaluate_entitlement]  # the real policy
    queue = f"wf-{uuid.uuid4()}"
    async with Workers(rec.env, {queue: acts.pop("wf"), **acts}, queue):
        case_id = f"em-{uuid.uuid4().hex[:8]}"
        handle = await rec.env.client.start_workflow(EmergencyReliefWorkflow.run, EmergencyReliefInput(
            case_id=case_id, trigger="disaster", person_id=PERSON, region_code="650102001",
            business_date=date(2022, 8, 1), cause_event_id="evt-flood", measure="disaster_assistance"),
            id=case_id, task_queue=queue)
        await at_stage(handle, "awaiting_assessment")
        await handle.execute_update(EmergencyReliefWorkflow.assess, AssessmentSubmitted(
            official="clerk-2", role="clerk", region="6501", amount_fen=120000, reason="房屋受损，口粮被冲毁"))
        await at_stage(handle, "awaiting_documents")
        await handle.execute_update(EmergencyReliefWorkflow.submit_documents, docs(
            documents=[{"kind": "disaster_certificate", "reference": "受灾证明-1"}]))
        assert (await handle.result()).outcome == "confirmed"
        await rec.save("emergency_relief", "disaster_assessed", handle)


async def one_off_waits_for_condition(rec: Recording) -> None:
    """A job loss reported before its three months are complete waits for them (one-off-waits-for-condition)."""
    from tests.unit.test_one_off_workflow import APPLICATION, Fakes, at_stage, start, stop
    fakes, workers = Fakes(categories=["low_income_db"]), list[Worker]()
    eligible_on = (await rec.env.get_current_time() + timedelta(days=40)).date()
    try:
        handle = await start(rec.env, fakes, workers, application=APPLICATION, eligible_on=eligible_on)
        await at_stage(handle, "waiting_for_condition")
        assert (await handle.result()).outcome == "paid"
        await rec.save("one_off", "waited_for_condition", handle)
    finally:
        await stop(workers)


async def one_off_assessed_by_a_caseworker(rec: Recording) -> None:
    """Xinjiang's job-loss aid fixes no amount (one-off-caseworker-assessment): assessed, then approved."""
    from tests.unit.test_one_off_workflow import APPLICATION, Fakes, at_stage, start, stop
    from workflows.assessment import AssessmentSubmitted
    from workflows.one_off_assistance.workflow import OneOffAssistanceWorkflow
    fakes, workers = Fakes(categories=[]), list[Worker]()
    try:
        handle = await start(rec.env, fakes, workers, region_code="650102", application=APPLICATION)
        await at_stage(handle, "awaiting_assessment")
        await handle.execute_update(OneOffAssistanceWorkflow.assess, AssessmentSubmitted(
            official="clerk-2", role="clerk", region="6501", amount_fen=150000, reason="三个月无收入"))
        assert (await handle.result()).outcome == "paid"
        await rec.save("one_off", "caseworker_assessed", handle)
    finally:
        await stop(workers)


async def one_off_escalated_to_the_committee(rec: Recording) -> None:
    """A decision above the county's cap sends the case up to the committee (one-off-escalation)."""
    from tests.unit.test_one_off_workflow import APPLICATION, Fakes, at_stage, start, stop
    from workflows.one_off_assistance.inputs import Escalation
    from workflows.one_off_assistance.workflow import OneOffAssistanceWorkflow
    fakes, workers = Fakes(categories=[]), list[Worker]()
    try:
        handle = await start(rec.env, fakes, workers, application=APPLICATION)
        await at_stage(handle, "awaiting_approval")
        await handle.execute_update(OneOffAssistanceWorkflow.escalate, Escalation(
            official="county-ma", role="county_approver", region="6401",
            reason="decision above the delegated limit: 1000001 fen"))
        await committee_decides(rec.env, f"om-{handle.id}", "640104", 1_000_001)
        assert (await handle.result()).outcome == "paid"
        await rec.save("one_off", "escalated_to_committee", handle)
        await rec.save("one_matter", "one_off_escalated", f"om-{handle.id}")
    finally:
        await stop(workers)


class Workers:
    """Workers for a scenario: the workflow queue's and each service queue's fakes."""

    def __init__(self, env: WorkflowEnvironment, by_queue: dict[str, list[Any]], workflow_queue: str,
                 workflows: list[type] | None = None) -> None:
        from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
        from workflows.one_matter.workflow import OneMatterWorkflow
        from workflows.staged_aid.workflow import StagedAidWorkflow
        wfs = workflows or [EmergencyReliefWorkflow, OneMatterWorkflow, StagedAidWorkflow]
        self.workers = [Worker(env.client, task_queue=q, activities=a, workflows=wfs if q == workflow_queue else [])
                        for q, a in by_queue.items()]

    async def __aenter__(self) -> Workers:
        for w in self.workers:
            await w.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for w in reversed(self.workers):
            await w.__aexit__(*exc)


def enrolment_services() -> list[Any]:
    """What a dibao enrolment asks of verification and approval besides the renewal fakes: an eligible
    check, the confirmation task, the decision record."""
    @activity.defn(name=act.CHECK_ECONOMIC_STATUS)
    async def check(req: act.EconomicCheckRequest) -> act.EconomicCheckResult:
        return act.EconomicCheckResult(check_id=req.check_id, outcome="eligible", per_capita_income_fen=15000,
                                       limit_fen_per_capita=65000, reasons=["under the standard"], evidence=[],
                                       sources=[])

    @activity.defn(name=act.OPEN_TASK)
    async def open_task(task: act.TaskOpen) -> str:
        return task.kind

    @activity.defn(name=act.CLOSE_TASK)
    async def close_task(task: act.TaskClose) -> None:
        return None

    @activity.defn(name=act.RECORD_DECISION)
    async def record_decision(rec: act.DecisionRecord) -> None:
        return None

    return [check, open_task, close_task, record_decision]


async def renewal_enrolments(rec: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dibao enrolments at the one window, handed back to the cycle after their first payment: in Yinchuan the
    township's approver confirms (renewal-township-confirms, Ningxia seed 002 item 14); in Xiji (a fixture
    that pays rural dibao quarterly) an enrolment in a quarter's second month is paid that month and the
    next at once (renewal-quarter-remainder, seed 003)."""
    from tests.unit.test_renewal_workflow import Fakes, Renewal, household
    from tests.unit.test_standards import local_packs
    from workflows.enrolment_duties.inputs import HomeVisitFindings
    from workflows.one_off_assistance.inputs import ApproverDecision
    from workflows.renewal.inputs import EnrolmentApplication, Member
    from workflows.renewal.workflow import RenewalWorkflow
    local_packs(tmp_path, monkeypatch, "test-xiji-rural-quarterly.yaml")
    rural = household(members=[Member(person_id="640422198001010011"), Member(person_id="640422198201010022")],
                      monthly_income_fen=30000, urban=False)
    for scenario, region, role, over, level in (
            ("township_confirms", "640104", "township_approver", {}, 105000),  # (65000 - 30000) x 3
            ("quarter_remainder", "640422", "county_approver",
             {"household": rural, "first_period": "2022-08", "rural_quarterly": True}, 62000)):  # 2 x 46000 - 30000
        fakes = Fakes(region=region)
        application = EnrolmentApplication(application_id=f"app-{scenario}", registered_by="clerk-1", role="clerk",
                                           region=region[:4], consent=True)
        extra = [Worker(rec.env.client, task_queue=TASK_QUEUE_VERIFICATION, activities=enrolment_services()[:1]),
                 Worker(rec.env.client, task_queue=TASK_QUEUE_APPROVAL, activities=enrolment_services()[1:])]
        for w in extra:
            await w.__aenter__()
        try:
            async with Renewal(rec.env, fakes, household_id=f"hh-{scenario}", hand_back=True,
                               application=application, **over) as handle:
                async def visiting(h: WorkflowHandle = handle) -> bool:
                    return bool(await h.query(RenewalWorkflow.stage) == "awaiting_home_visit")
                await wait_for(visiting, timeout=20)
                # the enrolment duties (enrolment-duties): an undisputed visit recorded a month after the
                # fact, so its public notice has run its period (Ningxia: no appraisal, seed 002)
                visited_on = (await rec.env.get_current_time()).date() - timedelta(days=30)
                await handle.execute_update(RenewalWorkflow.record_home_visit, HomeVisitFindings(
                    official="clerk-2", role="clerk", region=region[:4], visited_on=visited_on, disputed=False,
                    notes="无争议"))

                async def awaiting(h: WorkflowHandle = handle) -> bool:
                    return bool(await h.query(RenewalWorkflow.stage) == "awaiting_approval")
                await wait_for(awaiting, timeout=20)
                await handle.execute_update(RenewalWorkflow.decide, ApproverDecision(
                    approver="approver-1", role=role, region=region[:6], approve=True,
                    amount_fen=level))
                result = await handle.result()
                assert result.outcome == "handed_back", result
                await rec.save("renewal", scenario, handle)
        finally:
            for w in reversed(extra):
                await w.__aexit__(None, None, None)


async def staged_aid_from_the_policy(rec: Recording) -> None:
    """Ningxia's one-time living subsidy in three installments from the pack (seed 002), the second paused
    and resumed, the third adjusted down."""
    from tests.unit.test_staged_aid_workflow import Fakes, Plan, change, month_starts
    from workflows.staged_aid.workflow import StagedAidWorkflow
    fakes = Fakes()
    async with Plan(rec.env, fakes, plan=await month_starts(rec.env)) as handle:
        async def waiting() -> bool:
            return bool(await handle.query(StagedAidWorkflow.stage) == "waiting")
        await wait_for(waiting, timeout=20)
        await handle.execute_update(StagedAidWorkflow.change, change("pause"))
        await handle.execute_update(StagedAidWorkflow.change, change("adjust", amounts={3: 10000}))
        await handle.execute_update(StagedAidWorkflow.change, change("resume"))
        assert (await handle.result()).paid_fen == 50000  # 20000 + 20000 + 10000
        await rec.save("staged_aid", "paused_adjusted", handle)


async def batch_paused_and_resumed(rec: Recording) -> None:
    """A region's batch subsidy: two installments at month starts, paused and resumed between them."""
    from tests.unit.test_batch_workflow import Batch, Fakes, control
    from tests.unit.test_batch_workflow import month_starts as batch_month_starts
    from workflows.batch_subsidy.workflow import BatchSubsidyWorkflow
    fakes = Fakes(installments=await batch_month_starts(rec.env, 2), chunks=2)
    async with Batch(rec.env, fakes) as handle:
        first = fakes.installments[0].due_at
        assert first is not None
        await rec.env.sleep(first - await rec.env.get_current_time() + timedelta(hours=2))

        async def first_paid() -> bool:
            return len(fakes.paid) == fakes.chunks
        await wait_for(first_paid, timeout=20, interval=0.05)
        await handle.execute_update(BatchSubsidyWorkflow.control, control("pause"))
        await handle.execute_update(BatchSubsidyWorkflow.control, control("resume"))
        assert (await handle.result()).outcome == "completed"
        await rec.save("batch_subsidy", "paused_resumed", handle)


async def stalled_sweep(rec: Recording) -> None:
    """One run of the stalled-case sweep (a Schedule starts it every minute)."""
    @activity.defn(name=SWEEP_ACTIVITY)
    async def sweep(_: SweepInput) -> SweepSummary:
        return SweepSummary(checked=3, stalled=["em-stalled"], recovered=[])

    queue = f"wf-{uuid.uuid4()}"
    async with Worker(rec.env.client, task_queue=queue, workflows=[StalledCaseSweepWorkflow]), \
            Worker(rec.env.client, task_queue=TASK_QUEUE_OPERATIONS, activities=[sweep]):
        handle = await rec.env.client.start_workflow(StalledCaseSweepWorkflow.run, SweepInput(),
                                                     id=f"sweep-{uuid.uuid4()}", task_queue=queue)
        assert (await handle.result()).stalled == ["em-stalled"]
        await rec.save("stalled_sweep", "swept", handle)


async def stalled_sweep_loop(rec: Recording) -> None:
    """One run of the sweep's long-lived loop: two sweeps a minute apart, then continue-as-new."""
    @activity.defn(name=SWEEP_ACTIVITY)
    async def sweep(_: SweepInput) -> SweepSummary:
        return SweepSummary(checked=3, stalled=["em-stalled"], recovered=[])

    queue = f"wf-{uuid.uuid4()}"
    async with Worker(rec.env.client, task_queue=queue, workflows=[StalledCaseSweepLoopWorkflow]), \
            Worker(rec.env.client, task_queue=TASK_QUEUE_OPERATIONS, activities=[sweep]):
        handle = await rec.env.client.start_workflow(
            StalledCaseSweepLoopWorkflow.run, SweepLoopInput(every_seconds=60, sweeps_per_run=2),
            id=f"sweep-loop-{uuid.uuid4()}", task_queue=queue)
        first = rec.env.client.get_workflow_handle(handle.id, run_id=handle.result_run_id)

        async def continued() -> bool:
            await rec.env.sleep(timedelta(minutes=1))
            return (await first.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        await wait_for(continued, timeout=60)
        await rec.save("stalled_sweep_loop", "continued", first)
        await handle.terminate("recorded")

