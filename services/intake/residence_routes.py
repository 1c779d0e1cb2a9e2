"""The registration office's notices (户籍地告知): a person registered in its county applied where they live or
work, and the office there decides and pays (services/intake/residence.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.intake.service import IntakeService
from shared.auth import Principal, Role, require_roles

router = APIRouter(prefix="/api", tags=["applications"])


class RegistrationNotice(BaseModel):
    case_id: str
    person_id: str
    kind: str = Field(description="the application's kind (graduate, job_loss, emergency, ...)")
    basis: str = Field(description="habitual_residence (经常居住地) | work_place (务工地) | emergency_place")
    registered_region_code: str = Field(description="your county: where the household is registered")
    deciding_region_code: str = Field(description="the office that decides the case and pays it")
    evidence: str
    status: str = Field(description="the case's status at the deciding office")
    noticed_at: datetime


class RegistrationNotices(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "items": [
                {
                    "case_id": "ta-app-20261201-0042", "person_id": "640104198003151020", "kind": "graduate",
                    "basis": "habitual_residence", "registered_region_code": "360102",
                    "deciding_region_code": "640104", "evidence": "居住证 640104-2026-001234", "status": "sent",
                    "noticed_at": "2026-12-01T08:30:00+08:00",
                },
            ],
            "total": 1,
        },
    ]})

    items: list[RegistrationNotice]
    total: int


@router.get("/registration-notices", response_model=RegistrationNotices,
            summary="Applications by people registered in your jurisdiction, filed where they live or work "
                    "(the deciding office pays; you are informed)")
async def registration_notices(
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(
        Role.clerk, Role.township_approver, Role.county_approver, Role.auditor, Role.service))],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> RegistrationNotices:
    service: IntakeService = request.app.state.intake
    rows, total = await service.registration_notices(principal.region, limit, offset)
    return RegistrationNotices(items=[RegistrationNotice(**{k: r[k] for k in RegistrationNotice.model_fields})
                                      for r in rows], total=total)
