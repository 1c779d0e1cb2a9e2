"""Payment's API: the HTTP bodies of the township reserve routes and the payload of
``doudi.payment.recovery_opened``. Money is integer fen; a float amount is refused (422)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from shared.contracts.money import MAX_RESERVE_TARGET_FEN, Fen

# A movement of money: a whole number of fen, positive, and within what a bigint ledger holds with room.
PositiveFen = Annotated[StrictInt, Field(gt=0, le=10**13, description="amount in fen (1 yuan = 100 fen), > 0")]
# A reserve's threshold and target: the county's approved size of the reserve, within the contract's maximum.
ConfigFen = Annotated[Fen, Field(le=MAX_RESERVE_TARGET_FEN)]

TOWNSHIP_CODE_PATTERN = r"^[0-9]{6}([0-9]{3})?$"


# -- requests ------------------------------------------------------------------------------------

class ReserveConfigIn(BaseModel):
    """Create a reserve or change when it asks the county for more (``PUT /api/reserves/{code}``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"threshold_fen": 200000, "target_fen": 1000000},
    ]})

    threshold_fen: ConfigFen = Field(description="below this balance the township asks the county to replenish")
    target_fen: ConfigFen = Field(description="the county's approved size of the reserve: a replenishment brings the "
                                          "balance back to this (plus waiting payments); a direct funding may "
                                          "bring it up to this and no further")

    @model_validator(mode="after")
    def _target_not_below_threshold(self) -> ReserveConfigIn:
        if self.target_fen < self.threshold_fen:
            raise ValueError("target_fen must not be below threshold_fen")
        return self


class ReserveCreditIn(BaseModel):
    """Finance funds a reserve (``POST /api/reserves/{code}/credits``); idempotent by ``idempotency_key``.
    The credit stands on the reserve's approved size: the balance after it may not exceed ``target_fen``
    (above that, a replenishment request, which the county approves)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"amount_fen": 1000000, "idempotency_key": "initial-650102001", "reason": "initial allocation"},
    ]})

    amount_fen: PositiveFen
    idempotency_key: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/-]+$")
    reason: str = Field(min_length=1, max_length=500)


class ReplenishmentDecisionIn(BaseModel):
    """The county (finance or a county approver) decides a replenishment request. Without
    ``amount_fen`` an approval grants what was asked."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"approve": True, "amount_fen": 180000, "reason": "同意补充乡镇备用金"},
    ]})

    approve: StrictBool
    amount_fen: PositiveFen | None = None
    reason: str = Field(min_length=1, max_length=500)


# -- responses -----------------------------------------------------------------------------------

class ReplenishmentView(BaseModel):
    request_id: str
    township_code: str
    amount_fen: int
    status: Literal["open", "approved", "rejected"]
    requested_at: datetime
    updated_at: datetime
    approved_amount_fen: int | None = None
    decided_by: str | None = None
    decided_role: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


class MovementView(BaseModel):
    """One ledger row on a reserve's account. ``direction``: ``in`` (reserve_credit) or ``out``
    (disbursement); amounts are always positive."""

    entry_seq: int
    entry_id: str
    kind: Literal["disbursement", "reserve_credit", "recovery_claim"]
    direction: Literal["in", "out", "claim"]
    amount_fen: int
    idempotency_key: str
    case_id: str | None = None
    person_id: str | None = None
    reference: str | None = None
    note: str | None = None
    recorded_by: str | None = None
    created_at: datetime


class WaitingPaymentView(BaseModel):
    idempotency_key: str
    case_id: str
    amount_fen: int
    since: datetime
    last_attempt_at: datetime
    replenishment_request_id: str | None = None
    signalled_at: datetime | None = None
    last_signal_error: str | None = None


class ReserveView(BaseModel):
    township_code: str
    county_code: str
    account: str
    balance_fen: int
    threshold_fen: int
    target_fen: int
    waiting_count: int
    waiting_fen: int
    open_request: ReplenishmentView | None = None
    updated_at: datetime


# the example the OpenAPI document shows (validated against the model by tests/unit/test_openapi_examples.py)
_RESERVE_EXAMPLE: dict[str, Any] = {
    "township_code": "650102001", "county_code": "650102", "account": "township-reserve:650102001",
    "balance_fen": 820000, "threshold_fen": 200000, "target_fen": 1000000, "waiting_count": 0, "waiting_fen": 0,
    "open_request": None, "updated_at": "2026-12-01T08:30:00+08:00",
}


_MOVEMENT_EXAMPLE: dict[str, Any] = {
    "entry_seq": 311, "entry_id": "led-311", "kind": "reserve_credit", "direction": "in", "amount_fen": 1000000,
    "idempotency_key": "initial-650102001", "reference": None, "note": "initial allocation",
    "recorded_by": "finance.sun", "created_at": "2026-12-01T08:30:00+08:00",
}


_REQUEST_EXAMPLE: dict[str, Any] = {
    "request_id": "rr-650102001-3", "township_code": "650102001", "amount_fen": 180000, "status": "approved",
    "requested_at": "2026-12-01T08:30:00+08:00", "updated_at": "2026-12-01T08:30:04+08:00",
    "approved_amount_fen": 180000, "decided_by": "wang.fang", "decided_role": "county_approver",
    "decided_at": "2026-12-01T08:30:04+08:00", "reason": "备用金不足以支付一笔 1,800 元救助",
}


class ReserveList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_RESERVE_EXAMPLE]}]})

    items: list[ReserveView]


class ReserveDetail(ReserveView):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "township_code": "650102001", "county_code": "650102", "account": "township-reserve:650102001",
            "balance_fen": 820000, "threshold_fen": 200000, "target_fen": 1000000, "waiting_count": 0,
            "waiting_fen": 0, "open_request": None, "updated_at": "2026-12-01T08:30:00+08:00",
            "movements": [_MOVEMENT_EXAMPLE], "waiting": [], "requests": [_REQUEST_EXAMPLE],
        },
    ]})

    movements: list[MovementView] = Field(description="the latest ledger rows on this account, newest first")
    waiting: list[WaitingPaymentView] = Field(description="payments waiting for this reserve, oldest first")
    requests: list[ReplenishmentView] = Field(description="the latest replenishment requests, newest first")


class ReserveConfigOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"created": True, "reserve": _RESERVE_EXAMPLE}]})

    created: bool
    reserve: ReserveView


class ReserveCreditOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"duplicate": False, "movement": _MOVEMENT_EXAMPLE, "reserve": _RESERVE_EXAMPLE, "signalled": 0},
    ]})

    duplicate: bool
    movement: MovementView
    reserve: ReserveView
    signalled: int = Field(description="waiting cases whose workflow was told the reserve was credited")


class ReplenishmentDecisionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"request": _REQUEST_EXAMPLE, "movement": None, "reserve": _RESERVE_EXAMPLE, "signalled": 1},
    ]})

    request: ReplenishmentView
    movement: MovementView | None = None
    reserve: ReserveView
    signalled: int


# -- events --------------------------------------------------------------------------------------

class RecoveryOpenedData(BaseModel):
    """``data`` of ``doudi.payment.recovery_opened``: ``payment_id`` is the payment being recovered."""

    model_config = ConfigDict(extra="allow")

    case_id: str
    pathway: str
    payment_id: str
    claim_id: str
    amount_fen: int
    person_id: str
    region_code: str
    source_account: str
    reason: str
    decided_by: str
    cause_event_id: str | None = None
    opened_at: datetime
