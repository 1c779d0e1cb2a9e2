"""Operations' HTTP routes: the case read API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from services.operations import queries
from shared.auth import Authenticated, Principal, Role, require_roles
from shared.contracts.api import CaseList, CaseView

router = APIRouter(prefix="/api")

CaseReader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.committee, Role.finance, Role.auditor,
    Role.service))]


@router.get("/cases", response_model=CaseList, summary="List cases in your jurisdiction")
async def list_cases(
    request: Request,
    principal: CaseReader,
    person_id: str | None = None,
    household_id: str | None = None,
    pathway: str | None = None,
    status: str | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,9}$")] = None,
    stalled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CaseList:
    rt = request.app.state.runtime
    filters = dict(person_id=person_id, household_id=household_id, pathway=pathway, status=status,
                   region_code=region_code, stalled=stalled)
    async with rt.pool.acquire() as conn:
        items, total = await queries.list_cases(
            conn, jurisdiction=principal.region, filters=filters, limit=limit, offset=offset,
            temporal_ui=rt.settings.temporal_ui_url, namespace=rt.settings.temporal_namespace)
    return CaseList(items=items, total=total)


@router.get("/cases/{case_id}", response_model=CaseView, summary="One case with payments and timeline")
async def get_case(case_id: str, request: Request, principal: CaseReader) -> CaseView:
    rt = request.app.state.runtime
    async with rt.pool.acquire() as conn:
        case = await queries.get_case(conn, case_id, jurisdiction=principal.region,
                                      temporal_ui=rt.settings.temporal_ui_url,
                                      namespace=rt.settings.temporal_namespace)
    if case is None:  # outside the jurisdiction looks the same as unknown: no existence leak
        raise HTTPException(404, f"case {case_id} not found")
    return case


@router.get("/me", summary="Who the bearer token says you are")
async def whoami(principal: Authenticated) -> Principal:
    return principal
