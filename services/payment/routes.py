"""Payment's HTTP routes: township reserve funds (乡镇临时救助备用金) and their replenishment.

The front door forwards ``/api/reserves`` here. Routes authorise (role, then jurisdiction: reads need
the township in the caller's region, changes need its county) and hand over to ``ReserveService``; no SQL
here, and its refusals become status codes in one place (``_answers``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from services.payment import models as api
from services.payment.reserve_rules import (
    CreditAboveTarget,
    CreditConflict,
    ReplenishmentNotFound,
    ReplenishmentNotOpen,
    ReserveNotFound,
    county_of,
)
from services.payment.reserves import ReserveService
from shared.auth import Principal, Role, require_jurisdiction, require_roles

router = APIRouter(prefix="/api/reserves", tags=["reserves"])

TownshipCode = Annotated[str, Path(pattern=api.TOWNSHIP_CODE_PATTERN,
                                   description="9-digit township code, or a 6-digit county code")]
Readers = Annotated[Principal, Depends(require_roles(
    Role.finance, Role.county_approver, Role.township_approver, Role.auditor))]
Finance = Annotated[Principal, Depends(require_roles(Role.finance))]
Deciders = Annotated[Principal, Depends(require_roles(Role.finance, Role.county_approver))]


def _service(request: Request) -> ReserveService:
    service: ReserveService = request.app.state.reserves
    return service


Service = Annotated[ReserveService, Depends(_service)]


def _may_read(principal: Principal, code: str) -> None:
    require_jurisdiction(principal, code, what=f"reserve {code}")


def _may_change(principal: Principal, code: str) -> None:
    """Changing a reserve is the county's business: the caller's jurisdiction must hold its county."""
    if not principal.may_see(county_of(code)):
        raise HTTPException(403, f"reserve {code} belongs to county {county_of(code)}, outside your jurisdiction")


@contextmanager
def _answers() -> Iterator[None]:
    try:
        yield
    except (ReserveNotFound, ReplenishmentNotFound) as exc:
        kind = "reserve" if isinstance(exc, ReserveNotFound) else "replenishment request"
        raise HTTPException(404, f"no {kind} {exc.args[0]}") from None
    except (ReplenishmentNotOpen, CreditConflict, CreditAboveTarget) as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("", response_model=api.ReserveList, summary="Reserve balances and open replenishment requests")
async def list_reserves(principal: Readers, service: Service) -> api.ReserveList:
    return await service.overview(principal.region)


@router.get("/{township_code}", response_model=api.ReserveDetail,
            summary="One reserve: balance, threshold, target, open request, movements, waiting payments")
async def get_reserve(township_code: TownshipCode, principal: Readers, service: Service) -> api.ReserveDetail:
    _may_read(principal, township_code)
    with _answers():
        return await service.detail(township_code)


@router.put("/{township_code}", response_model=api.ReserveConfigOut,
            summary="Create a reserve or set its threshold and target (idempotent)")
async def configure_reserve(township_code: TownshipCode, body: api.ReserveConfigIn, principal: Finance,
                            service: Service) -> api.ReserveConfigOut:
    _may_change(principal, township_code)
    return await service.configure(township_code, body)


@router.post("/{township_code}/credits", response_model=api.ReserveCreditOut,
             summary="Fund a reserve up to its approved size (target_fen; above it 409: a replenishment "
                     "request); idempotent by idempotency_key; waiting payments are signalled")
async def credit_reserve(township_code: TownshipCode, body: api.ReserveCreditIn, principal: Finance,
                         service: Service) -> api.ReserveCreditOut:
    _may_change(principal, township_code)
    with _answers():
        return await service.fund(township_code, body, principal)


@router.post("/{township_code}/replenishments/{request_id}/decision", response_model=api.ReplenishmentDecisionOut,
             summary="The county approves (crediting the reserve) or rejects a replenishment request")
async def decide_replenishment(
    township_code: TownshipCode,
    request_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: api.ReplenishmentDecisionIn,
    principal: Deciders,
    service: Service,
) -> api.ReplenishmentDecisionOut:
    _may_change(principal, township_code)
    if body.approve and principal.role != Role.finance:
        # money goes into a reserve only on the county finance department's approval (seed 000: 「县级民政和
        # 财政部门按照实际情况及时给予补充」); a county approver may refuse a request, not credit it
        raise HTTPException(403, "只有县级财政部门可以批准补充备用金 / only the county's finance department approves "
                                 "a replenishment (a credit)")
    with _answers():
        return await service.decide(township_code, request_id, body, principal)
