"""Exports of the office's records (导出): ``GET /api/exports/{kind}.{xlsx|csv}``.

- ``tasks``: the caller's to-do list (待办, approval's inbox for the caller's role and jurisdiction);
- ``roster``: the enrolled households (低保/特困在册户) of a region (intake's roster);
- ``payments``: the ledger rows of a month in a region (payment's ledger; a province's month streams
  through without being held in memory);
- ``statistics``: the monthly report by region and category (``statistics.py``).

Query: ``month=YYYY-MM`` (a month of Beijing time; this month when absent), ``region=<prefix>`` (2, 4, 6 or
9 digits inside the caller's jurisdiction: 403 outside it; the whole jurisdiction when absent). A bad
month or region is a 422 naming the field, in Chinese. Headers are Chinese, amounts yuan with two
decimals (from integer fen), times Beijing time; national IDs masked for the roles that may not see them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from services.operations import statistics
from services.operations.export_sheets import Row, Sheet, Yuan, csv_response, rows_of, xlsx_response
from services.operations.records_client import RecordsClient, Task
from services.operations.records_format import BEIJING, LEDGER_KIND_ZH, beijing_text, measure_zh, pathway_zh
from shared.auth import Principal, Role, require_roles, sees_full_ids

router = APIRouter(prefix="/api/exports", tags=["exports"])

ExportReader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.committee, Role.finance, Role.auditor))]

L = TypeVar("L", bound=BaseModel)
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
REGION = re.compile(r"\d{2}|\d{4}|\d{6}|\d{9}")


class ExportKind(StrEnum):
    tasks = "tasks"
    roster = "roster"
    payments = "payments"
    statistics = "statistics"


class ExportFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"


def invalid(field: str, message: str, value: str) -> HTTPException:
    """A 422 shaped like FastAPI's own, its message in Chinese (and English) naming the field."""
    return HTTPException(422, [{"type": "value_error", "loc": ["query", field], "msg": message, "input": value}])


def export_month(value: str | None) -> str:
    if not value:
        return datetime.now(UTC).astimezone(BEIJING).strftime("%Y-%m")
    if not MONTH.fullmatch(value):
        raise invalid("month", f"字段 month（月份）须为 YYYY-MM 格式，例如 2026-12，收到「{value[:20]}」 / "
                               "month must be YYYY-MM, e.g. 2026-12", value[:20])
    return value


def export_region(principal: Principal, value: str | None) -> str:
    if not value:
        return principal.region
    if not REGION.fullmatch(value):
        raise invalid("region", f"字段 region（地区）须为 2、4、6 或 9 位行政区划代码，收到「{value[:20]}」 / "
                                "region must be a region-code prefix of 2, 4, 6 or 9 digits", value[:20])
    if not principal.may_see(value):
        raise HTTPException(403, f"地区 {value} 不在您的辖区内 / region {value} is outside your jurisdiction")
    return value


def _client(request: Request) -> RecordsClient:
    client: RecordsClient = request.app.state.records  # set by main.build
    return client


Client = Annotated[RecordsClient, Depends(_client)]


@router.get("/{kind}.{fmt}", summary="Export the to-do list, the roster, a month's payments or the monthly "
            "statistics report as xlsx or csv", response_class=Response,
            responses={200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
                                         "text/csv": {}}}})
async def export(
    kind: ExportKind, fmt: ExportFormat, request: Request, principal: ExportReader, client: Client,
    month: Annotated[str | None, Query(description="YYYY-MM (Beijing time); this month if absent")]
    = None,
    region: Annotated[str | None, Query(description="a region-code prefix in your jurisdiction")]
    = None,
) -> Response:
    the_month, prefix = export_month(month), export_region(principal, region)
    sheet = await SHEETS[kind](client, principal, request, the_month, prefix)
    masked = not sees_full_ids(principal.role)
    if fmt == ExportFormat.csv:
        return csv_response(sheet, masked=masked)
    return await xlsx_response(sheet, masked=masked)


def _name(kind: str, month: str, prefix: str) -> str:
    return f"{kind}-{month}-{prefix or 'all'}"


# ---- 待办 ---------------------------------------------------------------------------------------------

TASK_HEADERS = ["任务编号", "案件编号", "救助路径", "事项", "地区代码", "金额（元）", "摘要", "开办时间（北京时间）",
                "办理期限（北京时间）", "是否逾期"]


def _task_row(t: Task) -> Row:
    return [t.task_id, t.case_id, pathway_zh(t.pathway), t.kind, t.region_code,
            Yuan(t.amount_fen) if t.amount_fen is not None else None, t.summary, beijing_text(t.opened_at),
            beijing_text(t.due_at), "是" if t.overdue else "否"]


async def tasks_sheet(client: RecordsClient, principal: Principal, request: Request, month: str,
                      prefix: str) -> Sheet:
    tasks = await client.tasks(request.headers.get("authorization", ""), "待办 / the to-do list")
    mine = [t for t in tasks if t.region_code.startswith(prefix)]
    return Sheet("待办", TASK_HEADERS, rows_of(mine, _task_row), _name("tasks", month, prefix))


# ---- 在册户 -------------------------------------------------------------------------------------------

ROSTER_HEADERS = ["户编号", "保障编号", "户主身份证号", "户主姓名", "地区代码", "城乡", "类别", "状态",
                  "月保障金额（元）", "保障人数", "纳入月份", "已发放至", "下次核查"]
KIND_ZH = {"dibao": "低保", "extreme_poverty": "特困"}
STATUS_ZH = {"active": "在保", "gradual_exit": "渐退", "exit_suspended": "暂缓退出", "terminated": "已停保"}


class RosterLine(BaseModel):
    """A row of intake's ``roster.csv`` (services/intake/store/records.py ``ROSTER_COLUMNS``)."""

    household_id: str
    enrolment_id: str
    person_id: str
    head_name: str
    region_code: str
    urban: bool
    kind: str
    status: str
    level_fen: int
    persons: int
    enrolled_from: str
    paid_through: str
    next_review: str


def _roster_row(r: RosterLine) -> Row:
    return [r.household_id, r.enrolment_id, r.person_id, r.head_name, r.region_code, "城市" if r.urban else "农村",
            KIND_ZH.get(r.kind, r.kind), STATUS_ZH.get(r.status, r.status), Yuan(r.level_fen), r.persons,
            r.enrolled_from, r.paid_through, r.next_review]


async def roster_sheet(client: RecordsClient, principal: Principal, request: Request, month: str,
                       prefix: str) -> Sheet:
    url, params = f"{client.intake_url}/api/registry/roster.csv", {"region_prefix": prefix, "month": month}
    rows = _streamed(client, principal, url, params, "低保特困名册 / the roster", RosterLine, _roster_row)
    return Sheet("在册户", ROSTER_HEADERS, await primed(rows), _name("roster", month, prefix))


# ---- 发放明细 -----------------------------------------------------------------------------------------

PAYMENT_HEADERS = ["流水号", "支付编号", "类型", "案件编号", "救助路径", "救助项目", "身份证号", "户编号", "地区代码",
                   "金额（元）", "期次", "支付时间（北京时间）"]


class LedgerLine(BaseModel):
    """A row of payment's ``export.csv`` (services/payment/store/ledger_reads.py ``EXPORT_COLUMNS``)."""

    entry_seq: int
    payment_id: str
    kind: str
    case_id: str
    pathway: str
    person_id: str
    household_id: str
    region_code: str
    measure: str
    amount_fen: int
    installment: int
    created_at: datetime


def _payment_row(r: LedgerLine) -> Row:
    return [r.entry_seq, r.payment_id, LEDGER_KIND_ZH.get(r.kind, r.kind), r.case_id, pathway_zh(r.pathway),
            measure_zh(r.measure), r.person_id, r.household_id, r.region_code, Yuan(r.amount_fen), r.installment,
            beijing_text(r.created_at)]


async def payments_sheet(client: RecordsClient, principal: Principal, request: Request, month: str,
                         prefix: str) -> Sheet:
    url, params = f"{client.payment_url}/api/ledger/export.csv", {"region_prefix": prefix, "month": month}
    rows = _streamed(client, principal, url, params, "支付台账 / the ledger", LedgerLine, _payment_row)
    return Sheet("发放明细", PAYMENT_HEADERS, await primed(rows), _name("payments", month, prefix))


async def _streamed(client: RecordsClient, principal: Principal, url: str, params: dict[str, str], what: str,
                    line: type[L], to_row: Callable[[L], Row]) -> AsyncIterator[Row]:
    """A service's CSV export, row by row, as it arrives."""
    async for r in client.rows(line, url, principal, what, params):
        yield to_row(r)


async def primed(rows: AsyncIterator[Row]) -> AsyncIterator[Row]:
    """The rows, the first already read: a service that cannot answer is a 503 before the export starts,
    not a cut file."""
    first = await anext(rows, None)

    async def all_rows() -> AsyncIterator[Row]:
        if first is None:
            return
        yield first
        async for row in rows:
            yield row

    return all_rows()


# ---- 月度统计 -----------------------------------------------------------------------------------------

async def statistics_sheet(client: RecordsClient, principal: Principal, request: Request, month: str,
                           prefix: str) -> Sheet:
    rows = await statistics.monthly_report(client, principal, month, prefix)
    return Sheet("月度统计", statistics.HEADERS, rows_of(rows, lambda r: statistics.sheet_row(month, r)),
                 _name("statistics", month, prefix))


SHEETS = {ExportKind.tasks: tasks_sheet, ExportKind.roster: roster_sheet, ExportKind.payments: payments_sheet,
          ExportKind.statistics: statistics_sheet}
