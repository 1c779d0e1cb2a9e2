"""The fakes the unit and middle-ring tests share: one harness instead of a copy per module.

* The bus: ``bus_under_test`` runs a service's real subscribers (``register``) on FastStream's in-memory
  ``TestNatsBroker``; ``DeadLetters`` is what reached ``doudi.dlq.>``; ``Settlements`` how each delivery
  ended (ack, or nak with its delay); ``FakeClaims``, ``RecordingCaseOpener`` and ``FakeTemporal`` stand in
  for intake's inbound-content table, its service layer and the Temporal client.
* The workflows: ``Recorded`` keeps what a workflow asked of the services, ``recording_activities`` gives
  the activity fakes every pathway shares (same names as the services' activities, samples-python style),
  and ``workers`` runs a workflow queue and the services' queues on the time-skipping environment.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, TypeVar

import asyncpg
import pytest
from fastapi import FastAPI
from faststream.nats import JStream, NatsBroker, TestNatsBroker
from faststream.nats.annotations import NatsMessage
from faststream.nats.testing import PatchedMessage
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from services.approval import store as approval_store
from services.approval.store import Official
from services.intake.store import HouseholdView
from shared.config import (
    TASK_QUEUE_APPROVAL,
    TASK_QUEUE_INTAKE,
    TASK_QUEUE_PAYMENT,
    TASK_QUEUE_VERIFICATION,
    get_settings,
)
from shared.contracts import activities as act
from shared.contracts.events import InboundEvent
from shared.infra.bus import STREAM_DLQ, _DoudiBroker
from shared.infra.outbox import Content
from shared.infra.process import Runtime, ServiceParts, finish_app
from shared.policy import Entitlement
from workflows.one_matter.limits import authority_limits_activity
from workflows.policy import EvaluateEntitlement, service_levels

# -- no database ---------------------------------------------------------------------------------------------


class _NoDatabase(asyncpg.Pool):
    """The pool of a ring without PostgreSQL: building a service's parts takes a pool; using it is a test bug."""

    def __init__(self) -> None:  # no connections, ever
        pass

    def acquire(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("this test runs without a database: fake the store it reached")


NO_DATABASE: asyncpg.Pool = _NoDatabase()


# -- the bus -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    subject: str
    body: bytes
    headers: dict[str, str]

    @property
    def kind(self) -> str:
        return self.headers["Doudi-Dlq-Kind"]

    @property
    def reason(self) -> str:
        return self.headers["Doudi-Dlq-Reason"]

    @property
    def event_id(self) -> str | None:
        return self.headers.get("Doudi-Event-Id")


@dataclass
class DeadLetters:
    """Every message published on ``doudi.dlq.>`` (the DLQ stream) while the broker is under test."""

    letters: list[DeadLetter] = field(default_factory=list)

    def listen(self, broker: NatsBroker) -> None:
        @broker.subscriber("doudi.dlq.>", stream=JStream(STREAM_DLQ, declare=False), title="test-dlq")
        async def received(msg: NatsMessage) -> None:
            raw = msg.raw_message
            self.letters.append(DeadLetter(raw.subject, raw.data, dict(raw.headers or {})))


@dataclass
class Settlements:
    """How each delivery ended: ``("ack", subject)`` or ``("nak", subject, delay)`` (the in-memory broker's
    messages settle as no-ops; ``settlements`` below records them)."""

    seen: list[tuple[Any, ...]] = field(default_factory=list)

    def acks(self, subject: str) -> int:
        return sum(1 for s in self.seen if s[0] == "ack" and s[1] == subject)

    def naks(self, subject: str) -> list[float | None]:
        return [s[2] for s in self.seen if s[0] == "nak" and s[1] == subject]


def record_settlements(monkeypatch: pytest.MonkeyPatch) -> Settlements:
    """Make the in-memory broker's ack and nak record into a ``Settlements`` (fixture ``settlements``)."""
    recorded = Settlements()

    async def ack(msg: PatchedMessage) -> None:
        recorded.seen.append(("ack", msg.subject))

    async def nak(msg: PatchedMessage, delay: float | None = None) -> None:
        recorded.seen.append(("nak", msg.subject, delay))

    monkeypatch.setattr(PatchedMessage, "ack", ack)
    monkeypatch.setattr(PatchedMessage, "nak", nak)
    return recorded


def delivery(n: int, stream: str = "DOUDI_EVENTS", consumer: str = "test") -> str:
    """The reply subject JetStream gives the ``n``-th delivery of a message (its metadata): publish with
    ``reply_to=delivery(n)`` and the in-memory broker's message says it was delivered ``n`` times."""
    return f"$JS.ACK.{stream}.{consumer}.{n}.1.1.1700000000000000000.0"


@asynccontextmanager
async def bus_under_test(register: Callable[[NatsBroker], None]) -> AsyncIterator[tuple[NatsBroker, DeadLetters]]:
    """A doudi broker with a service's subscribers (``register(broker)``) and a dead-letter listener, in
    memory: ``await broker.publish(body, subject)`` runs the subscriber that consumes ``subject``."""
    broker = _DoudiBroker()
    register(broker)
    dead = DeadLetters()
    dead.listen(broker)
    async with TestNatsBroker(broker) as under_test:
        yield under_test, dead


@dataclass
class FakeClaims:
    """Intake's ``inbound_content`` in memory: the digest each event id carried."""

    digests: dict[str, str] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)

    async def claim(self, event_id: str, subject: str, digest: str) -> Content:
        if event_id not in self.digests:
            self.digests[event_id] = digest
            return Content.NEW
        return Content.SAME if self.digests[event_id] == digest else Content.CONFLICT

    async def release(self, event_id: str) -> None:
        self.released.append(event_id)
        self.digests.pop(event_id, None)


@dataclass
class RecordingCaseOpener:
    """Intake's service layer: records each event handed to it; ``failures`` raise on the next calls."""

    accepted: list[tuple[str, str]] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)

    async def accept_event(self, event: InboundEvent, subject: str) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.accepted.append((event.id, subject))
        return f"case-{event.id}"


def handler_name(handler: Any) -> str:
    """The wire name of a workflow's update, query or signal handler (or the name itself)."""
    if isinstance(handler, str):
        return handler
    query = getattr(handler, "__temporal_query_definition", None)
    if query is not None:
        return str(query.name)
    return workflow._UpdateDefinition.get_name_and_result_type(handler)[0]


def workflow_type_name(workflow: type | str) -> str:
    if isinstance(workflow, str):
        return workflow
    return str(getattr(workflow, "__temporal_workflow_definition").name)


@dataclass
class FakeHandle:
    temporal: FakeTemporal
    workflow_id: str

    async def query(self, query: Any, *_: Any, **__: Any) -> Any:
        """A test's answer (as the query's typed result, for a typed query), else the started input."""
        answer = self.temporal.queries.get((self.workflow_id, handler_name(query)))
        if answer is not None:
            defn = None if isinstance(query, str) else workflow._QueryDefinition.from_fn(query)
            result = defn.ret_type if defn is not None else None
            if isinstance(result, type) and issubclass(result, BaseModel) and isinstance(answer, dict):
                return result.model_validate(answer)
            return answer
        if self.workflow_id not in self.temporal.started:
            raise RPCError(f"workflow {self.workflow_id} not found", RPCStatusCode.NOT_FOUND, b"")
        arg = self.temporal.started[self.workflow_id][1]
        request = getattr(arg, "request", arg)
        started = request.model_dump(mode="json") if isinstance(request, BaseModel) else request
        result = None if isinstance(query, str) else getattr(workflow._QueryDefinition.from_fn(query), "ret_type", None)
        if isinstance(result, type) and issubclass(result, BaseModel) and isinstance(started, dict):
            return result.model_validate(started)  # a typed query answers its model
        return started

    async def describe(self) -> Any:
        if self.workflow_id not in self.temporal.running:
            raise RPCError(f"workflow {self.workflow_id} not found", RPCStatusCode.NOT_FOUND, b"")
        return SimpleNamespace(id=self.workflow_id, workflow_type=self.temporal.running[self.workflow_id])

    async def execute_update(self, update: Any, arg: Any = None, *, id: str | None = None, **_: Any) -> Any:
        """Recorded (by name, with the JSON that goes on the wire) when the workflow runs and its validator
        accepts (``refusal`` None); else what the server answers."""
        if self.workflow_id not in self.temporal.running:
            raise RPCError(f"workflow {self.workflow_id} not found", RPCStatusCode.NOT_FOUND, b"")
        if self.temporal.refusal is not None:
            raise WorkflowUpdateFailedError(ApplicationError(self.temporal.refusal))
        wire = arg.model_dump(mode="json") if isinstance(arg, BaseModel) else arg
        self.temporal.updates.append((self.workflow_id, handler_name(update), wire))
        return None


@dataclass
class FakeTemporal:
    """A Temporal client's start_workflow (once per id, as the server's id reuse policy) and handles: the
    workflows running (id -> type), the updates they accepted, or the reason their validator gives
    (``refusal``), and what their queries answer."""

    started: dict[str, tuple[str, Any]] = field(default_factory=dict)
    running: dict[str, str] = field(default_factory=dict)
    updates: list[tuple[str, str, Any]] = field(default_factory=list)
    refusal: str | None = None
    queries: dict[tuple[str, str], Any] = field(default_factory=dict)  # (workflow id, query name) -> answer

    def run(self, workflow_id: str, workflow: type | str) -> None:
        """A workflow of this type runs under this id (its updates are accepted, its type described)."""
        self.running[workflow_id] = workflow_type_name(workflow)

    def answer(self, workflow_id: str, query: Any, value: Any) -> None:
        self.queries[(workflow_id, handler_name(query))] = value

    def sent(self, workflow_id: str) -> list[str]:
        """The updates ``workflow_id`` accepted, by name, in order."""
        return [update for wid, update, _ in self.updates if wid == workflow_id]

    async def start_workflow(self, workflow: Any, arg: Any, *, id: str, **_: Any) -> FakeHandle:
        name = workflow if isinstance(workflow, str) else getattr(workflow, "__name__", str(workflow))
        if id in self.started:
            raise WorkflowAlreadyStartedError(id, name)
        self.started[id] = (name, arg)
        return FakeHandle(self, id)

    def get_workflow_handle(self, workflow_id: str, **_: Any) -> FakeHandle:
        return FakeHandle(self, workflow_id)


@dataclass
class FakeIntake:
    """Intake's service layer as its routes use it: the registry's households, the cases' regions and the
    Temporal client updates go to (stores in memory; no SQL, no server)."""

    households: dict[str, HouseholdView] = field(default_factory=dict)
    case_regions: dict[str, str] = field(default_factory=dict)
    temporal: FakeTemporal = field(default_factory=FakeTemporal)

    async def household(self, household_id: str) -> HouseholdView | None:
        return self.households.get(household_id)

    async def case_region(self, case_id: str) -> str | None:
        return self.case_regions.get(case_id)


@dataclass
class FakeOfficials:
    """Approval's officials registry (``services/approval/store.py``) in memory; ``install`` puts it in the
    store module's place for the test."""

    officials: dict[str, Official] = field(default_factory=dict)

    def register(self, subject: str, person_id: str, role: str, jurisdiction: str = "") -> None:
        self.officials[subject] = Official(subject=subject, person_id=person_id, name=subject, roles=[role],
                                           jurisdiction=jurisdiction, active=True, registered_by="tests",
                                           updated_at=datetime(2022, 8, 1, tzinfo=UTC))

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeOfficials:
        async def find_official(owner: Any, subject: str) -> Official | None:  # owner: the store (or its pool)
            return self.officials.get(subject)

        store_class = getattr(approval_store, "ApprovalStore", None)
        monkeypatch.setattr(store_class or approval_store, "find_official", find_official)
        return self


@dataclass
class FakeReferences:
    """Verification's reference table (``ReferenceStore``) in memory: one record per source and person."""

    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    async def put(self, source: str, person_id: str, payload: dict[str, Any]) -> tuple[datetime, bool]:
        created = (source, person_id) not in self.rows
        loaded_at = datetime(2022, 8, 1, tzinfo=UTC)
        self.rows[(source, person_id)] = {"payload": payload, "loaded_at": loaded_at}
        return loaded_at, created

    async def get(self, source: str, person_id: str) -> dict[str, Any] | None:
        return self.rows.get((source, person_id))


def service_app(build: Callable[[Runtime], ServiceParts], name: str) -> FastAPI:
    """A service's app as ``serve`` makes it (its own ``build`` and the shared ``finish_app``: error answers,
    masking, body limits), without PostgreSQL, NATS or Temporal behind it: the test fakes what its routes
    reach (``app.state``, the store)."""
    runtime = Runtime(name=name, settings=get_settings(), pool=NO_DATABASE, broker=_DoudiBroker(),
                      temporal=FakeTemporal())  # type: ignore[arg-type]  # only what the routes under test use
    return finish_app(build(runtime).app, runtime)


# -- the workflows' services ----------------------------------------------------------------------------


@dataclass
class Recorded:
    """What a workflow asked of the services."""

    transitions: list[act.CaseTransition] = field(default_factory=list)
    payments: list[act.DisbursementRequest] = field(default_factory=list)
    opened: list[act.CaseOpen] = field(default_factory=list)
    decisions: list[act.DecisionRecord] = field(default_factory=list)
    tasks: list[tuple[str, str, str]] = field(default_factory=list)  # (open|close, kind, role or outcome)
    minutes: list[act.Minutes] = field(default_factory=list)
    settlements: list[act.EnrolmentSettlement] = field(default_factory=list)

    def stages(self) -> list[str]:
        return [t.stage for t in self.transitions]


def recording_activities(rec: Recorded, *, committee: Sequence[act.CommitteeMember] = ()) -> dict[str, Any]:
    """The activity fakes every pathway's tests share (intake's, approval's and payment's), by name. Every
    disburse call is recorded and paid at the activity's start (the time-skipping clock)."""

    @activity.defn(name=act.RECORD_CASE_TRANSITION)
    async def record_transition(t: act.CaseTransition) -> bool:
        rec.transitions.append(t)
        return True

    @activity.defn(name=act.RECORD_CASE_TRANSITIONS)
    async def record_transitions(batch: act.CaseTransitions) -> list[bool]:
        rec.transitions.extend(batch.transitions)
        return [True] * len(batch.transitions)

    @activity.defn(name=act.OPEN_CASE)
    async def open_case(c: act.CaseOpen) -> bool:
        rec.opened.append(c)
        return True

    @activity.defn(name=act.SETTLE_ENROLMENT)
    async def settle(s: act.EnrolmentSettlement) -> bool:
        rec.settlements.append(s)
        return True

    @activity.defn(name=act.RECORD_DECISION)
    async def record_decision(d: act.DecisionRecord) -> None:
        rec.decisions.append(d)

    @activity.defn(name=act.OPEN_TASK)
    async def open_task(task: act.TaskOpen) -> str:
        rec.tasks.append(("open", task.kind, task.role))
        return f"{task.case_id}:{task.kind}"

    @activity.defn(name=act.CLOSE_TASK)
    async def close_task(task: act.TaskClose) -> None:
        rec.tasks.append(("close", task.kind, task.outcome))

    @activity.defn(name=act.COMMITTEE_ROSTER)
    async def roster(req: act.RosterRequest) -> act.Roster:
        return act.Roster(county_code=req.region_code[:6], members=list(committee))

    @activity.defn(name=act.RECORD_MINUTES)
    async def record_minutes(m: act.Minutes) -> None:
        rec.minutes.append(m)

    @activity.defn(name=act.DISBURSE)
    async def disburse(req: act.DisbursementRequest) -> act.Disbursement:
        rec.payments.append(req)  # every call: a second request for one cause is a finding
        return act.Disbursement(payment_id=f"pay-{req.idempotency_key}", idempotency_key=req.idempotency_key,
                                amount_fen=req.amount_fen,
                                paid_at=activity.info().started_time)

    return {"record_transition": record_transition, "record_transitions": record_transitions,
            "open_case": open_case, "settle": settle,
            "record_decision": record_decision, "open_task": open_task, "close_task": close_task,
            "roster": roster, "record_minutes": record_minutes, "disburse": disburse}


async def workflow_idle(handle: WorkflowHandle[Any, Any]) -> bool:
    """The workflow waits on nothing but a signal, an update or a timer: no activity scheduled or running
    and no workflow task pending (what a test waits for before it asserts that nothing more happens)."""
    description = (await handle.describe()).raw_description
    return not description.pending_activities and not description.HasField("pending_workflow_task")


class WorkerSet:
    """A fresh workflow queue (its workflows, and the in-workflow activities ``by_queue["wf"]``) and one worker
    per service queue of ``by_queue``; ``async with`` yields the workflow queue."""

    def __init__(self, env: WorkflowEnvironment, workflows: Sequence[type], by_queue: dict[str, list[Any]]):
        acts = dict(by_queue)
        self.queue = f"wf-{uuid.uuid4()}"
        # a workflow the production worker runs outside the sandbox (its cost per run: docs/adr/0021) runs in it
        # here, so that a call the sandbox refuses still fails a test
        self.workers = [Worker(env.client, task_queue=self.queue, workflows=list(workflows),
                               activities=acts.pop("wf", []), unsandboxed_workflow_runner=SandboxedWorkflowRunner()),
                        *(Worker(env.client, task_queue=q, activities=a) for q, a in acts.items())]

    async def __aenter__(self) -> str:
        for w in self.workers:
            await w.__aenter__()
        return self.queue

    async def __aexit__(self, *exc: Any) -> None:
        for w in reversed(self.workers):
            await w.__aexit__(*exc)


T = TypeVar("T")


async def _or_none(step: Awaitable[T]) -> T | None:
    """A lane's case whose step raised: None (the service logs it; the lane hands the case over)."""
    try:
        return await step
    except Exception:  # noqa: BLE001 - as the services' batch activities: this case goes on on its own
        return None


PERSON = "11010519491231002X"
RELATIVE = "110105195001010019"


@dataclass(kw_only=True)
class FakeServices(Recorded):
    """Stand-ins for intake, approval, payment and verification (the emergency-relief, one-matter and
    staged-aid tests'); they record what the workflow asked. The policy answers ``amount`` (payable or
    not); the township decides ``decision``; ``reserve_short`` disburse calls from the township reserve
    answer "waiting_for_reserve" first; every disburse call is recorded (a second call is a finding).

    The payment keeps a ledger by key, as the payment service does: a key paid before answers its first
    payment (``duplicate``); payment ids are ``pay-1``, ``pay-2``... in the order the keys are first paid.

    Per case (the straight-through lane's tests: one case of a lane off the straight path, the others on it):
    ``amount_for_size`` is the policy's amount for a household of that size instead of ``amount`` (0: not
    payable); above ``township_limit_fen`` the township's decision is ``needs_county``; the decision of a
    case in ``decision_fails_for`` and the payment of one in ``payment_fails_for`` raise. The lane's batch
    activities loop over the single ones (as the services do: a case whose step raised is None); which
    batch activities ran is in ``batch_calls``, and each case the lane started in ``lane_starts``."""

    amount: int
    decision: str = "approved"
    payable: bool = True
    check_required: bool = False
    eligible: bool = True
    reserve_short: int = 0
    # a payment that hangs until the test lets it go (a stopped payment service), or fails for good (a bug)
    payment_hold: asyncio.Event | None = None
    payment_fails: bool = False
    amount_for_size: dict[int, int] = field(default_factory=dict)
    township_limit_fen: int | None = None
    decision_fails_for: set[str] = field(default_factory=set)
    payment_fails_for: set[str] = field(default_factory=set)
    paid: dict[str, act.Disbursement] = field(default_factory=dict)  # the ledger, by idempotency key
    payment_ids: dict[str, str] = field(default_factory=dict)        # key -> payment id
    batch_calls: list[str] = field(default_factory=list)             # the lane's batch activities, as called
    lane_starts: list[tuple[str, act.LaneCaseStart]] = field(default_factory=list)  # (lane's workflow id, case)
    checks: list[act.EconomicCheckRequest] = field(default_factory=list)
    recoveries: list[act.RecoveryRequest] = field(default_factory=list)
    committee: list[act.CommitteeMember] = field(default_factory=list)
    event_checks: list[act.EventCheckRequest] = field(default_factory=list)

    def activities(self) -> dict[str, list[Any]]:
        shared = recording_activities(self, committee=self.committee)

        @activity.defn(name=act.LOOKUP_RECIPIENT)
        async def lookup(req: act.LookupRecipient) -> act.RecipientFacts:
            return act.RecipientFacts(found=True, person_id=req.person_id, household_id="hh-1",
                                      region_code="650102001", categories=["dibao"], household_size=2,
                                      member_ids=[req.person_id, RELATIVE])

        @activity.defn(name="policy.evaluate_entitlement")
        async def evaluate(req: EvaluateEntitlement) -> Entitlement:
            amount, payable = self.amount, self.payable
            if req.profile.household_size in self.amount_for_size:
                amount = self.amount_for_size[req.profile.household_size]
                payable = amount > 0
            return Entitlement(measure=req.measure, payable=payable, amount_fen=amount if payable else 0,
                               reason="fake policy", pack_id="fake", pack_version="1", region_prefix="65",
                               economic_check_required=self.check_required)

        @activity.defn(name=act.DECIDE_WITHIN_AUTHORITY)
        async def decide(req: act.ApprovalRequest) -> act.ApprovalOutcome:
            if req.case_id in self.decision_fails_for:
                raise ApplicationError(f"the decision of {req.case_id} failed", type="ContractViolation",
                                       non_retryable=True)
            decision = self.decision
            if self.township_limit_fen is not None and req.amount_fen > self.township_limit_fen:
                decision = "needs_county"
            return act.ApprovalOutcome(case_id=req.case_id, decision=decision,
                                       tier="township" if decision == "approved" else "county",
                                       decided_by="system", amount_fen=req.amount_fen, reason="fake authority",
                                       pay_from="township_reserve" if decision == "approved" else "county_fund")

        @activity.defn(name=act.DISBURSE)
        async def disburse(req: act.DisbursementRequest) -> act.Disbursement:
            self.payments.append(req)
            if self.payment_fails or req.case_id in self.payment_fails_for:
                raise ApplicationError("the ledger disagrees with the request", type="DisbursementConflict",
                                       non_retryable=True)
            if self.payment_hold is not None:
                await self.payment_hold.wait()
            key = req.idempotency_key
            if key in self.paid:  # paid before: the first payment, nothing written
                return self.paid[key].model_copy(update={"duplicate": True})
            payment_id = self.payment_ids.setdefault(key, f"pay-{len(self.payment_ids) + 1}")
            if self.reserve_short > 0 and req.account.startswith(act.TOWNSHIP_RESERVE):
                self.reserve_short -= 1
                return act.Disbursement(payment_id=payment_id, idempotency_key=key, amount_fen=req.amount_fen,
                                        status="waiting_for_reserve", replenishment_request_id="rr-1")
            paid = self.paid[key] = act.Disbursement(payment_id=payment_id, idempotency_key=key,
                                                     amount_fen=req.amount_fen,
                                                     paid_at=activity.info().started_time)
            return paid

        @activity.defn(name=act.OPEN_RECOVERY)
        async def open_recovery(req: act.RecoveryRequest) -> act.RecoveryClaim:
            self.recoveries.append(req)
            return act.RecoveryClaim(claim_id="claim-1", case_id=req.case_id, amount_fen=req.amount_fen,
                                     opened_at=activity.info().started_time)

        @activity.defn(name=act.CHECK_ECONOMIC_STATUS)
        async def check(req: act.EconomicCheckRequest) -> act.EconomicCheckResult:
            self.checks.append(req)
            return act.EconomicCheckResult(
                check_id=req.check_id, outcome="eligible" if self.eligible else "ineligible",
                per_capita_income_fen=30000 if self.eligible else 90000, limit_fen_per_capita=65000,
                reasons=["per-capita income 300 yuan under 650"] if self.eligible
                else ["per-capita income 900 yuan is not under 650 (人社: wages)"], evidence=[], sources=["hrss"])

        @activity.defn(name=act.CONFIRM_EVENT)
        async def confirm_event(req: act.EventCheckRequest) -> act.EventCheckResult:
            from services.verification.checks import confirm_event as rule  # the real rule, no I/O

            self.event_checks.append(req)
            return rule(req)

        # the straight-through lane's batch activities (docs/adr/0021): the single ones, looped
        @activity.defn(name=act.DECIDE_WITHIN_AUTHORITY_MANY)
        async def decide_many(batch: act.ApprovalRequests) -> act.ApprovalOutcomes:
            self.batch_calls.append(act.DECIDE_WITHIN_AUTHORITY_MANY)
            return act.ApprovalOutcomes(outcomes=[await _or_none(decide(r)) for r in batch.requests])

        @activity.defn(name=act.DISBURSE_MANY)
        async def disburse_many(batch: act.DisbursementRequests) -> act.Disbursements:
            self.batch_calls.append(act.DISBURSE_MANY)
            return act.Disbursements(results=[await _or_none(disburse(r)) for r in batch.requests])

        @activity.defn(name=act.RECORD_CASES_TRANSITIONS)
        async def record_cases_transitions(batch: act.CasesTransitions) -> None:
            self.batch_calls.append(act.RECORD_CASES_TRANSITIONS)
            for case in batch.cases:
                await shared["record_transitions"](case)

        @activity.defn(name=act.START_LANE_CASES)
        async def start_lane_cases(batch: act.LaneCaseStarts) -> None:
            self.batch_calls.append(act.START_LANE_CASES)
            self.lane_starts.extend((activity.info().workflow_id or "", c) for c in batch.cases)

        @activity.defn(name=act.SETTLE_LANE_CASES)
        async def settle_lane_cases(settlement: act.LaneSettlement) -> None:
            self.batch_calls.append(act.SETTLE_LANE_CASES)
            for case in settlement.recorded:
                await shared["record_transitions"](case)
            self.lane_starts.extend((activity.info().workflow_id or "", c) for c in settlement.starts)

        return {"wf": [evaluate, service_levels, authority_limits_activity],
                TASK_QUEUE_INTAKE: [lookup, shared["record_transition"], shared["record_transitions"],
                                    shared["open_case"], record_cases_transitions, start_lane_cases,
                                    settle_lane_cases],
                TASK_QUEUE_APPROVAL: [decide, decide_many, shared["record_decision"], shared["open_task"],
                                      shared["close_task"], shared["roster"], shared["record_minutes"]],
                TASK_QUEUE_PAYMENT: [disburse, disburse_many, open_recovery],
                TASK_QUEUE_VERIFICATION: [check, confirm_event]}
