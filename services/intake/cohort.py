"""The cohort export (intake owns the registry; no other service reads its tables) and the start of a
price-linkage batch from the inbound event ``price.linkage_triggered``.

``GET /api/cohorts/export?region_prefix=64&categories=dibao,extreme_poverty&on=2022-06-07`` streams, as
CSV with a header, every member of a household in the region whose categories meet the requested ones
and who had not died by ``on``::

    ordinal,person_id,household_id,region_code,categories,urban
    1,640104198001010012,hh-1,640104,"{dibao,extreme_poverty}",t

Who is a recipient, and of what, is the roster's answer (``RECIPIENTS_CTE`` in
services/intake/store/exports.py). ``ordinal`` numbers the rows 1..N (the payment side's chunks are
ranges of it); ``categories`` is a PostgreSQL array literal; ``urban`` is ``t``/``f``. The
``X-Cohort-Count`` header carries N, counted in the same REPEATABLE READ snapshot as the rows, so a
consumer can tell a complete export from a cut one (the streaming: services/intake/store/exports.py).

Service accounts only: it is the whole registry of a region.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from temporalio.client import Client

from services.intake.roster_service import Roster
from shared.auth import Principal, Role, current_principal, require_jurisdiction
from shared.contracts.events import InboundEvent, PriceLinkageTriggered
from shared.infra.consumer import KIND_CONFLICTING_DUPLICATE, Poison
from shared.policy import load_library
from workflows.batch_subsidy.inputs import (
    BatchRequest,
    batch_id_for,
    price_linkage_amount,
    price_linkage_occasion,
)
from workflows.batch_subsidy.starter import start_batch
from workflows.batch_subsidy.workflow import BatchSubsidyWorkflow

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/cohorts", tags=["cohorts"])


def require_service(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.role != Role.service:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the cohort export is for service accounts only")
    return principal


@router.get("/export", summary="Stream a region's recipients at a date as CSV (service accounts only)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}},
                             "headers": {"X-Cohort-Count": {"description": "rows"}}}})
async def export_cohort(
    principal: Annotated[Principal, Depends(require_service)],
    roster: Roster,
    region_prefix: Annotated[str, Query(pattern=r"^\d{2}(\d{2}(\d{2}(\d{3})?)?)?$")],
    categories: Annotated[str, Query(pattern=r"^[a-z_]+(,[a-z_]+)*$",
                                     description="comma-separated; any of them")],
    on: Annotated[date, Query(description="the snapshot date: who had died by then is left out")],
) -> StreamingResponse:
    require_jurisdiction(principal, region_prefix)
    count, rows = await roster.cohort_export(region_prefix, sorted(set(categories.split(","))), on)
    return StreamingResponse(rows, media_type="text/csv",
                             headers={"X-Cohort-Count": str(count), "Cache-Control": "no-store"})


# -- price.linkage_triggered -> a price-linkage batch -------------------------------------------------

def price_linkage_request(event: InboundEvent) -> BatchRequest:
    """The batch an inbound ``price.linkage_triggered`` calls for: every dibao and extreme-poverty
    recipient (or the categories the region's pack names) of ``region_code`` (a 2/4/6/9-digit prefix),
    as of the first day of ``month``, at the amount doudi computes from the pack's rule and the event's
    price index (``price_linkage_amount``); the event's own ``subsidy_fen_per_person`` is never paid.
    Raises Poison (dead letter, with the reason) when no amount can be computed."""
    data = event.data
    assert isinstance(data, PriceLinkageTriggered)
    year, month = (int(x) for x in data.month.split("-"))
    on = date(year, month, 1)
    amount, why = price_linkage_amount(load_library(), data.region_code, on, data.price_index_rise_permille)
    if amount is None:
        raise Poison(why, event_id=event.id)
    if data.subsidy_fen_per_person is not None and data.subsidy_fen_per_person != amount:
        log.warning("price linkage %s for %s: the event says %s fen per person, doudi computes %s (%s)",
                    data.month, data.region_code, data.subsidy_fen_per_person, amount, why)
    return BatchRequest(measure="price_linkage", region_prefix=data.region_code, snapshot_on=on,
                        month=data.month, amount_fen_per_person=amount,
                        cause_event_id=event.id, requested_by=f"event:{event.id}")


async def start_price_linkage_batch(temporal: Client, event: InboundEvent) -> str:
    """Start (once: the batch id derives from measure, region and month, so a redelivery or a second
    event for the same region and month is the same batch) the price-linkage batch of an event.
    Returns the batch id; its progress is at ``GET /api/batches/{batch_id}``."""
    req = price_linkage_request(event)
    assert req.month is not None
    batch_id = batch_id_for(req.measure, req.region_prefix, price_linkage_occasion(req.month))
    started = await start_batch(temporal, batch_id, req)
    if not started:
        await _same_content(temporal, batch_id, req, event)
    log.info("price linkage %s for %s: batch %s %s", req.month, req.region_prefix, batch_id,
             "started" if started else "already started")
    return batch_id


async def _same_content(temporal: Client, batch_id: str, req: BatchRequest, event: InboundEvent) -> None:
    """"Already started" holds only for the same occasion AND the same computed content: a first (perhaps
    forged) event must not silently absorb a genuine one that computes otherwise. A conflict is dead-lettered
    as such, with both contents, for an operator."""
    try:
        running = (await temporal.get_workflow_handle(batch_id).query(BatchSubsidyWorkflow.request)).model_dump()
    except Exception:  # a batch recorded before the query existed: nothing to compare with
        return
    wanted = req.identity()
    if {key: running.get(key) for key in wanted} != wanted:
        raise Poison(f"conflicting price-linkage event for {req.region_prefix} {req.month}: batch {batch_id} "
                     f"already pays {running.get('amount_fen_per_person')} fen per person (from "
                     f"{running.get('cause_event_id')}); this event computes {req.amount_fen_per_person}",
                     event_id=event.id, kind=KIND_CONFLICTING_DUPLICATE)

