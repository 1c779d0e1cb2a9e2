"""Re-driving a stalled case after a fix (``POST /api/cases/{id}/replay``, mode ``reset``): a Temporal
reset to the last good workflow task, the history up to there kept."""

from __future__ import annotations

import uuid

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client


class CaseNotFound(LookupError):
    """No workflow of that case id (404)."""


class NothingToReset(Exception):
    """The workflow never completed a workflow task (409)."""


def reset_point(events: list[HistoryEvent]) -> int:
    """The workflow task that scheduled the step which failed (or, failing that, the last completed
    workflow task): the workflow re-runs from there on today's code."""
    failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
    if failed:
        scheduled_id = failed[-1].activity_task_failed_event_attributes.scheduled_event_id
        scheduled = next(e for e in events if e.event_id == scheduled_id)
        return scheduled.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
    completed = [e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    if not completed:
        raise NothingToReset("the case has no completed workflow task to reset to")
    return completed[-1]


async def reset_to_last_good_task(client: Client, namespace: str, case_id: str, reason: str) -> str:
    handle = client.get_workflow_handle(case_id)
    try:
        events = [e async for e in handle.fetch_history_events()]
    except Exception as exc:
        raise CaseNotFound(f"case {case_id} not found: {exc}") from None
    point = reset_point(events)
    run_id = (await handle.describe()).run_id
    response = await client.workflow_service.reset_workflow_execution(ResetWorkflowExecutionRequest(
        namespace=namespace, workflow_execution=WorkflowExecution(workflow_id=case_id, run_id=run_id),
        reason=reason, workflow_task_finish_event_id=point, request_id=str(uuid.uuid4())))
    return f"reset to event {point}; new run {response.run_id}"
