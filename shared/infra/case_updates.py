"""Sending a person's action (a decision, documents) to a case's workflow as a Temporal update,
with the HTTP answers the API contract promises: 404 for an unknown case, 409 when the workflow's
validator refuses (the case is not at that step, or the person may not do it), with its reason."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode


async def update_case(client: Client, case_id: str, update: str, arg: Any) -> Any:
    handle = client.get_workflow_handle(case_id)
    try:
        return await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = getattr(cause, "message", None) or str(cause or exc)
        raise HTTPException(409, message) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(404, f"case {case_id} not found or no longer running") from None
        raise
