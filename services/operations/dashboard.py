"""The operations dashboard (运营工作台): the page a caseworker keeps open all day, and its two
aggregate routes.

- ``GET /`` serves ``static/index.html`` (no auth: the page holds nothing; every data call it makes
  carries the bearer token the person enters once), ``/static/*`` its scripts (dashboard.js, ui.js,
  i18n.js) and style sheet.
- ``GET /api/stats``: case counts by pathway, status, outcome and county, and disbursed payments per
  day over the last days, in the caller's jurisdiction.
- ``GET /api/stats/attention``: the cases that need a person now (stalled, overdue deadlines, lapsed
  deadline flags), longest overdue first.
- ``GET /api/pathways``: every pathway's labels, from the registry (``shared/contracts/pathways.py``).

The case list, a case's timeline and the reserve balances come from the existing routes
(``/api/cases``, ``/api/cases/{id}``, ``/api/reserves``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from services.operations import store, store_care, workbench
from shared.auth import Principal, Role, require_roles
from shared.contracts import pathways
from shared.contracts.api import CaseSummary

STATIC = Path(__file__).parent / "static"

# Payments are counted per local business day where the aid is paid (China Standard Time).
DAY_TIMEZONE = "Asia/Shanghai"

# The page loads only its own script and style sheet and talks only to this origin: a bearer token sits
# in its sessionStorage, so no inline script, no third-party origin, no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                                "base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

# Every official may read the dashboard; service accounts have no business here.
DashboardReader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.committee, Role.finance, Role.auditor))]
RegionPrefix = Annotated[str | None, Query(
    pattern=r"^\d{2,9}$", description="narrow to a region-code prefix inside your jurisdiction")]


class Count(BaseModel):
    key: str
    count: int


class DayPayments(BaseModel):
    day: date = Field(description=f"local day ({DAY_TIMEZONE}) of paid_at")
    count: int
    amount_fen: int = Field(description="sum of the day's disbursed amounts, integer fen")


class PaymentSeries(BaseModel):
    days: int
    timezone: str
    since: date
    until: date
    count: int
    amount_fen: int
    series: list[DayPayments] = Field(
        description="one entry per day, oldest first, days without payments at 0")


class Stats(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "jurisdiction": "640104", "region_code": None, "as_of": "2026-12-01T08:30:00+08:00", "total": 128,
            "open": 9, "stalled": 1, "attention": 3,
            "by_pathway": [{"key": "emergency_relief", "count": 96}, {"key": "renewal", "count": 32}],
            "by_status": [{"key": "closed", "count": 119}, {"key": "open", "count": 9}],
            "by_outcome": [{"key": "paid", "count": 110}, {"key": "not_payable", "count": 9}],
            "by_county": [{"key": "640104", "count": 128}],
            "payments": {
                "days": 1, "timezone": "Asia/Shanghai", "since": "2026-12-01", "until": "2026-12-01", "count": 2,
                "amount_fen": 390000, "series": [{"day": "2026-12-01", "count": 2, "amount_fen": 390000}],
            },
        },
    ]})

    jurisdiction: str = Field(description="the caller's region prefix; empty = everywhere")
    region_code: str | None = None
    as_of: datetime
    total: int
    open: int = Field(description="cases not closed")
    stalled: int
    attention: int = Field(description="cases GET /api/stats/attention lists")
    by_pathway: list[Count]
    by_status: list[Count]
    by_outcome: list[Count] = Field(description="closed cases by outcome")
    by_county: list[Count] = Field(description="by county: the first six digits of the region code")
    payments: PaymentSeries


class OverdueDeadline(BaseModel):
    kind: str | None
    due: str | None


class AttentionItem(CaseSummary):
    stalled: bool
    flags: list[str]
    escalated_to: str | None = None
    overdue: list[OverdueDeadline] = Field(description="deadlines past due while the case is open")
    oldest_due: datetime | None
    reasons: list[str] = Field(description="stalled, overdue:<deadline kind>, or a lapsed-deadline flag")
    stalled_reason: str | None = Field(default=None, description="why the sweep found it stalled", examples=[
        "payment attempt 5/6 (payment.disburse); running since 2026-12-01T12:00:05+00:00 on 4242@payment; "
        "last failure: activity StartToClose timeout"])
    stalled_reason_zh: str | None = Field(default=None, description="同上，中文", examples=[
        "支付第 5/6 次尝试（payment.disburse）；上次失败：activity StartToClose timeout"])
    stalled_at: datetime | None = None
    opened_at: datetime | None
    updated_at: datetime | None
    workflow_url: str


class PathwayLabel(BaseModel):
    """A pathway's name on screen (the registry, shared/contracts/pathways.py): the page never shows a key."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"key": "emergency_relief", "label_zh": "临时救助", "label_en": "Emergency relief", "older_names": []},
    ]})

    key: str = Field(description="the pathway key cases and filters carry")
    label_zh: str
    label_en: str
    older_names: list[str] = Field(description="names older records may carry for the same pathway")


def pathway_labels() -> list[PathwayLabel]:
    return [PathwayLabel(key=p.name, label_zh=p.label_zh, label_en=p.label_en,
                         older_names=list(p.legacy_names)) for p in pathways.PATHWAYS.values()]


class OverdueCareVisit(BaseModel):
    """A dispersed 特困 person whose visit is overdue (services/operations/care_visits.py)."""

    person_id: str
    name: str | None
    region_code: str
    care_level: str
    caregiver: str
    visit_every_days: int
    last_visited_at: datetime | None
    next_visit_due: datetime


class AttentionList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "items": [
                {
                    "case_id": "em-7f3c2a91", "pathway": "emergency_relief", "status": "open", "stage": "approved",
                    "person_id": "640104198003151020", "household_id": "hh-640104-000123", "region_code": "640104",
                    "stalled": True, "flags": [], "escalated_to": None, "overdue": [], "oldest_due": None,
                    "reasons": ["stalled"],
                    "stalled_reason": "payment attempt 5/6 (payment.disburse); last failure: timeout",
                    "stalled_reason_zh": "支付第 5/6 次尝试（payment.disburse）；上次失败：超时",
                    "stalled_at": "2026-12-01T08:30:04+08:00", "opened_at": "2026-12-01T08:30:00+08:00",
                    "updated_at": "2026-12-01T08:30:00+08:00",
                    "workflow_url": "http://127.0.0.1:8233/namespaces/doudi/workflows/em-7f3c2a91",
                },
            ],
            "total": 1, "as_of": "2026-12-01T08:30:04+08:00",
        },
    ]})

    items: list[AttentionItem]
    total: int
    as_of: datetime
    care_visits: list[OverdueCareVisit] = Field(
        default_factory=list, description="分散供养特困人员 whose visit is overdue, the longest overdue first")
    care_visits_total: int = 0


router = APIRouter(prefix="/api", tags=["dashboard"])


def _counts(values: dict[str, int]) -> list[Count]:
    return [Count(key=k, count=n) for k, n in sorted(values.items(), key=lambda kv: (-kv[1], kv[0] or ""))]


@router.get("/stats", response_model=Stats, summary="Case counts and payments per day in your jurisdiction")
async def stats(
    request: Request,
    principal: DashboardReader,
    region_code: RegionPrefix = None,
    days: Annotated[int, Query(ge=1, le=366, description="payments per day over this many days")] = 30,
) -> Stats:
    async with request.app.state.ops.read() as conn:
        counts = await store.dashboard_counts(conn, jurisdiction=principal.region, region_code=region_code)
        today, paid = await store.payments_per_day(conn, jurisdiction=principal.region,
                                                   region_code=region_code, days=days, tz=DAY_TIMEZONE)
        as_of = await store.database_now(conn)
    since = today - timedelta(days=days - 1)
    series = []
    for i in range(days):
        day = since + timedelta(days=i)
        n, fen = paid.get(day, (0, 0))
        series.append(DayPayments(day=day, count=n, amount_fen=fen))
    return Stats(
        jurisdiction=principal.region, region_code=region_code, as_of=as_of, total=counts["total"],
        open=counts["open"], stalled=counts["stalled"], attention=counts["attention"],
        by_pathway=_counts(counts["by_pathway"]), by_status=_counts(counts["by_status"]),
        by_outcome=_counts(counts["by_outcome"]), by_county=_counts(counts["by_county"]),
        payments=PaymentSeries(days=days, timezone=DAY_TIMEZONE, since=since, until=today,
                               count=sum(d.count for d in series),
                               amount_fen=sum(d.amount_fen for d in series), series=series),
    )


@router.get("/stats/attention", response_model=AttentionList,
            summary="Stalled and overdue cases in your jurisdiction, longest overdue first")
async def attention(
    request: Request,
    principal: DashboardReader,
    region_code: RegionPrefix = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,  # beyond bigint was a 500
) -> AttentionList:
    rt = request.app.state.runtime
    ui, namespace = rt.settings.temporal_ui_url, rt.settings.temporal_namespace
    async with request.app.state.ops.read() as conn:
        rows, total = await store.attention_cases(conn, jurisdiction=principal.region,
                                                  region_code=region_code, limit=limit, offset=offset)
        visits, visits_total = await store_care.overdue_visits(conn, jurisdiction=principal.region,
                                                               region_code=region_code, limit=limit)
        as_of = await store.database_now(conn)
    items = []
    for r in rows:
        overdue = [OverdueDeadline(**d) for d in (r["overdue"] or [])]
        flags = list(r["flags"] or [])
        reasons = (["stalled"] if r["stalled"] else []) + [f"overdue:{d.kind}" for d in overdue] + [
            f for f in flags if f in store.ATTENTION_FLAGS] + (
            ["overdue:referral"] if r.get("referral_overdue") else [])  # 转介 past due (referrals.py)
        items.append(AttentionItem(
            case_id=r["case_id"], pathway=r["pathway"], status=r["status"], stage=r["stage"],
            person_id=r["person_id"], household_id=r["household_id"], region_code=r["region_code"],
            stalled=r["stalled"], flags=flags, escalated_to=r["escalated_to"], overdue=overdue,
            oldest_due=r["oldest_due"], reasons=reasons, opened_at=r["opened_at"], updated_at=r["updated_at"],
            stalled_reason=r["stalled_reason"] if r["stalled"] else None,
            stalled_reason_zh=r["stalled_reason_zh"] if r["stalled"] else None,
            stalled_at=r["stalled_at"] if r["stalled"] else None,
            workflow_url=f"{ui}/namespaces/{namespace}/workflows/{r['case_id']}"))
    return AttentionList(items=items, total=total, as_of=as_of, care_visits_total=visits_total,
                         care_visits=[OverdueCareVisit(**{k: v[k] for k in OverdueCareVisit.model_fields})
                                      for v in visits])


@router.get("/pathways", response_model=list[PathwayLabel],
            summary="The pathways and their labels (中文 / English)")
async def pathway_list(principal: DashboardReader) -> list[PathwayLabel]:
    return pathway_labels()


pages = APIRouter(include_in_schema=False)


@pages.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


def install(app: FastAPI) -> None:
    """Mount the dashboard on the operations app: its API routes, the page at ``/``, the workbench at
    ``/workbench/`` (services/operations/workbench.py), their files at ``/static``."""
    app.include_router(router)
    app.include_router(pages)
    workbench.install(app, static=STATIC, headers=PAGE_HEADERS)
    app.mount("/static", StaticFiles(directory=STATIC), name="dashboard-static")
