"""Administration (the operations team), HTTP only: stalled cases, re-driving a failed step, resetting a
case after a fix, dead-lettered events, the bus and its alerts, the audit log. Every action is audited
(who, when, why) in the append-only audit log; the work is done by ``sweep``, ``replay``,
``dead_letters`` and ``bus_health``, the statements by ``store``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as FastApiPath
from pydantic import BaseModel, ConfigDict, Field

from services.operations import bus_health, store
from services.operations.dead_letters import (
    ApproveRedeliveryIn,
    CorrectionUnreadable,
    DeadLetter,
    DeadLetterDesk,
    DeadLetterNotFound,
    NotASecondPerson,
    RedeliverIn,
    RedeliveryConflict,
    RedeliveryOut,
)
from services.operations.replay import CaseNotFound, NothingToReset, reset_to_last_good_task
from services.operations.store import OperationsStore
from services.operations.sweep import sweep
from shared.auth import Principal, ProvinceAdmin, Role, require_roles
from shared.infra.case_updates import signatory, update_case
from shared.infra.officials_registry import REGISTRY_UNAVAILABLE, RegistryUnavailable
from workflows.common import CaseSteps, RetryRequest

router = APIRouter(prefix="/api")

Admin = Annotated[Principal, Depends(require_roles())]  # admin only
Watcher = Annotated[Principal, Depends(require_roles(Role.auditor, Role.county_approver,
                                                     Role.township_approver))]
Auditor = Annotated[Principal, Depends(require_roles(Role.auditor))]
DlqSeq = Annotated[int, FastApiPath(ge=1, le=2**63 - 1)]


def _ops(request: Request) -> OperationsStore:
    return request.app.state.ops  # set by main.build


def _desk(request: Request) -> DeadLetterDesk:
    return request.app.state.dead_letters  # set by main.build


Ops = Annotated[OperationsStore, Depends(_ops)]
Desk = Annotated[DeadLetterDesk, Depends(_desk)]


@contextmanager
def _refusals() -> Iterator[None]:
    """The dead-letter desk's refusals as status codes."""
    try:
        yield
    except DeadLetterNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except RedeliveryConflict as exc:
        raise HTTPException(409, str(exc)) from None
    except CorrectionUnreadable as exc:
        raise HTTPException(422, str(exc)) from None
    except NotASecondPerson as exc:
        raise HTTPException(403, str(exc)) from None
    except RegistryUnavailable as exc:  # four eyes cannot be checked: fail closed
        raise HTTPException(503, REGISTRY_UNAVAILABLE.format(exc)) from None


# ---- stalled cases, the sweep, replay ---------------------------------------------------------------------

class StalledCase(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "case_id": "em-7f3c2a91", "pathway": "emergency_relief", "status": "open", "stage": "approved",
            "region_code": "640104",
            "stalled_reason": "payment attempt 5/6 (payment.disburse); last failure: activity StartToClose timeout",
            "stalled_reason_zh": "支付第 5/6 次尝试（payment.disburse）；上次失败：activity StartToClose timeout",
            "stalled_at": "2026-12-01T08:30:04+08:00", "updated_at": "2026-12-01T08:30:00+08:00",
            "workflow_url": "http://127.0.0.1:8233/namespaces/doudi/workflows/em-7f3c2a91",
        },
    ]})

    case_id: str
    pathway: str
    status: str
    stage: str
    region_code: str | None
    stalled_reason: str | None
    stalled_reason_zh: str | None = Field(default=None, description="the reason in Chinese (停滞原因)")
    stalled_at: datetime | None
    updated_at: datetime
    workflow_url: str


@router.get("/admin/stalled", response_model=list[StalledCase], summary="Stalled cases in your jurisdiction")
async def list_stalled(principal: Watcher, request: Request, ops: Ops,
                       limit: Annotated[int | None, Query(ge=1, le=100_000, description=(
                           "at most this many, longest stalled first (all when absent)"))] = None,
                       ) -> list[StalledCase]:
    rt = request.app.state.runtime
    async with ops.read() as conn:
        rows = await store.stalled_cases(conn, principal.region, limit=limit)
    ui = f"{rt.settings.temporal_ui_url}/namespaces/{rt.settings.temporal_namespace}/workflows/"
    return [StalledCase(**{k: r[k] for k in StalledCase.model_fields if k != "workflow_url"},
                        workflow_url=ui + r["case_id"]) for r in rows]


class SweepOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"checked": 42, "stalled": ["em-7f3c2a91"], "recovered": []},
    ]})

    checked: int
    stalled: list[str]
    recovered: list[str]


@router.post("/admin/sweep", response_model=SweepOut, summary="Run the stalled-case sweep now")
async def run_sweep(principal: ProvinceAdmin, request: Request, ops: Ops) -> SweepOut:
    rt = request.app.state.runtime
    stuck_after = timedelta(seconds=rt.settings.stuck_step_seconds)
    result = await sweep(ops, rt.temporal, datetime.now(UTC), stuck_after)
    await ops.audit(principal, "sweep", None, "on demand", {"stalled": result.stalled})
    return SweepOut(checked=result.checked, stalled=result.stalled, recovered=result.recovered)


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"mode": "retry", "reason": "支付服务已恢复，重试支付步骤"},
    ]})

    mode: Literal["retry", "reset"]
    reason: str = Field(min_length=1, max_length=2000)


class ReplayOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"case_id": "em-7f3c2a91", "mode": "retry", "detail": "retrying payment"},
    ]})

    case_id: str
    mode: str
    detail: str


@router.post("/cases/{case_id}/replay", response_model=ReplayOut, summary="Re-drive a stalled case")
async def replay(case_id: str, body: ReplayIn, principal: Admin, request: Request, ops: Ops) -> ReplayOut:
    """``retry`` re-runs the step that failed after its retries and waits for a person (the workflow's
    ``retry_failed_step`` update); ``reset`` resets the workflow to the last good workflow task before the
    failure, after a fix is deployed (Temporal reset: the history up to there is kept)."""
    rt = request.app.state.runtime
    if body.mode == "retry":
        retry = RetryRequest(official=principal.subject, role=str(principal.role), reason=body.reason,
                             region=principal.region)
        detail = await update_case(rt.temporal, case_id, CaseSteps.retry_failed_step, retry,
                                   by=signatory(principal))
    else:
        try:
            detail = await reset_to_last_good_task(rt.temporal, rt.settings.temporal_namespace, case_id,
                                                   body.reason)
        except CaseNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except NothingToReset as exc:
            raise HTTPException(409, str(exc)) from None
    await ops.audit(principal, f"replay.{body.mode}", case_id, body.reason, {"detail": str(detail)})
    return ReplayOut(case_id=case_id, mode=body.mode, detail=str(detail))


# ---- dead letters ---------------------------------------------------------------------------------

EventIdFilter = Annotated[str | None, Query(min_length=1, max_length=200,
                                            description="only the letters of this event id")]


@router.get("/admin/dlq", response_model=list[DeadLetter],
            summary="Dead-lettered inbound events, newest first")
async def list_dlq(principal: ProvinceAdmin, desk: Desk, limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
                   event_id: EventIdFilter = None) -> list[DeadLetter]:
    return await desk.newest(limit, event_id)


@router.post("/admin/dlq/{seq}/redeliver", response_model=RedeliveryOut,
             summary=("Redeliver a dead-lettered event once, corrected "
                      "(a changed person or amount: four eyes)"))
async def redeliver(seq: DlqSeq, body: RedeliverIn, principal: ProvinceAdmin, desk: Desk) -> RedeliveryOut:
    """Once per dead letter: a second redelivery of the same sequence is refused (409), whatever its
    body. The body published is kept sealed (AES-GCM) in the audit log. A correction that changes the
    person or an amount is only recorded (202-like status ``awaiting_second_official``): another
    administrator approves it (``POST /api/admin/dlq/{seq}/approve``) before it is published."""
    with _refusals():
        return await desk.redeliver(seq, body, principal)


@router.post("/admin/dlq/{seq}/approve", response_model=RedeliveryOut,
             summary="The second official approves a corrected redelivery that changes a person or an amount")
async def approve_redelivery(seq: DlqSeq, body: ApproveRedeliveryIn, principal: ProvinceAdmin,
                             desk: Desk) -> RedeliveryOut:
    """Four eyes by registered person (shared/infra/officials_registry.py): 403 for the requester, a second
    login of the same person or an unregistered official; 503 when the registry cannot answer."""
    with _refusals():
        return await desk.approve(seq, body, principal)


# ---- the bus --------------------------------------------------------------------------------------

class BusOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "streams": [
                {
                    "stream": "DOUDI_EVENTS", "messages": 1204, "bytes": 1830000, "max_bytes": 10737418240,
                    "max_age_s": 31536000.0, "used": 0.0002, "near_limit": False, "why": "",
                },
            ],
            "consumers": [
                {
                    "stream": "DOUDI_EVENTS", "durable": "intake-health-quarantined", "pending": 0, "ack_pending": 0,
                    "redelivered": 0, "max_deliver": 10, "backoff_s": [1.0, 5.0, 30.0], "found": True,
                },
            ],
            "open_alerts": 0,
        },
    ]})

    streams: list[bus_health.StreamState]
    consumers: list[bus_health.ConsumerState]
    open_alerts: int


@router.get("/admin/bus", response_model=BusOut,
            summary="Streams against their limits, consumers' lag and redeliveries")
async def bus_state(principal: ProvinceAdmin, request: Request, ops: Ops) -> BusOut:
    nats_url = request.app.state.runtime.settings.nats_url
    streams = await bus_health.check_streams(ops, nats_url)
    consumers = await bus_health.consumer_states(nats_url)
    async with ops.read() as conn:
        open_alerts = await store.open_alert_count(conn)
    return BusOut(streams=streams, consumers=consumers, open_alerts=open_alerts)


class AlertOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "alert_id": "dlq:doudi.dlq.events:17", "kind": "dead_letter",
            "subject": "doudi.events.health.quarantined", "event_id": "evt-health-20220810-0002",
            "reason": "data.person_id: 身份证号码校验位错误", "detail": {"seq": 17},
            "raised_at": "2026-12-01T08:30:00+08:00", "cleared_at": None,
        },
    ]})

    alert_id: str
    kind: str
    subject: str | None
    event_id: str | None
    reason: str
    detail: dict[str, Any]
    raised_at: datetime
    cleared_at: datetime | None


@router.get("/admin/alerts", response_model=list[AlertOut],
            summary="Bus alerts: dead letters, conflicting duplicates, full streams")
async def alerts(principal: ProvinceAdmin, ops: Ops, kind: bus_health.AlertKind | None = None,
                 open_only: bool = True,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> list[AlertOut]:
    async with ops.read() as conn:
        rows = await store.alerts(conn, kind=kind, open_only=open_only, limit=limit)
    return [AlertOut(**dict(r)) for r in rows]


# ---- the audit log --------------------------------------------------------------------------------

class AuditEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "seq": 12, "at": "2026-12-01T08:30:00+08:00", "actor": "admin.zhao", "role": "admin",
            "action": "replay_retry", "case_id": "em-7f3c2a91", "reason": "支付服务已恢复，重试支付步骤",
            "detail": {},
        },
    ]})

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    case_id: str | None
    reason: str
    detail: dict[str, Any]


@router.get("/admin/audit", response_model=list[AuditEntry], summary="The audit log")
async def audit_log(principal: Auditor, ops: Ops, case_id: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> list[AuditEntry]:
    # a regional auditor reads the trail of the cases of their jurisdiction only
    async with ops.read() as conn:
        rows = await store.audit_entries(conn, jurisdiction=principal.region, case_id=case_id, limit=limit)
    return [AuditEntry(**dict(r)) for r in rows]
