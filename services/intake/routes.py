"""Intake's HTTP routes (served to the public through the front door)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from services.intake.service import IntakeService
from shared.auth import Principal, Role, require_roles
from shared.contracts.api import HouseholdIn, HouseholdOut

router = APIRouter(prefix="/api")


def _service(request: Request) -> IntakeService:
    return request.app.state.intake


@router.post("/households", response_model=HouseholdOut,
             summary="Register or update a household (idempotent by household_id)")
async def register_household(
    household: HouseholdIn,
    principal: Annotated[Principal, Depends(require_roles(Role.clerk, Role.service))],
    service: Annotated[IntakeService, Depends(_service)],
) -> HouseholdOut:
    if not principal.may_see(household.region_code):
        raise HTTPException(403, f"region {household.region_code} is outside your jurisdiction")
    return await service.register_household(household)
