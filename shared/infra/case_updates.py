"""Sending a person's action (a decision, documents) to a case's workflow as a Temporal update,
with the HTTP answers the API contract promises: 404 for an unknown case, 409 when the workflow's
validator refuses (the case is not at that step, or the person may not do it), with its reason.

The update carries a signed principal assertion (shared/assertions.py): who sends it, for this case,
this update and this body. The workflow verifies it and refuses an unsigned one, so whoever reaches
Temporal directly cannot act as anyone."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from shared import assertions
from shared.assertions import Signatory


def signatory(principal: Any, person_id: str | None = None) -> Signatory:
    """Who acts, from an authenticated ``shared.auth.Principal``; ``person_id`` only from the officials
    registry (never a token claim)."""
    return Signatory(subject=principal.subject, role=str(principal.role), region=principal.region,
                     person_id=person_id)


def signed(case_id: str, update: str, arg: dict[str, Any] | BaseModel, by: Signatory) -> dict[str, Any]:
    """``arg`` with the assertion that ``by`` sends ``update`` to ``case_id``."""
    return assertions.signer().sign(by, case_id=case_id, update=update, body=arg)


async def update_case(client: Client, case_id: str, update: str, arg: Any, *, by: Signatory | None = None,
                      update_id: str | None = None) -> Any:
    handle = client.get_workflow_handle(case_id)
    if by is not None:
        arg = signed(case_id, update, arg, by)
    try:
        return await handle.execute_update(update, arg, id=update_id)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = getattr(cause, "message", None) or str(cause or exc)
        raise HTTPException(409, message) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise HTTPException(404, f"case {case_id} not found or no longer running") from None
        raise
