"""Intake's HTTP routes (served to the public through the front door)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from services.intake.enrolment import NotEnrollable
from services.intake.models import AssessmentIn, AssessmentOut
from services.intake.registry import IfMatch, Registrar, RegistrationRefused, etag
from services.intake.routing import InvalidApplication, NotYetRouted
from services.intake.service import IntakeService
from services.intake.store import HouseholdView
from shared.auth import (
    Principal,
    Role,
    found_in_jurisdiction,
    require_jurisdiction,
    require_roles,
    visible_to,
)
from shared.contracts.api import ApplicationAccepted, ApplicationIn, HouseholdIn, HouseholdOut
from shared.infra.case_updates import signatory, update_case
from workflows.assessment import AssessmentSubmitted, CaseworkerAssessment

router = APIRouter(prefix="/api")


def _service(request: Request) -> IntakeService:
    return request.app.state.intake


MoveMembers = Annotated[list[str], Query(
    max_length=50, description="迁入: members who belong to another household of the same county and "
    "jurisdiction and are moved into this one (recorded); anyone else already in a household is refused "
    "(409)")]


IfMatchHeader = Annotated[str | None, Header(
    alias="If-Match", max_length=200,
    description="the household's ETag as read (GET /api/households/{id}): the update is made only if no one "
    "changed the household since (412 otherwise, nothing written). Without it the registration replaces the "
    "household as before: agencies' scripts and doudi import re-register by household id")]


async def _register(household: HouseholdIn, principal: Principal, service: IntakeService, moves: list[str],
                    if_match: str | None, response: Response, *, roster: bool) -> HouseholdOut:
    require_jurisdiction(principal, household.region_code)
    known = await service.household(household.household_id)
    if known is not None:  # no taking over a foreign household
        require_jurisdiction(principal, known.region_code, what=f"household {household.household_id}")
    by = Registrar(subject=principal.subject, role=str(principal.role), region=principal.region,
                   roster=roster)
    try:
        registered = await service.register_household(household, by, moves, IfMatch.parse(if_match))
    except RegistrationRefused as exc:
        raise HTTPException(exc.status_code, exc.detail()) from None
    response.headers["ETag"] = etag(registered.version)
    return registered


def _registration(name: str, path: str, roles: tuple[Role, ...], *, roster: bool, summary: str) -> None:
    """A registration route: ``roster`` = an authorised roster registration (may set money categories)."""

    async def route(
        household: HouseholdIn,
        service: Annotated[IntakeService, Depends(_service)],
        response: Response,
        if_match: IfMatchHeader = None,
        move_members: MoveMembers = [],  # noqa: B006 (FastAPI copies defaults)
        # a default, not an annotation: the roles are this factory's (annotations are strings here)
        principal: Principal = Depends(require_roles(*roles)),  # noqa: B008
    ) -> HouseholdOut:
        return await _register(household, principal, service, move_members, if_match, response, roster=roster)

    route.__name__ = name  # the OpenAPI operation id, as before
    router.post(path, response_model=HouseholdOut, summary=summary)(route)


_registration("register_household", "/households", (Role.clerk, Role.service), roster=False,
              summary="Register or update a household (idempotent by household_id; If-Match with the ETag read "
                      "makes an update conditional, 412 if it changed meanwhile); categories that carry "
                      "money are not set here (403): see /api/households/roster")
_registration("register_roster_household", "/households/roster", (Role.county_approver, Role.service),
              roster=True,
              summary="Authorised roster registration (名册登记): a household with the categories that "
                      "carry money (dibao, extreme_poverty, ...), as decided; county approvers and the "
                      "roster system; recorded")


@router.post("/applications", status_code=202, response_model=ApplicationAccepted,
             summary="A person applies at the one window (一门受理); answers with the case id")
async def apply(
    application: ApplicationIn,
    principal: Annotated[Principal, Depends(require_roles(Role.clerk, Role.township_approver, Role.service))],
    service: Annotated[IntakeService, Depends(_service)],
) -> ApplicationAccepted | JSONResponse:
    require_jurisdiction(principal, application.region_code)
    try:
        case_id, application_id = await service.apply(application, principal.subject, str(principal.role),
                                                       principal.region, datetime.now(UTC).date())
    except NotYetRouted as exc:
        return JSONResponse({"detail": str(exc)}, status_code=501)
    except InvalidApplication as exc:
        raise HTTPException(422, str(exc)) from None
    except NotEnrollable as exc:
        raise HTTPException(exc.status_code, exc.reason) from None
    except PermissionError as exc:  # the application id belongs to another jurisdiction's case
        raise HTTPException(409, str(exc)) from None
    return ApplicationAccepted(case_id=case_id, application_id=application_id,
                               status_url=f"/api/cases/{case_id}")


@router.get("/households/{household_id}", response_model=HouseholdView,
            summary="A household as the registry knows it")
async def get_household(
    # as registered
    household_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")],
    principal: Annotated[Principal, Depends(require_roles(
        Role.clerk, Role.township_approver, Role.county_approver, Role.auditor, Role.service))],
    service: Annotated[IntakeService, Depends(_service)],
    response: Response,
) -> HouseholdView:
    household = visible_to(principal, await service.household(household_id), lambda h: h.region_code,
                           f"household {household_id}")
    response.headers["ETag"] = etag(household.version)  # an update names it in If-Match
    return household


@router.post("/cases/{case_id}/assessment", response_model=AssessmentOut,
             summary="A caseworker assesses an amount the policy leaves to the county (核定救助金额)")
async def assess(
    case_id: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")],
    body: AssessmentIn,
    principal: Annotated[Principal, Depends(require_roles(Role.clerk, Role.township_approver,
                                                          Role.county_approver))],
    request: Request,
) -> AssessmentOut:
    service: IntakeService = request.app.state.intake
    found_in_jurisdiction(principal, await service.case_region(case_id), f"case {case_id}")
    await update_case(service.temporal, case_id, CaseworkerAssessment.assess, AssessmentSubmitted(
        official=principal.subject, role=str(principal.role), region=principal.region,
        amount_fen=body.amount_fen, reason=body.reason), by=signatory(principal))
    return AssessmentOut(case_id=case_id, accepted=True, by=principal.subject)
