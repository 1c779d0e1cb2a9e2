"""Sending a person's action (a decision, documents) to a case's workflow as a Temporal update,
with the HTTP answers the API contract promises: 404 for an unknown case, 409 when the workflow's
validator refuses (the case is not at that step, or the person may not do it), with its reason.

The update carries a signed principal assertion (shared/assertions.py): who sends it, for this case,
this update and this body. The workflow verifies it and refuses an unsigned one, so whoever reaches
Temporal directly cannot act as anyone."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from shared import assertions
from shared.assertions import Signatory
from shared.infra.errors import Conflict, NotFound

Body = TypeVar("Body", bound=BaseModel)
Answer = TypeVar("Answer")


def signatory(principal: Any, person_id: str | None = None) -> Signatory:
    """Who acts, from an authenticated ``shared.auth.Principal``; ``person_id`` only from the officials
    registry (never a token claim)."""
    return Signatory(subject=principal.subject, role=str(principal.role), region=principal.region,
                     person_id=person_id)


def update_name(update: workflow.UpdateMethodMultiParam[Any, Any]) -> str:
    """The name a workflow's update handler is registered under (what goes over the wire)."""
    name, _ = workflow._UpdateDefinition.get_name_and_result_type(update)
    return name


def signed(case_id: str, update: workflow.UpdateMethodMultiParam[Any, Any], arg: Body, by: Signatory) -> Body:
    """``arg`` with the assertion that ``by`` sends ``update`` to ``case_id`` (its JSON is the body's,
    plus the ``assertion`` field every human or service update model carries)."""
    name = update_name(update)
    assertion = assertions.signer().assertion(by, case_id=case_id, update=name,
                                              body=arg.model_dump(mode="json", exclude={"assertion"}))
    return arg.model_copy(update={"assertion": assertion})


async def update_case(client: Client, case_id: str, update: workflow.UpdateMethodMultiParam[[Any, Body], Answer],
                      arg: Body, *, by: Signatory | None = None, update_id: str | None = None) -> Answer:
    """Send a typed update (``Workflow.handler``, its model) to the case's workflow, signed by ``by``:
    NotFound (404) for an unknown or closed case, Conflict (409) with the validator's reason."""
    handle = client.get_workflow_handle(case_id)
    if by is not None:
        arg = signed(case_id, update, arg, by)
    try:
        return await handle.execute_update(update, arg, id=update_id)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = getattr(cause, "message", None) or str(cause or exc)
        raise Conflict(message) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"case {case_id} not found or no longer running") from None
        raise


async def workflow_type_of(client: Client, case_id: str) -> str:
    """The workflow type running the case (which typed update it takes); NotFound for an unknown case."""
    try:
        return (await client.get_workflow_handle(case_id).describe()).workflow_type
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"case {case_id} not found or no longer running") from None
        raise
