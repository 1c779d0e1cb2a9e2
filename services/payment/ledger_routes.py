"""The ledger for the office's records (service accounts only: the front door's 家庭档案 and exports ask
here with a service token carrying the official's own jurisdiction, so the ledger itself keeps to it).

- ``GET /api/ledger/households/{household_id}?person_id=...``: the household's rows (and its members');
- ``GET /api/ledger/export.csv?month=YYYY-MM&region_prefix=``: a month's rows of a region, streamed;
- ``GET /api/ledger/household-sums.csv?month=&region_prefix=&measures=dibao``: a month's disbursements per
  household (ordered by household id, byte order), to be split by the registry's urban/rural;
- ``GET /api/ledger/summary?month=YYYY-MM&region_prefix=&level=6``: a month's sums by region and measure.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from services.payment.store.ledger_reads import LedgerRecords, LedgerRow
from shared.auth import Principal
from shared.contracts.records import MeasureSum
from shared.infra.service_reads import Month, RegionLevel, RegionPrefix, scope, service_only

router = APIRouter(prefix="/api/ledger", tags=["ledger"])

Service = Annotated[Principal, Depends(service_only("the ledger's records"))]


def _records(request: Request) -> LedgerRecords:
    records: LedgerRecords = request.app.state.ledger_records  # set by main.build
    return records


@router.get("/households/{household_id}", response_model=list[LedgerRow],
            summary="A household's ledger rows and its members' (service accounts only)")
async def household_rows(
    household_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")],
    principal: Service,
    request: Request,
    person_id: Annotated[list[str], Query(max_length=50)] = [],  # noqa: B006 (FastAPI copies defaults)
) -> list[LedgerRow]:
    return await _records(request).household(household_id, person_id, principal.region)


@router.get("/export.csv", summary="Stream a month's ledger rows of a region as CSV (service accounts only)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}},
                             "headers": {"X-Ledger-Count": {"description": "rows"}}}})
async def export_month(principal: Service, request: Request, month: Month,
                       region_prefix: RegionPrefix = "") -> StreamingResponse:
    count, rows = await _records(request).month_export(month, scope(principal, region_prefix))
    return StreamingResponse(rows, media_type="text/csv",
                             headers={"X-Ledger-Count": str(count), "Cache-Control": "no-store"})


@router.get("/household-sums.csv",
            summary="Stream a month's disbursements per household and county as CSV (service accounts only)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}},
                             "headers": {"X-Ledger-Count": {"description": "rows"}}}})
async def household_sums(
    principal: Service, request: Request, month: Month, region_prefix: RegionPrefix = "",
    measures: Annotated[str, Query(pattern=r"^[a-z_]+(,[a-z_]+)*$", description="comma-separated")] = "dibao",
) -> StreamingResponse:
    count, rows = await _records(request).household_sums(month, scope(principal, region_prefix),
                                                         sorted(set(measures.split(","))))
    return StreamingResponse(rows, media_type="text/csv",
                             headers={"X-Ledger-Count": str(count), "Cache-Control": "no-store"})


@router.get("/summary", response_model=list[MeasureSum],
            summary="A month's disbursements by region and measure (service accounts only)")
async def month_summary(
    principal: Service, request: Request, month: Month, region_prefix: RegionPrefix = "",
    level: RegionLevel = 6,
) -> list[MeasureSum]:
    return await _records(request).month_sums(month, scope(principal, region_prefix), level)
