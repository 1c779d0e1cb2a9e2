"""Failures a retry cannot cure stop at once (workflows/errors.py): a policy the packs cannot answer and a
broken contract fail the step after ONE attempt (the case's workflow fails visibly, its case stays at the
system step where the stalled-case sweep shows it), while an outage is still retried. Time-skipping server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from shared.config import TASK_QUEUE_INTAKE
from shared.contracts import activities as act
from workflows.common import SERVICE_RETRY
from workflows.errors import CONTRACT_VIOLATION, POLICY_ERROR, ContractViolation, PolicyError
from workflows.policy import EvaluateEntitlement, evaluate_entitlement, service_levels
from workflows.staged_aid.inputs import StagedAidInput, StagedAidResult
from workflows.staged_aid.workflow import StagedAidWorkflow

PERSON = "11010519491231002X"


@dataclass
class Calls:
    evaluations: int = 0
    lookups: int = 0


def fakes(calls: Calls, lookup_fails_with: list[BaseException]) -> tuple[list[Any], list[Any]]:
    @activity.defn(name="policy.evaluate_entitlement")
    async def counted_evaluation(request: EvaluateEntitlement) -> Any:
        calls.evaluations += 1
        return await evaluate_entitlement(request)

    @activity.defn(name=act.LOOKUP_RECIPIENT)
    async def lookup(req: act.LookupRecipient) -> act.RecipientFacts:
        calls.lookups += 1
        if lookup_fails_with:
            raise lookup_fails_with.pop(0)
        return act.RecipientFacts(found=True, person_id=req.person_id, household_id="hh-1", region_code="640104",
                                  categories=["dibao"], household_size=1)

    @activity.defn(name=act.RECORD_CASE_TRANSITION)
    async def record(t: act.CaseTransition) -> bool:
        return True

    return [counted_evaluation, service_levels], [lookup, record]


async def run_plan(env: WorkflowEnvironment, calls: Calls, measure: str,
                   lookup_fails_with: list[BaseException] | None = None) -> StagedAidResult:
    local, intake = fakes(calls, lookup_fails_with or [])
    queue = f"wf-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[StagedAidWorkflow], activities=local), \
            Worker(env.client, task_queue=TASK_QUEUE_INTAKE, activities=intake):
        case_id = f"sa-{uuid.uuid4().hex[:8]}"
        handle: WorkflowHandle[Any, StagedAidResult] = await env.client.start_workflow(
            StagedAidWorkflow.run, StagedAidInput(case_id=case_id, person_id=PERSON, region_code="640104",
                                                  business_date=date(2022, 6, 7), measure=measure),
            id=case_id, task_queue=queue)
        return await handle.result()


def failure_type(err: pytest.ExceptionInfo[WorkflowFailureError]) -> str | None:
    """The type of the application error that failed the case (an activity's is wrapped in an
    ActivityError; a local activity's reaches the workflow as it is)."""
    cause: BaseException | None = err.value.cause
    while isinstance(cause, ActivityError):
        cause = cause.cause
    assert isinstance(cause, ApplicationError)
    return cause.type


def test_the_service_retry_policy_names_the_errors_no_retry_cures():
    assert SERVICE_RETRY.non_retryable_error_types is not None
    assert {POLICY_ERROR, CONTRACT_VIOLATION} <= set(SERVICE_RETRY.non_retryable_error_types)
    assert PolicyError("x").non_retryable and ContractViolation("x").non_retryable


async def test_a_measure_no_pack_defines_fails_the_evaluation_once(env: WorkflowEnvironment):
    calls = Calls()
    with pytest.raises(WorkflowFailureError) as err:
        await run_plan(env, calls, "no_such_measure")
    assert failure_type(err) == POLICY_ERROR and "no_such_measure" in str(err.value.cause)
    assert calls.evaluations == 1  # before: UnknownMeasureError was retried every 30 s for ever


async def test_a_policy_error_a_service_raises_by_name_is_not_retried(env: WorkflowEnvironment):
    """An ApplicationError of type PolicyError that its raiser left retryable still stops at once: the
    retry policy names the type."""
    calls = Calls()
    with pytest.raises(WorkflowFailureError) as err:
        await run_plan(env, calls, "one_time_living_subsidy",
                       [ApplicationError("no pack in force for 990000", type=POLICY_ERROR)])
    assert failure_type(err) == POLICY_ERROR and calls.lookups == 1


async def test_a_broken_contract_is_not_retried(env: WorkflowEnvironment):
    calls = Calls()
    with pytest.raises(WorkflowFailureError) as err:
        await run_plan(env, calls, "one_time_living_subsidy", [ContractViolation("unknown case sa-x")])
    assert failure_type(err) == CONTRACT_VIOLATION and calls.lookups == 1


async def test_an_outage_is_still_retried(env: WorkflowEnvironment):
    """The registry down twice: the look-up is retried until it answers (then the unknown measure stops
    the case at once)."""
    calls = Calls()
    with pytest.raises(WorkflowFailureError) as err:
        await run_plan(env, calls, "no_such_measure",
                       [RuntimeError("registry unavailable"), RuntimeError("registry unavailable")])
    assert calls.lookups == 3 and calls.evaluations == 1 and failure_type(err) == POLICY_ERROR


class NoStore:
    async def record_township_decision(self, *_: Any) -> dict[str, Any]:
        raise AssertionError("nothing is recorded for a request the policy cannot answer")


async def test_approval_raises_a_policy_error_for_a_region_no_pack_can_answer() -> None:
    """The township's authority of a malformed region code: PolicyError, raised once (non-retryable)."""
    from services.approval.activities import ApprovalActivities

    activities = ApprovalActivities(NoStore())  # type: ignore[arg-type]  # only the store's recording is reached
    request = act.ApprovalRequest(case_id="er-x", pathway="emergency_relief", measure="quarantine",
                                  region_code="64-01", business_date=date(2022, 6, 7), amount_fen=195000)
    with pytest.raises(PolicyError) as err:
        await ActivityEnvironment().run(activities.decide_within_authority, request)
    assert err.value.non_retryable and err.value.type == POLICY_ERROR and "region_code" in str(err.value)
