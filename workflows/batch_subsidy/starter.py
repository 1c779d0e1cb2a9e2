"""Starting a batch's workflow (from payment's HTTP route, and from intake for a price-linkage event).

The workflow id is the batch id, derived from the request, so a second start of the same batch (a
repeated request, a redelivered event) is a no-op.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from shared.config import TASK_QUEUE_WORKFLOWS
from workflows.batch_subsidy.inputs import PATHWAY, WORKFLOW, BatchRequest, BatchSubsidyInput

PATHWAY_KEY = SearchAttributeKey.for_keyword("DoudiPathway")
REGION_KEY = SearchAttributeKey.for_keyword("DoudiRegion")


async def start_batch(client: Client, batch_id: str, request: BatchRequest, *, allow_rerun: bool = False,
                      parallel_chunks: int | None = None) -> bool:
    """Start the batch's workflow; False when it is already running (or ran: a completed batch is not
    started again unless ``allow_rerun``, for a batch re-planned after a rejection)."""
    inp = BatchSubsidyInput(batch_id=batch_id, request=request)
    if parallel_chunks is not None:
        inp.parallel_chunks = parallel_chunks
    try:
        await client.start_workflow(
            WORKFLOW, inp, id=batch_id, task_queue=TASK_QUEUE_WORKFLOWS,
            id_reuse_policy=(WorkflowIDReusePolicy.ALLOW_DUPLICATE if allow_rerun
                             else WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY),
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(PATHWAY_KEY, PATHWAY),
                SearchAttributePair(REGION_KEY, request.region_prefix),
            ]),
        )
    except WorkflowAlreadyStartedError:
        return False
    return True
