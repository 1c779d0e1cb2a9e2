"""Operations' HTTP surface, registered in one place (``install``): the case read API here; the
administration (``admin``), the Temporal UI's codec (``codec``), the dashboard (``dashboard``) and the
front door that forwards every route another service owns (``frontdoor``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request

from services.operations import (
    accounts,
    admin,
    agency_events,
    care_visits,
    codec,
    dashboard,
    frontdoor,
    oidc,
    referrals,
    session,
    store,
)
from services.operations.store import OperationsStore
from shared.auth import Authenticated, Principal, Role, require_roles
from shared.contracts.api import CaseList, CaseView

router = APIRouter(prefix="/api")

CaseReader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.committee, Role.finance, Role.auditor,
    Role.service))]


def _ops(request: Request) -> OperationsStore:
    return request.app.state.ops  # set by main.build


Ops = Annotated[OperationsStore, Depends(_ops)]


@router.get("/cases", response_model=CaseList, summary="List cases in your jurisdiction")
async def list_cases(
    request: Request,
    principal: CaseReader,
    ops: Ops,
    person_id: str | None = None,
    household_id: str | None = None,
    pathway: str | None = None,
    status: str | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,9}$")] = None,
    stalled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,  # beyond bigint was a 500
) -> CaseList:
    settings = request.app.state.runtime.settings
    filters = store.CaseFilters(person_id=person_id, household_id=household_id, pathway=pathway,
                                status=status, region_code=region_code, stalled=stalled)
    async with ops.read() as conn:
        items, total = await store.list_cases(
            conn, jurisdiction=principal.region, filters=filters, limit=limit, offset=offset,
            temporal_ui=settings.temporal_ui_url, namespace=settings.temporal_namespace)
    return CaseList(items=items, total=total)


@router.get("/cases/{case_id}", response_model=CaseView, summary="One case with payments and timeline")
async def get_case(case_id: str, request: Request, principal: CaseReader, ops: Ops) -> CaseView:
    settings = request.app.state.runtime.settings
    async with ops.read() as conn:
        case = await store.get_case(conn, case_id, jurisdiction=principal.region,
                                    temporal_ui=settings.temporal_ui_url,
                                    namespace=settings.temporal_namespace)
    if case is None:  # outside the jurisdiction looks the same as unknown: no existence leak
        raise HTTPException(404, f"case {case_id} not found")
    return case


@router.get("/me", summary="Who the bearer token says you are")
async def whoami(principal: Authenticated) -> Principal:
    return principal


def install(app: FastAPI, door: frontdoor.FrontDoor) -> None:
    """Every route of the operations process, in the order they are matched."""
    app.include_router(router)
    app.include_router(session.router)  # GET/POST /login, POST /logout: a session in place of a token
    app.include_router(oidc.router)     # /auth/oidc/login, /auth/oidc/callback
    app.include_router(accounts.router)  # /api/accounts: local accounts (doudi users add|list|disable)
    app.include_router(agency_events.router)  # POST /events: agencies' CloudEvents over HTTPS
    app.include_router(admin.router)   # stalled cases, sweep, replay, dead letters, the bus, the audit log
    app.include_router(codec.router)   # the Temporal UI's remote codec (admin, audited)
    app.include_router(referrals.router)  # 转介: a case referred to a department or a charity, tracked
    app.include_router(care_visits.router)  # 分散供养特困人员探视巡访: schedule, visits, caregiver changes
    dashboard.install(app)             # the page at /, its files at /static, GET /api/stats[/attention]
    frontdoor.install(app, door)       # forwards the routes other services own; a foreign case is unknown
