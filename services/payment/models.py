"""Payment's API: the HTTP bodies of the township reserve routes and the payload of
``doudi.payment.recovery_opened``. Money is integer fen; a float amount is refused (422)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

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

    model_config = ConfigDict(extra="forbid")

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

    model_config = ConfigDict(extra="forbid")

    amount_fen: PositiveFen
    idempotency_key: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/-]+$")
    reason: str = Field(min_length=1, max_length=500)


class ReplenishmentDecisionIn(BaseModel):
    """The county (finance or a county approver) decides a replenishment request. Without
    ``amount_fen`` an approval grants what was asked."""

    model_config = ConfigDict(extra="forbid")

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


class ReserveList(BaseModel):
    items: list[ReserveView]


class ReserveDetail(ReserveView):
    movements: list[MovementView] = Field(description="the latest ledger rows on this account, newest first")
    waiting: list[WaitingPaymentView] = Field(description="payments waiting for this reserve, oldest first")
    requests: list[ReplenishmentView] = Field(description="the latest replenishment requests, newest first")


class ReserveConfigOut(BaseModel):
    created: bool
    reserve: ReserveView


class ReserveCreditOut(BaseModel):
    duplicate: bool
    movement: MovementView
    reserve: ReserveView
    signalled: int = Field(description="waiting cases whose workflow was told the reserve was credited")


class ReplenishmentDecisionOut(BaseModel):
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
