"""The registry and the roster for the office's records (service accounts only: the front door's 家庭档案
and exports ask here with a service token carrying the official's own jurisdiction, so intake itself
keeps to it).

- ``GET /api/registry/search?q=``: households by id, a member's national ID, or a member's name (prefix);
- ``GET /api/registry/roster.csv?region_prefix=&month=``: the region's enrolled households, streamed;
- ``GET /api/registry/areas.csv?region_prefix=``: every household of the region, urban or rural, by
  household id (byte order), to split the ledger's dibao by area;
- ``GET /api/registry/recipients?region_prefix=&month=&level=6``: the roster of a month by region, kind
  (低保/特困) and area (城市/农村): households and people.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from services.intake.store.records import RecordReads
from shared.auth import Principal
from shared.contracts.records import HouseholdHit, RecipientCount
from shared.infra.service_reads import OptionalMonth, RegionLevel, RegionPrefix, scope, service_only

router = APIRouter(prefix="/api/registry", tags=["records"])

Service = Annotated[Principal, Depends(service_only("the registry's records"))]


def _records(request: Request) -> RecordReads:
    records: RecordReads = request.app.state.records  # set by main.build
    return records


@router.get("/search", response_model=list[HouseholdHit],
            summary="Households by id, national ID or name, in the jurisdiction (service accounts only)")
async def search(principal: Service, request: Request,
                 q: Annotated[str, Query(min_length=1, max_length=64)]) -> list[HouseholdHit]:
    return await _records(request).search(q.strip() or q, principal.region)


@router.get("/roster.csv", summary="Stream a region's enrolled households as CSV (service accounts only)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}},
                             "headers": {"X-Roster-Count": {"description": "rows"}}}})
async def roster_export(principal: Service, request: Request, region_prefix: RegionPrefix = "",
                        month: OptionalMonth = "") -> StreamingResponse:
    count, rows = await _records(request).roster_export(scope(principal, region_prefix), month)
    return StreamingResponse(rows, media_type="text/csv",
                             headers={"X-Roster-Count": str(count), "Cache-Control": "no-store"})


@router.get("/areas.csv", summary="Stream a region's households as urban or rural, as CSV (service accounts only)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}},
                             "headers": {"X-Household-Count": {"description": "rows"}}}})
async def areas_export(principal: Service, request: Request, region_prefix: RegionPrefix = "") -> StreamingResponse:
    count, rows = await _records(request).areas_export(scope(principal, region_prefix))
    return StreamingResponse(rows, media_type="text/csv",
                             headers={"X-Household-Count": str(count), "Cache-Control": "no-store"})


@router.get("/recipients", response_model=list[RecipientCount],
            summary="The roster of a month by region, kind and area (service accounts only)")
async def recipients(
    principal: Service, request: Request, region_prefix: RegionPrefix = "", month: OptionalMonth = "",
    level: RegionLevel = 6,
) -> list[RecipientCount]:
    return await _records(request).recipient_counts(scope(principal, region_prefix), month, level)
