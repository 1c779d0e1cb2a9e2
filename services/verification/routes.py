"""Verification's HTTP routes: the local reference data source and case documents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, ValidationError

from services.verification.documents import (
    CaseNotAnswering,
    CaseNotFound,
    DocumentList,
    DocumentsAccepted,
    DocumentService,
    DocumentsIn,
    SubmissionRejected,
)
from services.verification.sources import DEPARTMENT_BY_NAME, Department
from services.verification.store import ReferenceStore
from shared.auth import Principal, Role, found_in_jurisdiction, require_jurisdiction, require_roles
from shared.contracts.identity import validate_national_id

router = APIRouter(prefix="/api")

CaseId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


# ---- reference data (development / test department source) ---------------------------------------------

# One department's record of one person, as PUT takes it and GET answers it (the OpenAPI document's example):
# 人社部门 knows an unemployment insurance claim and no current employment.
HRSS_EXAMPLE: dict[str, Any] = {"employments": [], "unemployment_insured": True, "unemployment_benefits": [],
                                "pensions": []}

class ReferenceRecordOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "source": "hrss", "department_zh": "人力资源和社会保障部门",
            "department_en": "human resources and social security",
            "person_id": "640104198003151020", "payload": HRSS_EXAMPLE,
            "loaded_at": "2026-12-01T08:30:00+08:00", "created": True,
        },
    ]})

    source: str
    department_zh: str
    department_en: str
    person_id: str
    payload: dict[str, Any]
    loaded_at: datetime
    created: bool | None = None


class SourceInfo(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "source": "hrss", "department_zh": "人力资源和社会保障部门",
            "department_en": "human resources and social security",
            "payload_schema": {"type": "object", "properties": {"unemployment_insured": {"type": "boolean"}}},
        },
    ]})

    source: str
    department_zh: str
    department_en: str
    payload_schema: dict[str, Any]


def _department(source: str) -> Department[Any]:
    department = DEPARTMENT_BY_NAME.get(source)
    if department is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"unknown source {source!r}; known: {', '.join(sorted(DEPARTMENT_BY_NAME))}")
    return department


def _reference(request: Request) -> ReferenceStore:
    return request.app.state.reference  # set by main.build


References = Annotated[ReferenceStore, Depends(_reference)]


def _person(person_id: str, principal: Principal) -> str:
    try:
        pid = validate_national_id(person_id)
    except ValueError as exc:
        raise RequestValidationError([{"type": "value_error", "loc": ("path", "person_id"),
                                       "msg": str(exc), "input": person_id}]) from None
    # a regional account reaches the people of its region only
    found_in_jurisdiction(principal, pid[:6], "record", detail=f"no record of {person_id[:6]}******** here")
    return pid


@router.get("/reference-data", response_model=list[SourceInfo],
            summary="The department sources and the payload each accepts")
async def list_sources(
    _: Annotated[Principal, Depends(require_roles(Role.service, Role.auditor))],
) -> list[SourceInfo]:
    return [SourceInfo(source=d.name, department_zh=d.department_zh, department_en=d.department_en,
                       payload_schema=d.payload_model.model_json_schema())
            for d in DEPARTMENT_BY_NAME.values()]


@router.put("/reference-data/{source}/{person_id}", response_model=ReferenceRecordOut,
            summary="Seed the local reference source: one department's record of one person")
async def put_reference_data(
    source: str,
    person_id: str,
    payload: Annotated[dict[str, Any], Body(description="the source's payload (GET /api/reference-data)",
                                            openapi_examples={"hrss": {"summary": "人社部门：失业保险参保，无在职记录",
                                                                       "value": HRSS_EXAMPLE}})],
    response: Response,
    principal: Annotated[Principal, Depends(require_roles(Role.service))],
    references: References,
) -> ReferenceRecordOut:
    department = _department(source)
    pid = _person(person_id, principal)
    try:
        record = department.payload_model.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None
    normalised = record.model_dump(mode="json")
    loaded_at, created = await references.put(source, pid, normalised)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return ReferenceRecordOut(source=source, department_zh=department.department_zh,
                              department_en=department.department_en, person_id=pid, payload=normalised,
                              loaded_at=loaded_at, created=created)


@router.get("/reference-data/{source}/{person_id}", response_model=ReferenceRecordOut,
            summary="Read one department's record of one person from the local reference source")
async def get_reference_data(
    source: str,
    person_id: str,
    principal: Annotated[Principal, Depends(require_roles(Role.service, Role.auditor))],
    references: References,
) -> ReferenceRecordOut:
    department = _department(source)
    pid = _person(person_id, principal)
    row = await references.get(source, pid)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {source} record for {pid}")
    return ReferenceRecordOut(source=source, department_zh=department.department_zh,
                              department_en=department.department_en, person_id=pid, payload=row["payload"],
                              loaded_at=row["loaded_at"])


# ---- case documents ------------------------------------------------------------------------------------

def _documents(request: Request) -> DocumentService:
    return request.app.state.documents  # set by main.build


Documents = Annotated[DocumentService, Depends(_documents)]
DocumentReader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.committee, Role.auditor, Role.service))]


@router.post("/cases/{case_id}/documents", response_model=DocumentsAccepted,
             status_code=status.HTTP_201_CREATED,
             summary="Supplementary documents/explanation arrive (一证一书, 后补齐说明)",
             responses={404: {"description": "no such case"},
                        409: {"description": "the case's workflow refused the documents"},
                        503: {"description": "the case's workflow did not answer; nothing was recorded"}})
async def submit_documents(
    case_id: CaseId,
    body: DocumentsIn,
    response: Response,
    principal: Annotated[Principal, Depends(require_roles(Role.clerk, Role.township_approver))],
    service: Documents,
) -> DocumentsAccepted:
    try:
        if principal.region and not principal.may_see(await service.case_region(case_id)):
            raise CaseNotFound(f"no case {case_id}")  # a foreign case is unknown (even a replayed submission)
        accepted = await service.submit(case_id, body, principal)
    except CaseNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except SubmissionRejected as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except CaseNotAnswering as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    if accepted.duplicate:
        response.status_code = status.HTTP_200_OK
    return accepted


@router.get("/cases/{case_id}/documents", response_model=DocumentList,
            summary="The documents received for a case")
async def list_documents(case_id: CaseId, principal: DocumentReader, service: Documents) -> DocumentList:
    items = await service.list(case_id)
    if principal.region or not items:
        try:
            region = await service.case_region(case_id)
        except CaseNotFound:
            if not items:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}") from None
            region = None
        require_jurisdiction(principal, region or "", what=f"case {case_id}")
    return DocumentList(case_id=case_id, items=items)
