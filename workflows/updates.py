"""Typed client helpers for the updates and queries a service sends to a case whose workflow type it
does not know in advance (the approval inbox decides on emergency-relief, one-off and renewal cases
alike). Every other call site names its update itself: ``update_case(client, case_id, Workflow.handler,
Model(...), by=...)`` (shared/infra/case_updates.py).

Client side only: nothing here runs inside a workflow.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.client import Client

from shared.assertions import Signatory
from shared.infra.case_updates import signed, update_case, workflow_type_of
from shared.infra.errors import Conflict
from workflows.decisions import AuthorityView
from workflows.emergency_relief.inputs import CountyDecision
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
from workflows.escalation import CommitteeEscalation
from workflows.one_off_assistance.inputs import ApproverDecision
from workflows.one_off_assistance.workflow import OneOffAssistanceWorkflow
from workflows.renewal.inputs import EnrolmentDecision, IncomeChange, MemberDeath
from workflows.renewal.workflow import RenewalWorkflow


def type_name(cls: type) -> str:
    """The workflow type a class is registered under (its ``@workflow.defn(name=...)``)."""
    return workflow._Definition.must_from_class(cls).name or cls.__name__


async def decide_on_case(client: Client, case_id: str, decision: CountyDecision, *, by: Signatory) -> str:
    """An approver's decision (approve an amount, or refuse) as the case's own ``decide`` model: the
    county's on emergency relief (with where it pays from), the awaited tier's on one-off assistance,
    the confirmation of a dibao enrolment. Conflict (409) for a case that takes no approver's decision."""
    kind = await workflow_type_of(client, case_id)
    if kind == type_name(EmergencyReliefWorkflow):
        return await update_case(client, case_id, EmergencyReliefWorkflow.decide, decision, by=by)
    fields = decision.model_dump(exclude={"pay_from", "assertion"})
    if kind == type_name(OneOffAssistanceWorkflow):
        return await update_case(client, case_id, OneOffAssistanceWorkflow.decide, ApproverDecision(**fields), by=by)
    if kind == type_name(RenewalWorkflow):
        return await update_case(client, case_id, RenewalWorkflow.decide, EnrolmentDecision(**fields), by=by)
    raise Conflict(f"case {case_id} ({kind}) takes no approver's decision")


async def authority_of(client: Client, case_id: str) -> AuthorityView | None:
    """Who may decide how much on the case now; None for a case that cannot say (another pathway, closed,
    unknown): its workflow's validator still refuses what it must."""
    try:
        return await client.get_workflow_handle(case_id).query(CommitteeEscalation.authority)
    except Exception:  # no such query or case
        return None


async def report_change(client: Client, case_id: str, change: IncomeChange | MemberDeath, *, by: Signatory,
                        update_id: str) -> str:
    """A reported change of a household its renewal case carries, as the case's update for its kind,
    signed by the reporting service. Raises what the server answers (WorkflowUpdateFailedError: refused;
    RPCError NOT_FOUND: no such running case): intake decides where the change goes then."""
    handle = client.get_workflow_handle(case_id)
    if isinstance(change, IncomeChange):
        return await handle.execute_update(RenewalWorkflow.income_changed,
                                           signed(case_id, RenewalWorkflow.income_changed, change, by), id=update_id)
    return await handle.execute_update(RenewalWorkflow.member_deceased,
                                       signed(case_id, RenewalWorkflow.member_deceased, change, by), id=update_id)
