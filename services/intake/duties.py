"""The enrolment duties at the one window (workflows/enrolment_duties): the caseworker's home visit, the
democratic appraisal, objections to the public notice, and the public notice list (张榜公示).

- ``POST /api/cases/{case_id}/home-visit``: 入户调查 findings (disputed or not);
- ``POST /api/cases/{case_id}/appraisal``: 民主评议 (participants, outcome, minutes);
- ``POST /api/cases/{case_id}/objections``: an objection received during the notice (reopens the check);
- ``GET /api/public-notices?region=<prefix>[&open=true]`` and ``.csv`` / ``.xlsx``: the notice list. The
  board shows the applicant's name, the household's size and the monthly amount (seed 001
  「全面落实社会救助对象信息公示制度」); the national ID is always masked (first 6 + ******** + last 4).

Each action is the case's typed, signed update: its validator says whether the case waits for it (409
with the reason otherwise). Intake's activities post and close the notices (one row per case and round:
services/intake/notice_activities.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.intake.store.notices import NoticeBoard
from shared.assertions import Signatory
from shared.auth import Principal, Role, found_in_jurisdiction, mask_ids, require_roles
from shared.infra.case_updates import signatory, update_case
from shared.infra.officials_registry import RegistryUnavailable, registered_official
from workflows.enrolment_duties.inputs import AppraisalRecord, HomeVisitFindings, Objection
from workflows.renewal.workflow import RenewalWorkflow

router = APIRouter(prefix="/api", tags=["enrolment duties"])

CaseId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
Visitor = Annotated[Principal, Depends(require_roles(Role.clerk, Role.township_approver))]
ObjectionTaker = Annotated[Principal, Depends(require_roles(Role.clerk, Role.township_approver,
                                                            Role.county_approver))]
NoticeReader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.committee, Role.auditor))]


class HomeVisitIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"visited_on": "2022-09-06", "disputed": False, "notes": "住房简陋，无大额存款，邻里无异议"}]})

    visited_on: date = Field(description="入户调查的日期 (not in the future)")
    disputed: bool = Field(description="有争议: a democratic appraisal follows")
    notes: str = Field(min_length=1, max_length=4000, description="调查情况")


class AppraisalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"held_on": "2022-09-08", "participants": ["村委会主任", "村民代表甲", "村民代表乙"],
         "outcome": "supported", "minutes": "评议认为经营收入系临时零工，同意纳入"}]})

    held_on: date
    participants: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=1, max_length=100)
    outcome: Literal["supported", "not_supported"]
    minutes: str = Field(min_length=1, max_length=20000, description="评议记录")


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"received_on": "2022-09-10", "objector": "村民丙", "grounds": "申请人有一辆营运货车"}]})

    received_on: date
    objector: str = Field(default="匿名", min_length=1, max_length=200, description="异议人 (may stay anonymous)")
    grounds: str = Field(min_length=1, max_length=4000, description="异议理由")


class DutyRecorded(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"case_id": "db-app-20261201-0007", "accepted": True, "answer": "home visit recorded", "by": "li.caseworker"},
    ]})

    case_id: str
    accepted: bool
    answer: str = Field(description="the case's answer")
    by: str


async def _signatory(request: Request, principal: Principal) -> Signatory:
    """The caller, with the person id the officials registry holds for them, if any: the workflow then
    refuses an official who visits, appraises or takes an objection on their own household's case
    (关系保、人情保). A caseworker need not be registered; a registry that does not answer is a 503."""
    try:
        official = await registered_official(request.app.state.runtime.settings.approval_url, principal.subject,
                                             service="intake")
    except RegistryUnavailable as exc:
        raise HTTPException(503, f"官员登记暂不可用 / the officials registry is unavailable: {exc}") from exc
    return signatory(principal, official.person_id if official is not None and official.active else None)


async def _send(request: Request, case_id: str, principal: Principal, update: Any,
                build: Callable[[str, str, str], Any]) -> DutyRecorded:
    """The case's typed update built from the caller's principal (never from the body), signed by intake."""
    service = request.app.state.intake
    found_in_jurisdiction(principal, await service.case_region(case_id), f"case {case_id}")
    arg = build(principal.subject, str(principal.role), principal.region)
    answer = await update_case(service.temporal, case_id, update, arg, by=await _signatory(request, principal))
    return DutyRecorded(case_id=case_id, accepted=True, answer=str(answer), by=principal.subject)


@router.post("/cases/{case_id}/home-visit", response_model=DutyRecorded,
             summary="入户调查: a caseworker records the home visit's findings")
async def home_visit(case_id: CaseId, body: HomeVisitIn, principal: Visitor, request: Request) -> DutyRecorded:
    return await _send(request, case_id, principal, RenewalWorkflow.record_home_visit,
                       lambda s, r, g: HomeVisitFindings(official=s, role=r, region=g, visited_on=body.visited_on,
                                                         disputed=body.disputed, notes=body.notes))


@router.post("/cases/{case_id}/appraisal", response_model=DutyRecorded,
             summary="民主评议: participants, outcome and minutes of a disputed application's appraisal")
async def appraisal(case_id: CaseId, body: AppraisalIn, principal: Visitor, request: Request) -> DutyRecorded:
    return await _send(request, case_id, principal, RenewalWorkflow.record_appraisal, lambda s, r, g: AppraisalRecord(
        official=s, role=r, region=g, held_on=body.held_on, participants=body.participants, outcome=body.outcome,
        minutes=body.minutes))


@router.post("/cases/{case_id}/objections", response_model=DutyRecorded,
             summary="An objection to the public notice (异议): the check is reopened")
async def objection(case_id: CaseId, body: ObjectionIn, principal: ObjectionTaker,
                    request: Request) -> DutyRecorded:
    return await _send(request, case_id, principal, RenewalWorkflow.record_objection, lambda s, r, g: Objection(
        official=s, role=r, region=g, received_on=body.received_on, objector=body.objector, grounds=body.grounds))


# ---- the public notice list -------------------------------------------------------------------------------

class PublicNotice(BaseModel):
    """One application on the notice board (公示名单)."""

    case_id: str
    round: int
    name: str | None = Field(description="申请人姓名")
    person_id_masked: str = Field(description="身份证号 (masked)")
    region_code: str
    kind: Literal["dibao", "extreme_poverty"]
    household_size: int
    monthly_amount_fen: int
    posted_on: date
    ends_at: datetime
    outcome: Literal["clean", "objected"] | None = Field(description="None while the notice is up")


class PublicNoticeList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "region": "640104",
            "items": [
                {
                    "case_id": "db-app-20261201-0007", "round": 1, "name": "马**",
                    "person_id_masked": "640104********1020", "region_code": "640104", "kind": "dibao",
                    "household_size": 2, "monthly_amount_fen": 130000, "posted_on": "2026-12-01",
                    "ends_at": "2026-12-08T17:00:00+08:00", "outcome": None,
                },
            ],
            "as_of": "2026-12-01T08:30:00+08:00",
        },
    ]})

    region: str
    items: list[PublicNotice]
    as_of: datetime


Region = Annotated[str, Query(pattern=r"^\d{2,9}$", description="a region-code prefix in your jurisdiction")]
OpenOnly = Annotated[bool, Query(alias="open", description="only the notices still up")]
Limit = Annotated[int, Query(ge=1, le=10000)]
KIND_ZH = {"dibao": "最低生活保障", "extreme_poverty": "特困人员救助供养"}
OUTCOME_ZH = {None: "公示中", "clean": "期满无异议", "objected": "有异议，重新核查"}
HEADERS = ["姓名", "身份证号", "地区代码", "救助类别", "家庭人口", "月救助金额（元）", "公示日期", "公示截止", "状态"]


async def _notices(request: Request, principal: Principal, region: str, open_only: bool,
                   limit: int) -> PublicNoticeList:
    found_in_jurisdiction(principal, region if principal.may_see(region) else None, f"region {region}")
    board: NoticeBoard = request.app.state.notice_board
    rows, as_of = await board.list(region_prefix=region, open_only=open_only, limit=limit)
    items = [PublicNotice(person_id_masked=mask_ids(r["person_id"]), **{
        k: r[k] for k in PublicNotice.model_fields if k != "person_id_masked"}) for r in rows]
    return PublicNoticeList(region=region, items=items, as_of=as_of)


def _row(n: PublicNotice) -> list[Any]:
    yuan = Decimal(n.monthly_amount_fen).scaleb(-2).quantize(Decimal("0.01"))  # exact: integer fen to yuan
    return [n.name or "", n.person_id_masked, n.region_code, KIND_ZH[n.kind], n.household_size, yuan,
            n.posted_on.isoformat(), n.ends_at.isoformat(), OUTCOME_ZH[n.outcome]]


def _download(body: bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename={filename}", "Cache-Control": "no-store"})


@router.get("/public-notices", response_model=PublicNoticeList, summary="The public notice list (张榜公示名单)")
async def public_notices(request: Request, principal: NoticeReader, region: Region, open_only: OpenOnly = False,
                         limit: Limit = 1000) -> PublicNoticeList:
    return await _notices(request, principal, region, open_only, limit)


@router.get("/public-notices.csv", summary="The public notice list as CSV (UTF-8 with a byte-order mark)",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def public_notices_csv(request: Request, principal: NoticeReader, region: Region,
                             open_only: OpenOnly = False, limit: Limit = 10000) -> Response:
    notices = await _notices(request, principal, region, open_only, limit)
    out = io.StringIO()
    out.write("\ufeff")  # spreadsheet programs read the Chinese as UTF-8
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows([str(c) for c in _row(n)] for n in notices.items)
    return _download(out.getvalue().encode("utf-8"), "text/csv; charset=utf-8", f"public-notices-{region}.csv")


@router.get("/public-notices.xlsx", summary="The public notice list as an Excel workbook", response_class=Response,
            responses={200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
async def public_notices_xlsx(request: Request, principal: NoticeReader, region: Region,
                              open_only: OpenOnly = False, limit: Limit = 10000) -> Response:
    from openpyxl import Workbook
    notices = await _notices(request, principal, region, open_only, limit)
    book = Workbook()
    sheet = book.worksheets[0]  # a new workbook's one sheet (book.active is typed optional)
    sheet.title = "公示名单"
    sheet.append(HEADERS)
    for n in notices.items:
        sheet.append(_row(n))
        sheet.cell(row=sheet.max_row, column=6).number_format = "0.00"
    out = io.BytesIO()
    book.save(out)
    return _download(out.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     f"public-notices-{region}.xlsx")
