"""Steps every case workflow shares: recording transitions on the case, task inboxes, durable waits
with deadlines, the registry look-up, policy evaluation, checks on the officials who act on a case.

Deterministic like any workflow code: it only schedules activities and timers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from shared import assertions
    from shared.assertions import PrincipalClaims
    from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_INTAKE, TASK_QUEUE_PAYMENT
    from shared.contracts import activities as act
    from shared.contracts.authority import AmountRule, amount_rule
    from shared.policy import Entitlement, HouseholdProfile, ServiceLevels

    # models live in passed-through modules: the sandbox would otherwise build each pydantic class again
    # for every case it starts (issue 18)
    from workflows.decisions import RetryRequest, SignedAction, StallMark
    from workflows.errors import NON_RETRYABLE
    from workflows.policy import EvaluateEntitlement, ServiceLevelsQuery, evaluate_entitlement, service_levels

# Services may be down for a while (a crash, a deploy): keep retrying, never fail the case for it. A
# failure a retry cannot cure (workflows/errors.py: a policy the packs cannot answer, a broken contract)
# fails the step at once instead of retrying for ever.
SERVICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                            maximum_interval=timedelta(seconds=30), non_retryable_error_types=NON_RETRYABLE)
# Bounded: a payment that still fails after these attempts (about half a minute: a crash or a
# deploy is over by then) waits for an administrator's retry (doudi admin replay --retry) instead of
# retrying silently for ever; the stalled-case sweep shows it to the operations team meanwhile.
BOUNDED_PAYMENT_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                                    maximum_interval=timedelta(seconds=15), maximum_attempts=6,
                                    non_retryable_error_types=["DisbursementConflict"])
PAYMENT_FAILURE_WAITS = "payment-failure-waits-for-admin"
STALLED = SearchAttributeKey.for_bool("DoudiStalled")
STEP_TIMEOUT = timedelta(seconds=10)
CHECK_TIMEOUT = timedelta(minutes=2)  # the economic check queries several department sources


def check_official(*, case_region: str, registered_by: str, household: set[str], official: str, region: str,
                   official_person_id: str | None) -> None:
    """Jurisdiction, separation of duties and conflict of interest (关系保、人情保); raises ValueError."""
    if region and not case_region.startswith(region):
        raise ValueError(f"case region {case_region} is outside jurisdiction {region}")
    if official == registered_by:
        raise ValueError("whoever registered a case cannot decide it (separation of duties)")
    if official_person_id and official_person_id in household:
        raise ValueError("an official cannot decide a case of their own household (conflict of interest)")


def verified_principal(arg: BaseModel, update: str, *, subject: str, role: str, region: str,
                       person_id: str | None = None, registered: bool = False) -> PrincipalClaims:
    """The signed principal of a human update (shared/assertions.py), checked against the payload's own
    principal fields: a payload whose subject, role or jurisdiction is not the signed one is refused
    (a client that reaches Temporal directly cannot act as anyone). ``registered``: only an official of
    the officials registry (a signed person id) may do this: whoever decides money. Raises ValueError."""
    try:
        claims = assertions.verify(arg, case_id=workflow.info().workflow_id, update=update, now=workflow.now())
        if (subject, role, region) != (claims.subject, claims.role, claims.region):
            raise ValueError(f"{update}: the payload names {subject}/{role}/{region or '*'}, the signed principal "
                             f"is {claims.subject}/{claims.role}/{claims.region or '*'}")
        if person_id is not None and person_id != claims.person_id:
            raise ValueError(f"{update}: the payload's person id is not the official's registered one")
        if registered and not claims.person_id:
            raise ValueError(f"{update}: {claims.subject} is not in the officials registry and may not decide money")
    except ValueError as refused:
        # a refused update leaves no event in the history: the worker's log is where operators see it
        workflow.logger.warning("refused update %s on case %s claiming %s/%s: %s", update,
                                workflow.info().workflow_id, subject, role, refused)
        raise
    return claims


def verified_service(arg: BaseModel, update: str) -> PrincipalClaims:
    """A reported change a service sends (intake, from an agency's event) is signed like a person's
    action, by a service account: nobody else reaching Temporal reports an income or a death."""
    try:
        claims = assertions.verify(arg, case_id=workflow.info().workflow_id, update=update, now=workflow.now())
        if claims.role != "service":
            raise ValueError(f"{update}: only a doudi service reports this change, not {claims.role}")
    except ValueError as refused:
        workflow.logger.warning("refused update %s on case %s: %s", update, workflow.info().workflow_id, refused)
        raise
    return claims


def signed_person_id(arg: BaseModel) -> str | None:
    """The registered person id of an update already verified by its validator (None if unsigned: a
    history recorded before assertions)."""
    assertion = getattr(arg, "assertion", None)
    return assertion.claims.person_id if assertion is not None else None


class CaseSteps:
    """Mixed into a pathway's workflow class, whose ``@workflow.init`` calls ``_init_steps`` first: the
    case's identity is set before any handler runs (an update may arrive in the first workflow task)."""

    def _init_steps(self, case_id: str, region_code: str, pathway: str) -> None:
        self._case_id, self._region, self._pathway = case_id, region_code, pathway
        self._seq = 0
        self._stage = "opened"
        self._deadlines: list[dict[str, Any]] = []
        self._flags: list[str] = []
        self._failed_step: str | None = None
        self._retry: RetryRequest | None = None
        # a transition recorded while the case goes on (``_record_meanwhile``): awaited before the next one
        self._recording: workflow.ActivityHandle[Any] | None = None
        # transitions recorded with the next one (``_record_later``): the step between them is short
        self._deferred: list[act.CaseTransition] = []
        # begun on a release that consolidates the pathway's earlier patches into one marker (``_since``)
        self._consolidated = False

    def _since(self, patch_id: str) -> bool:
        """``workflow.patched(patch_id)``; but a case begun on a release that consolidates its pathway's patches
        (``_consolidated``, itself a patch) has every one of them and writes no marker for them (issue 18)."""
        return True if self._consolidated else workflow.patched(patch_id)

    @workflow.query
    def stage(self) -> str:
        return self._stage

    def _verified_official(self, arg: SignedAction, update: str, *, subject: str, roles: tuple[str, ...], doing: str,
                           registered: bool = False) -> PrincipalClaims:
        """The signed principal of a person's update (``arg`` carries ``role`` and ``region``), whose role is
        one of ``roles`` and whose jurisdiction holds the case; raises ValueError naming what is wrong."""
        role, region = arg.role, arg.region
        claims = verified_principal(arg, update, subject=subject, role=role, region=region, registered=registered)
        if role not in roles:
            raise ValueError(f"role {role} cannot {doing}")
        self._check_jurisdiction(region)
        return claims

    async def _escalate_overdue(self, flag: str, status: str, stage: str, note: str, *, to: str,
                                arrived: Callable[[], bool]) -> None:
        """A deadline passed: flag the case, record its escalation to ``to``, and keep waiting (never
        silently closed)."""
        self._flags.append(flag)
        await self._record(status, stage, note, escalated=True, escalated_to=to)
        await workflow.wait_condition(arrived)

    def _registered_by(self) -> str:
        """Who registered the case (may not decide it)."""
        raise NotImplementedError

    def _household_ids(self) -> set[str]:
        """The national IDs of the case's household (its officials may not act on it)."""
        raise NotImplementedError

    def _check_decider(self, official: str, region: str, person_id: str | None) -> None:
        """An official deciding this case: jurisdiction, separation of duties, conflict of interest."""
        check_official(case_region=self._region, registered_by=self._registered_by(), household=self._household_ids(),
                       official=official, region=region, official_person_id=person_id)

    def _check_jurisdiction(self, region: str) -> None:
        """An official of ``region`` (a prefix; "" = the province) acts only on the region's cases."""
        if region and not self._region.startswith(region):
            raise ValueError(f"case region {self._region} is outside jurisdiction {region}")

    # -- operators: a stalled mark (from the sweep) and the retry of a failed step ---------------------

    @workflow.signal
    def mark_stalled(self, mark: StallMark) -> None:
        """The stalled-case sweep's verdict, mirrored into the DoudiStalled search attribute."""
        workflow.upsert_search_attributes([STALLED.value_set(mark.stalled)])

    @workflow.update
    async def retry_failed_step(self, request: RetryRequest) -> str:
        self._retry = request
        return f"retrying {self._failed_step}"

    @retry_failed_step.validator
    def _validate_retry(self, request: RetryRequest) -> None:
        if self._failed_step is None:
            raise ValueError("no step of this case is waiting for a retry")
        verified_principal(request, "retry_failed_step", subject=request.official, role=request.role,
                           region=request.region)
        if request.role != "admin":
            raise ValueError("only an administrator re-runs a failed step")
        self._check_jurisdiction(request.region)

    async def _disburse(self, request: act.DisbursementRequest) -> act.Disbursement:
        """Pay through the payment service (idempotent by the request's key). A payment that still fails
        after its retries waits for an administrator's retry instead of failing the case; a retry pays
        at most once, whatever happened before."""
        if not self._consolidated:  # every release waits (docs/adr/0015-patch-lifecycle.md)
            workflow.deprecate_patch(PAYMENT_FAILURE_WAITS)
        while True:
            try:
                return await workflow.execute_activity(
                    act.DISBURSE, request, task_queue=TASK_QUEUE_PAYMENT, start_to_close_timeout=STEP_TIMEOUT,
                    retry_policy=BOUNDED_PAYMENT_RETRY, result_type=act.Disbursement)
            except ActivityError as err:
                cause = err.cause
                if isinstance(cause, ApplicationError) and cause.type == "DisbursementConflict":
                    raise  # a bug, not an outage: the case fails visibly and is reset after the fix
                await self._wait_for_retry("payment", f"payment failed after its retries ({cause}); "
                                           "waiting for an administrator to retry once the cause is fixed")

    async def _wait_for_retry(self, step: str, why: str) -> None:
        self._failed_step, self._retry = step, None
        self._flags.append(f"{step}_failed")
        stage = self._stage
        await self._record("open", f"{step}_failed", why)
        await workflow.wait_condition(lambda: self._retry is not None)
        assert self._retry is not None
        self._flags.remove(f"{step}_failed")
        self._failed_step = None
        await self._record("open", stage, f"{step} retried by {self._retry.official}: {self._retry.reason}")

    async def _look_up(self, person_id: str, on: Any) -> act.RecipientFacts:
        self._stage = "looking_up_recipient"
        return await workflow.execute_activity(
            act.LOOKUP_RECIPIENT, act.LookupRecipient(person_id=person_id, on=on),
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.RecipientFacts,
        )

    async def _evaluate(self, measure: str, on: Any, profile: HouseholdProfile,
                        requested_amount_fen: int | None = None) -> Entitlement:
        self._stage = "assessing"
        return await workflow.execute_local_activity(
            evaluate_entitlement,
            EvaluateEntitlement(measure=measure, region_code=self._region, on=on, profile=profile,
                                requested_amount_fen=requested_amount_fen),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )

    async def _levels(self, on: Any) -> ServiceLevels:
        return await workflow.execute_local_activity(
            service_levels, ServiceLevelsQuery(region_code=self._region, on=on),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )

    async def _wait_until(self, condition: Callable[[], bool], deadline: datetime) -> bool:
        """Wait for ``condition`` until ``deadline`` (a durable timer); True if it came true."""
        remaining = deadline - workflow.now()
        if condition() or remaining <= timedelta(0):
            return condition()
        try:
            await workflow.wait_condition(condition, timeout=remaining)
            return True
        except TimeoutError:
            return False

    async def _open_task(self, kind: str, role: str, due: datetime | None, amount: int | None, summary: str) -> None:
        await workflow.execute_activity(
            act.OPEN_TASK,
            act.TaskOpen(case_id=self._case_id, pathway=self._pathway, kind=kind, role=role,
                         region_code=self._region, amount_fen=amount, summary=summary, due_at=due),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )

    async def _close_task(self, kind: str, by: str, outcome: str) -> None:
        await workflow.execute_activity(
            act.CLOSE_TASK, act.TaskClose(case_id=self._case_id, kind=kind, closed_by=by, outcome=outcome),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )

    async def _record(self, status: str, stage: str, note: str, *, closed: bool = False, outcome: str | None = None,
                      policy: dict[str, Any] | None = None, amount: int | None = None, escalated: bool = False,
                      escalated_to: str | None = None) -> None:
        await self._record_meanwhile(status, stage, note, closed=closed, outcome=outcome, policy=policy, amount=amount,
                                     escalated=escalated, escalated_to=escalated_to)
        await self._recorded()

    async def _recorded(self) -> None:
        """The transition recorded meanwhile, if any, is on the case (the next one never overtakes it)."""
        recording, self._recording = self._recording, None
        if recording is not None:
            await recording

    async def _record_meanwhile(self, status: str, stage: str, note: str, *, closed: bool = False,
                                outcome: str | None = None, policy: dict[str, Any] | None = None,
                                amount: int | None = None, escalated: bool = False,
                                escalated_to: str | None = None) -> None:
        """Start recording a transition and go on with the case (one round trip fewer on its way to the
        money); the next transition waits for it, so they reach the case in order. ``_record`` waits."""
        await self._recorded()
        transition = self._next_transition(status, stage, note, closed=closed, outcome=outcome, policy=policy,
                                           amount=amount, escalated=escalated, escalated_to=escalated_to)
        if self._deferred:
            batch, self._deferred = [*self._deferred, transition], []
            self._recording = workflow.start_activity(
                act.RECORD_CASE_TRANSITIONS, act.CaseTransitions(transitions=batch),
                task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
            )
            return
        self._recording = workflow.start_activity(
            act.RECORD_CASE_TRANSITION, transition,
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )

    def _record_later(self, status: str, stage: str, note: str, *, policy: dict[str, Any] | None = None,
                      amount: int | None = None) -> None:
        """A transition recorded with the next one, in the same call: for a step that only a short system step
        (an approval within authority) separates from the next transition. Every later record (``_record``,
        ``_record_meanwhile``, ``_record_together``) takes it first, so none is lost and the order holds; a
        step that waits for a person or a date records before it waits."""
        self._deferred.append(self._next_transition(status, stage, note, policy=policy, amount=amount))

    def _next_transition(self, status: str, stage: str, note: str, *, closed: bool = False,
                         outcome: str | None = None, policy: dict[str, Any] | None = None,
                         amount: int | None = None, escalated: bool = False,
                         escalated_to: str | None = None) -> act.CaseTransition:
        """The case's next step (its seq and stage move on), to record."""
        self._seq += 1
        self._stage = stage
        return act.CaseTransition(case_id=self._case_id, pathway=self._pathway, seq=self._seq, status=status,
                                  stage=stage, note=note, closed=closed, outcome=outcome, policy=policy,
                                  approved_amount_fen=amount, at=workflow.now(), escalated=escalated,
                                  escalated_to=escalated_to, flags=list(self._flags),
                                  deadlines=list(self._deadlines))

    def _record_deferred_meanwhile(self) -> None:
        """Start recording the transitions ``_record_later`` holds, and go on: the step they wait for takes
        longer than it should (a hung payment). Nothing is started while a record is on its way: the next
        record takes them, so the order holds."""
        if self._deferred and self._recording is None:
            batch, self._deferred = self._deferred, []
            self._recording = workflow.start_activity(
                act.RECORD_CASE_TRANSITIONS, act.CaseTransitions(transitions=batch),
                task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
            )

    async def _record_deferred(self) -> None:
        """Record what ``_record_later`` holds now, if anything (before the case fails, say)."""
        await self._recorded()
        if self._deferred:
            await self._record_together()

    async def _record_together(self, *transitions: act.CaseTransition) -> None:
        """Steps that follow one another at once (paid, then closed): one call records them, in order, in
        one transaction; a round trip fewer than one call each."""
        await self._recorded()
        batch, self._deferred = [*self._deferred, *transitions], []
        await workflow.execute_activity(
            act.RECORD_CASE_TRANSITIONS, act.CaseTransitions(transitions=batch),
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )


def policy_of(entitlement: Entitlement) -> dict[str, str | None]:
    """What the case records of the policy it applied."""
    return {"pack_id": entitlement.pack_id, "pack_version": entitlement.pack_version,
            "measure": entitlement.measure, "region_prefix": entitlement.region_prefix}


def amount_rule_of(entitlement: Entitlement) -> AmountRule:
    """What the policy says of the amount a person decides (fixed / 不低于 floor / open, issue 14)."""
    return amount_rule(amount_fen=entitlement.amount_fen, amount_is_minimum=entitlement.amount_is_minimum,
                       floor_fen=entitlement.floor_fen, amount_open=entitlement.amount_open)
