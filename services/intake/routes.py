"""Intake's HTTP routes (served to the public through the front door)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.intake.enrolment import NotEnrollable
from services.intake.registry import Registrar, RegistrationRefused
from services.intake.routing import InvalidApplication, NotYetRouted
from services.intake.service import IntakeService
from shared.auth import Principal, Role, require_roles
from shared.contracts.api import ApplicationAccepted, ApplicationIn, HouseholdIn, HouseholdOut
from shared.contracts.money import Fen
from shared.infra.case_updates import signatory, update_case

router = APIRouter(prefix="/api")


def _service(request: Request) -> IntakeService:
    return request.app.state.intake


MoveMembers = Annotated[list[str], Query(
    max_length=50, description="迁入: members who belong to another household of the same county and "
    "jurisdiction and are moved into this one (recorded); anyone else already in a household is refused (409)")]


async def _register(household: HouseholdIn, principal: Principal, service: IntakeService, moves: list[str],
                    *, roster: bool) -> HouseholdOut:
    if not principal.may_see(household.region_code):
        raise HTTPException(403, f"region {household.region_code} is outside your jurisdiction")
    known = await service.household(household.household_id)
    if known is not None and not principal.may_see(known["region_code"]):  # no taking over a foreign household
        raise HTTPException(403, f"household {household.household_id} is outside your jurisdiction")
    by = Registrar(subject=principal.subject, role=str(principal.role), region=principal.region, roster=roster)
    try:
        return await service.register_household(household, by, moves)
    except RegistrationRefused as exc:
        raise HTTPException(exc.status_code, exc.detail()) from None


@router.post("/households", response_model=HouseholdOut,
             summary="Register or update a household (idempotent by household_id); categories that carry money "
                     "are not set here (403): see /api/households/roster")
async def register_household(
    household: HouseholdIn,
    principal: Annotated[Principal, Depends(require_roles(Role.clerk, Role.service))],
    service: Annotated[IntakeService, Depends(_service)],
    move_members: MoveMembers = [],  # noqa: B006 (FastAPI copies defaults)
) -> HouseholdOut:
    return await _register(household, principal, service, move_members, roster=False)


@router.post("/households/roster", response_model=HouseholdOut,
             summary="Authorised roster registration (名册登记): a household with the categories that carry money "
                     "(dibao, extreme_poverty, ...), as decided; county approvers and the roster system; recorded")
async def register_roster_household(
    household: HouseholdIn,
    principal: Annotated[Principal, Depends(require_roles(Role.county_approver, Role.service))],
    service: Annotated[IntakeService, Depends(_service)],
    move_members: MoveMembers = [],  # noqa: B006
) -> HouseholdOut:
    return await _register(household, principal, service, move_members, roster=True)


@router.post("/applications", status_code=202, response_model=ApplicationAccepted,
             summary="A person applies at the one window (一门受理); answers with the case id")
async def apply(
    application: ApplicationIn,
    principal: Annotated[Principal, Depends(require_roles(Role.clerk, Role.township_approver, Role.service))],
    service: Annotated[IntakeService, Depends(_service)],
) -> ApplicationAccepted | JSONResponse:
    if not principal.may_see(application.region_code):
        raise HTTPException(403, f"region {application.region_code} is outside your jurisdiction")
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
    return ApplicationAccepted(case_id=case_id, application_id=application_id, status_url=f"/api/cases/{case_id}")


@router.get("/households/{household_id}", summary="A household as the registry knows it")
async def get_household(
    household_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")],  # as registered
    principal: Annotated[Principal, Depends(require_roles(
        Role.clerk, Role.township_approver, Role.county_approver, Role.auditor, Role.service))],
    service: Annotated[IntakeService, Depends(_service)],
) -> dict:
    view = await service.household(household_id)
    if view is None or not principal.may_see(view["region_code"]):
        raise HTTPException(404, f"household {household_id} not found")
    return view


class AssessmentIn(BaseModel):
    """核定救助金额: the amount a caseworker assesses where the policy grants aid but leaves the amount to
    the county; the approval tiers then decide it."""

    model_config = ConfigDict(extra="forbid")

    amount_fen: Fen = Field(gt=0, description="the assessed amount in fen")
    reason: str = Field(min_length=1, max_length=2000, description="why this amount (the household's need)")


class AssessmentOut(BaseModel):
    case_id: str
    accepted: bool
    by: str


@router.post("/cases/{case_id}/assessment", response_model=AssessmentOut,
             summary="A caseworker assesses an amount the policy leaves to the county (核定救助金额)")
async def assess(
    case_id: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")],
    body: AssessmentIn,
    principal: Annotated[Principal, Depends(require_roles(Role.clerk, Role.township_approver, Role.county_approver))],
    request: Request,
) -> AssessmentOut:
    service: IntakeService = request.app.state.intake
    region = await service.case_region(case_id)
    if region is None or not principal.may_see(region):
        raise HTTPException(404, f"case {case_id} not found")
    await update_case(service.temporal, case_id, "assess", dict(
        official=principal.subject, role=str(principal.role), region=principal.region,
        amount_fen=body.amount_fen, reason=body.reason), by=signatory(principal))
    return AssessmentOut(case_id=case_id, accepted=True, by=principal.subject)
