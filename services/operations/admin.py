"""Administration (the operations team): stalled cases, re-driving a failed step, resetting a case after
a fix, dead-lettered events; every action audited (who, when, why) in the append-only audit log."""

from __future__ import annotations

import json
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
import nats
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi import Path as FastApiPath
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from services.operations import dlq_store
from services.operations.sweep import sweep
from shared.auth import Principal, ProvinceAdmin, Role, require_roles
from shared.contracts.events import DLQ_EVENTS_SUBJECT
from shared.infra import bus
from shared.infra.bus import STREAM_DLQ
from shared.infra.case_updates import signatory, update_case
from shared.infra.officials_registry import REGISTRY_UNAVAILABLE, RegistryUnavailable, second_person_refusal

router = APIRouter(prefix="/api")

Admin = Annotated[Principal, Depends(require_roles())]  # admin only
Watcher = Annotated[Principal, Depends(require_roles(Role.auditor, Role.county_approver, Role.township_approver))]


async def audit(pool: asyncpg.Pool, principal: Principal, action: str, case_id: str | None, reason: str,
                detail: dict[str, Any] | None = None) -> None:
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO audit_log (actor, role, action, case_id, reason, detail)"
                           " VALUES ($1, $2, $3, $4, $5, $6)", principal.subject, str(principal.role), action,
                           case_id, reason, detail or {})


class StalledCase(BaseModel):
    case_id: str
    pathway: str
    status: str
    stage: str
    region_code: str | None
    stalled_reason: str | None
    stalled_at: datetime | None
    updated_at: datetime
    workflow_url: str


@router.get("/admin/stalled", response_model=list[StalledCase], summary="Stalled cases in your jurisdiction")
async def list_stalled(principal: Watcher, request: Request) -> list[StalledCase]:
    rt = request.app.state.runtime
    async with rt.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM cases WHERE stalled AND starts_with(region_code, $1)"
                                " ORDER BY stalled_at", principal.region)
    ui = f"{rt.settings.temporal_ui_url}/namespaces/{rt.settings.temporal_namespace}/workflows/"
    return [StalledCase(**{k: r[k] for k in StalledCase.model_fields if k != "workflow_url"},
                        workflow_url=ui + r["case_id"]) for r in rows]


class SweepOut(BaseModel):
    checked: int
    stalled: list[str]
    recovered: list[str]


@router.post("/admin/sweep", response_model=SweepOut, summary="Run the stalled-case sweep now")
async def run_sweep(principal: ProvinceAdmin, request: Request) -> SweepOut:
    rt = request.app.state.runtime
    result = await sweep(rt.pool, rt.temporal, datetime.now(UTC), stuck_after(rt))
    await audit(rt.pool, principal, "sweep", None, "on demand", {"stalled": result.stalled})
    return SweepOut(checked=result.checked, stalled=result.stalled, recovered=result.recovered)


def stuck_after(rt: Any) -> timedelta:
    return timedelta(seconds=rt.settings.stuck_step_seconds)


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["retry", "reset"]
    reason: str = Field(min_length=1, max_length=2000)


class ReplayOut(BaseModel):
    case_id: str
    mode: str
    detail: str


@router.post("/cases/{case_id}/replay", response_model=ReplayOut, summary="Re-drive a stalled case")
async def replay(case_id: str, body: ReplayIn, principal: Admin, request: Request) -> ReplayOut:
    """``retry`` re-runs the step that failed after its retries and waits for a person (the workflow's
    ``retry_failed_step`` update); ``reset`` resets the workflow to the last good workflow task before the
    failure, after a fix is deployed (Temporal reset: the history up to there is kept)."""
    rt = request.app.state.runtime
    if body.mode == "retry":
        detail = await update_case(rt.temporal, case_id, "retry_failed_step",
                                   {"official": principal.subject, "role": str(principal.role), "reason": body.reason,
                                    "region": principal.region}, by=signatory(principal))
    else:
        detail = await reset_to_last_good_task(rt.temporal, rt.settings.temporal_namespace, case_id, body.reason)
    await audit(rt.pool, principal, f"replay.{body.mode}", case_id, body.reason, {"detail": str(detail)})
    return ReplayOut(case_id=case_id, mode=body.mode, detail=str(detail))


async def reset_to_last_good_task(client: Client, namespace: str, case_id: str, reason: str) -> str:
    """Reset to the workflow task that scheduled the step which failed (or, failing that, the last
    completed workflow task): the workflow re-runs from there on today's code."""
    handle = client.get_workflow_handle(case_id)
    try:
        events = [e async for e in handle.fetch_history_events()]
    except Exception as exc:
        raise HTTPException(404, f"case {case_id} not found: {exc}") from None
    failed_activities = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED]
    point = None
    if failed_activities:
        scheduled_id = failed_activities[-1].activity_task_failed_event_attributes.scheduled_event_id
        scheduled = next(e for e in events if e.event_id == scheduled_id)
        point = scheduled.activity_task_scheduled_event_attributes.workflow_task_completed_event_id
    if point is None:
        completed = [e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
        if not completed:
            raise HTTPException(409, "the case has no completed workflow task to reset to")
        point = completed[-1]
    run_id = (await handle.describe()).run_id
    response = await client.workflow_service.reset_workflow_execution(ResetWorkflowExecutionRequest(
        namespace=namespace, workflow_execution=WorkflowExecution(workflow_id=case_id, run_id=run_id),
        reason=reason, workflow_task_finish_event_id=point, request_id=str(uuid.uuid4())))
    return f"reset to event {point}; new run {response.run_id}"


class DeadLetter(BaseModel):
    seq: int
    subject: str
    original_subject: str | None
    reason: str | None
    event_id: str | None
    received_at: datetime | None
    body: str
    redelivered: bool
    redelivery: str | None = None  # awaiting_second_official | publishing | redelivered


async def _dlq_messages(nats_url: str, limit: int, event_id: str | None = None) -> list[Any]:
    """The newest ``limit`` dead letters (optionally of one event id), newest first. The stream is read
    up to its last sequence at the time of the call, so a DLQ still filling cannot keep the read going;
    the oldest-first listing it replaces hid every new letter once a flood of poison passed ``limit``."""
    nc = await bus.connect(nats_url)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(STREAM_DLQ)).state.last_seq
        out: deque[Any] = deque(maxlen=limit)
        if not last:
            return []
        sub = await js.subscribe(DLQ_EVENTS_SUBJECT, ordered_consumer=True,
                                 deliver_policy=nats.js.api.DeliverPolicy.ALL)
        try:
            while True:
                try:
                    m = await sub.next_msg(timeout=0.5)
                except nats.errors.TimeoutError:
                    break
                if event_id is None or (m.headers or {}).get("Doudi-Event-Id") == event_id:
                    out.append(m)
                if m.metadata.sequence.stream >= last:
                    break
        finally:
            await sub.unsubscribe()
        return list(reversed(out))
    finally:
        await nc.close()


@router.get("/admin/dlq", response_model=list[DeadLetter], summary="Dead-lettered inbound events, newest first")
async def list_dlq(principal: ProvinceAdmin, request: Request,
                   limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
                   event_id: Annotated[str | None, Query(min_length=1, max_length=200,
                                                         description="only the letters of this event id")] = None,
                   ) -> list[DeadLetter]:
    rt = request.app.state.runtime
    msgs = await _dlq_messages(rt.settings.nats_url, limit, event_id)
    async with rt.pool.acquire() as conn:
        done = await dlq_store.redelivered_seqs(conn)
    return [DeadLetter(seq=m.metadata.sequence.stream, subject=m.subject,
                       original_subject=(m.headers or {}).get("Doudi-Original-Subject"),
                       reason=(m.headers or {}).get("Doudi-Dlq-Reason"), event_id=(m.headers or {}).get("Doudi-Event-Id"),
                       received_at=m.metadata.timestamp, body=m.data.decode("utf-8", errors="replace"),
                       redelivered=done.get(m.metadata.sequence.stream) == "redelivered",
                       redelivery=done.get(m.metadata.sequence.stream)) for m in msgs]


class RedeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    corrected: dict[str, Any] | None = Field(default=None, description="the corrected CloudEvent (JSON object)")


class RedeliveryOut(BaseModel):
    seq: int
    subject: str
    status: Literal["awaiting_second_official", "redelivered"]
    changes: list[str] = Field(description="what the correction changes that needs a second official")
    changed_fields: list[str] | None = Field(default=None, description="the paths of the event's data it changes "
                                             "(null: the original could not be read)")
    published_seq: int | None = None
    duplicate: bool = False


async def _publish(rt: Any, seq: int, subject: str, data: bytes) -> Any:
    nc = await bus.connect(rt.settings.nats_url)
    try:
        # one message id per dead letter: a repeated publish after a crash is dropped by JetStream
        return await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": dlq_store.message_id(seq)})
    finally:
        await nc.close()


@router.post("/admin/dlq/{seq}/redeliver", response_model=RedeliveryOut,
             summary="Redeliver a dead-lettered event once, corrected (a changed person or amount: four eyes)")
async def redeliver(seq: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)], body: RedeliverIn,
                    principal: ProvinceAdmin, request: Request) -> RedeliveryOut:
    """Once per dead letter: a second redelivery of the same sequence is refused (409), whatever its
    body. The body published is kept sealed (AES-GCM) in the audit log. A correction that changes the
    person or an amount is only recorded (202-like status ``awaiting_second_official``): another
    administrator approves it (``POST /api/admin/dlq/{seq}/approve``) before it is published."""
    rt = request.app.state.runtime
    nc = await bus.connect(rt.settings.nats_url)
    try:
        try:
            msg = await nc.jetstream().get_msg(STREAM_DLQ, seq)
        except nats.js.errors.NotFoundError:
            raise HTTPException(404, f"no dead letter {seq}") from None
    finally:
        await nc.close()
    original = (msg.headers or {}).get("Doudi-Original-Subject")
    if not original or not original.startswith("doudi.events."):
        raise HTTPException(409, f"dead letter {seq} has no inbound subject to return to")
    try:
        # the administrator corrected the masked view: a masked ID left as it was is the original's ID
        data = (json.dumps(dlq_store.unmask(msg.data, body.corrected), ensure_ascii=False).encode()
                if body.corrected is not None else msg.data)
        corrected = data if body.corrected is not None else None
        changed, fields = dlq_store.changes(msg.data, corrected), dlq_store.changed_fields(msg.data, corrected)
    except RecursionError:
        raise HTTPException(422, "corrected: nested too deeply for an event") from None
    codec = rt.temporal.data_converter.payload_codec
    sealed_body = await dlq_store.seal(codec, data)
    async with rt.pool.acquire() as conn:
        claimed = await dlq_store.claim(conn, seq=seq, subject=original, body=data, sealed_body=sealed_body,
                                        changed=changed, requested_by=principal.subject, reason=body.reason)
        if claimed is None:
            before = await dlq_store.existing(conn, seq)
            # the only second attempt allowed: the same body after a crash between the claim and the publish
            if not (before is not None and before["status"] == "publishing"
                    and before["body_sha256"] == dlq_store.digest(data)):
                await audit(rt.pool, principal, "dlq.redeliver_refused", None, body.reason,
                            {"dlq_seq": seq, "body_sha256": dlq_store.digest(data), "sealed_body": sealed_body,
                             "status": before["status"] if before is not None else None})
                raise HTTPException(409, f"dead letter {seq} was redelivered before (or waits for a second "
                                         "official): a dead letter is redelivered once")
    detail = {"dlq_seq": seq, "subject": original, "corrected": body.corrected is not None, "changes": changed,
              "changed_fields": fields,
              "body_sha256": dlq_store.digest(data), "sealed_body": sealed_body}
    if changed:
        await audit(rt.pool, principal, "dlq.redeliver_requested", None, body.reason, detail)
        return RedeliveryOut(seq=seq, subject=original, status="awaiting_second_official", changes=changed,
                             changed_fields=fields)
    ack = await _publish(rt, seq, original, data)
    async with rt.pool.acquire() as conn:
        await dlq_store.published(conn, seq, ack.seq)
    await audit(rt.pool, principal, "dlq.redeliver", None, body.reason, {**detail, "stream_seq": ack.seq})
    return RedeliveryOut(seq=seq, subject=original, status="redelivered", changes=changed, changed_fields=fields,
                         published_seq=ack.seq, duplicate=bool(ack.duplicate))


class ApproveRedeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


async def _another_registered_person(approval_url: str, first_subject: str, principal: Principal) -> None:
    """Four eyes by registered person (shared/infra/officials_registry.py): 403 for a second login of the
    same person or an unregistered official, 503 when the registry cannot answer."""
    try:
        refusal = await second_person_refusal(approval_url, first_subject, principal, service="operations")
    except RegistryUnavailable as exc:
        raise HTTPException(503, REGISTRY_UNAVAILABLE.format(exc)) from None
    if refusal is not None:
        raise HTTPException(403, refusal)


@router.post("/admin/dlq/{seq}/approve", response_model=RedeliveryOut,
             summary="The second official approves a corrected redelivery that changes a person or an amount")
async def approve_redelivery(seq: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)], body: ApproveRedeliveryIn,
                             principal: ProvinceAdmin, request: Request) -> RedeliveryOut:
    rt = request.app.state.runtime
    async with rt.pool.acquire() as conn:
        waiting = await dlq_store.existing(conn, seq)
    if waiting is not None and waiting["status"] == "awaiting_second_official":
        await _another_registered_person(rt.settings.approval_url, waiting["requested_by"], principal)
    async with rt.pool.acquire() as conn:
        row = await dlq_store.approve(conn, seq, principal.subject)
        if row is None:
            before = await dlq_store.existing(conn, seq)
            if before is None or before["status"] != "awaiting_second_official":
                raise HTTPException(409, f"dead letter {seq} has no redelivery waiting for a second official")
            raise HTTPException(403, "the second official must be another person than the one who asked (four eyes)")
    data = await dlq_store.unseal(rt.temporal.data_converter.payload_codec, row["sealed_body"])
    ack = await _publish(rt, seq, row["subject"], data)
    async with rt.pool.acquire() as conn:
        await dlq_store.published(conn, seq, ack.seq)
    await audit(rt.pool, principal, "dlq.redeliver_approved", None, body.reason,
                {"dlq_seq": seq, "subject": row["subject"], "requested_by": row["requested_by"],
                 "changes": list(row["changes"]), "body_sha256": row["body_sha256"], "stream_seq": ack.seq})
    return RedeliveryOut(seq=seq, subject=row["subject"], status="redelivered", changes=list(row["changes"]),
                         published_seq=ack.seq, duplicate=bool(ack.duplicate))


@router.get("/admin/audit", summary="The audit log")
async def audit_log(principal: Annotated[Principal, Depends(require_roles(Role.auditor))], request: Request,
                    case_id: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 200) -> list[dict[str, Any]]:
    # a regional auditor reads the trail of the cases of their jurisdiction only
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM audit_log a WHERE ($1::text IS NULL OR a.case_id = $1)"
                                " AND ($3 = '' OR EXISTS (SELECT 1 FROM cases c WHERE c.case_id = a.case_id"
                                " AND starts_with(c.region_code, $3))) ORDER BY seq DESC LIMIT $2",
                                case_id, limit, principal.region)
    return [dict(r) for r in rows]
