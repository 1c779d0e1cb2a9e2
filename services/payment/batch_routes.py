"""Payment's HTTP routes for batch subsidies (the front door forwards ``/api/batches`` here).

Routes authorise (role, then jurisdiction: the batch's region must lie inside the caller's) and hand
over to ``BatchService``; the rules live in ``services.payment.batch`` and the workflow. No SQL here;
the service's refusals become status codes in one place (``_answers``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.payment.batch import (
    AWAITING_SECOND,
    BatchAccepted,
    BatchList,
    BatchNotFound,
    BatchNotRunning,
    BatchRejected,
    BatchView,
    first_official,
)
from services.payment.batch.service import BatchService
from shared.auth import Principal, Role, require_jurisdiction, require_roles, visible_to
from shared.config import get_settings
from shared.contracts.money import SubsidyFen
from shared.infra.officials_registry import REGISTRY_UNAVAILABLE, RegistryUnavailable, second_person_refusal
from workflows.batch_subsidy.inputs import BatchControl, BatchRequest

router = APIRouter(prefix="/api/batches", tags=["batches"])

BatchId = Annotated[str, Path(pattern=r"^batch-[0-9a-f]{20}$", description="the derived batch id")]
# finance and admin run batches (a price-linkage event's batch is started by intake on Temporal directly)
Starters = Annotated[Principal, Depends(require_roles(Role.finance))]
Controllers = Annotated[Principal, Depends(require_roles(Role.finance))]
Readers = Annotated[Principal, Depends(require_roles(Role.finance, Role.auditor, Role.county_approver,
                                                     Role.service))]


def _service(request: Request) -> BatchService:
    service: BatchService = request.app.state.batches
    return service


Service = Annotated[BatchService, Depends(_service)]


class BatchIn(BaseModel):
    """``POST /api/batches``: pay a subsidy to every eligible recipient of a region at a snapshot date."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {
            "measure": "one_time_living_subsidy", "region_prefix": "64", "snapshot_on": "2022-05-31",
            "categories": ["dibao", "extreme_poverty"], "chunk_size": 5000, "payment_events": True,
        },
    ]})

    measure: Literal["one_time_living_subsidy", "price_linkage"]
    region_prefix: str = Field(pattern=r"^\d{2}(\d{2}(\d{2}(\d{3})?)?)?$")
    snapshot_on: date = Field(description="who is a recipient is decided as of this date")
    # a sane maximum per recipient (5,000 yuan): above it 422 naming the field, before any plan or payment
    amount_fen_per_person: SubsidyFen | None = None
    categories: list[str] | None = None
    month: str | None = Field(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    chunk_size: int = Field(default=5000, ge=100, le=50_000, strict=True)
    payment_events: bool = True
    cause_event_id: str | None = Field(default=None, max_length=200)


class ControlIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "第二审批人核对名册后同意发放"},
    ]})

    reason: str = Field(min_length=1, max_length=1000)


Action = Literal["pause", "resume", "cancel"]


@contextmanager
def _answers(batch_id: str = "") -> Iterator[None]:
    """The service's refusals as status codes: 404 no such batch, 409 not in a state for it (or four
    eyes refused), the policy's 422 or a conflicting batch's 409, 503 when four eyes cannot be checked."""
    try:
        yield
    except BatchNotFound:
        raise HTTPException(404, f"batch {batch_id} not found") from None
    except BatchNotRunning as exc:
        raise HTTPException(409, str(exc)) from None
    except BatchRejected as rejected:
        raise HTTPException(rejected.status_code, rejected.reason) from None
    except RegistryUnavailable as exc:
        raise HTTPException(503, REGISTRY_UNAVAILABLE.format(exc)) from None


async def _visible(service: BatchService, batch_id: str, principal: Principal) -> BatchView:
    return visible_to(principal, await service.view(batch_id), lambda v: v.region_prefix, f"batch {batch_id}")


@router.post("", status_code=202, response_model=BatchAccepted,
             summary="Start a batch subsidy (idempotent: the same request is the same batch)")
async def start(body: BatchIn, principal: Starters, service: Service) -> BatchAccepted:
    require_jurisdiction(principal, body.region_prefix)
    try:
        req = BatchRequest.model_validate(
            {**body.model_dump(), "requested_by": f"{principal.role}:{principal.subject}"})
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    with _answers():
        return await service.submit(req)


@router.get("", response_model=BatchList, summary="Batches in your jurisdiction, newest first")
async def list_batches(principal: Readers, service: Service,
                       status: Annotated[str | None, Query(max_length=20)] = None,
                       measure: Annotated[str | None, Query(max_length=40)] = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> BatchList:
    return await service.list(jurisdiction=principal.region, status=status, measure=measure, limit=limit)


@router.get("/{batch_id}", response_model=BatchView,
            summary="One batch: status, progress (paid / expected, chunks), installments, amounts and why")
async def get_batch(batch_id: BatchId, principal: Readers, service: Service) -> BatchView:
    return await _visible(service, batch_id, principal)


async def _control(action: Action, batch_id: str, body: ControlIn, principal: Principal,
                   service: BatchService) -> BatchView:
    await _visible(service, batch_id, principal)
    with _answers(batch_id):
        await service.control(batch_id, BatchControl(action=action, official=principal.subject,
                                                     role=str(principal.role), region=principal.region,
                                                     reason=body.reason))
    return await _visible(service, batch_id, principal)


@router.post("/{batch_id}/approve", response_model=BatchView,
             summary="A second official approves a batch whose amount a person set (four eyes); it starts then")
async def approve(batch_id: BatchId, body: ControlIn, principal: Controllers, service: Service) -> BatchView:
    view = await _visible(service, batch_id, principal)
    with _answers(batch_id):
        if view.status == AWAITING_SECOND:
            # four eyes by registered person (shared/infra/officials_registry.py): 409 for a second login of
            # the same person or an unregistered official, 503 when the registry cannot answer
            refusal = await second_person_refusal(get_settings().approval_url, first_official(view.requested_by),
                                                  principal, service="payment")
            if refusal is not None:
                raise BatchNotRunning(refusal)
        await service.approve(batch_id, principal.subject, str(principal.role), body.reason)
    return await _visible(service, batch_id, principal)


@router.post("/{batch_id}/cancel", response_model=BatchView,
             summary="Cancel: no further chunk starts; what was paid stays paid")
async def cancel(batch_id: BatchId, body: ControlIn, principal: Controllers, service: Service) -> BatchView:
    return await _control("cancel", batch_id, body, principal, service)


@router.post("/{batch_id}/pause", response_model=BatchView, summary="Pause after the chunks in flight")
async def pause(batch_id: BatchId, body: ControlIn, principal: Controllers, service: Service) -> BatchView:
    return await _control("pause", batch_id, body, principal, service)


@router.post("/{batch_id}/resume", response_model=BatchView, summary="Resume a paused batch")
async def resume(batch_id: BatchId, body: ControlIn, principal: Controllers, service: Service) -> BatchView:
    return await _control("resume", batch_id, body, principal, service)
