"""What callers give the batch-subsidy pathway, its derived id, and what the workflow answers.

Pure (no I/O): the HTTP route (payment), the inbound-event path (intake), the CLI and the workflow all
import it.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from shared.contracts.money import MAX_PER_PERSON_SUBSIDY_FEN
from shared.contracts.pathways import BATCH_SUBSIDY
from workflows.decisions import SignedAction

PATHWAY = BATCH_SUBSIDY.name  # the registry's key (shared/contracts/pathways.py)
WORKFLOW = "BatchSubsidy"
MEASURES = ("one_time_living_subsidy", "price_linkage")

RegionPrefix = Annotated[str, Field(
    pattern=r"^\d{2}(\d{2}(\d{2}(\d{3})?)?)?$",
    description="GB/T 2260 prefix: province (2), prefecture (4), county (6), township (9)")]
YearMonth = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
Measure = Literal["one_time_living_subsidy", "price_linkage"]

DEFAULT_CHUNK_SIZE = 5000


class BatchRequest(BaseModel):
    """``POST /api/batches``; also what intake builds from ``price.linkage_triggered``.

    ``amount_fen_per_person``: price linkage: the event's amount (raised to a pack's minimum where a pack
    sets one); one-time subsidy: only where the pack leaves the amount open (Fujian, Jiangxi) or sets a
    floor (Xinjiang "不低于300元"); where the pack fixes it (Ningxia 600 = 3 x 200) it must be left out.
    """

    model_config = ConfigDict(extra="forbid")

    measure: Measure
    region_prefix: RegionPrefix
    snapshot_on: date = Field(description="who is a recipient is decided as of this date (the business date)")
    amount_fen_per_person: StrictInt | None = Field(default=None, gt=0, le=MAX_PER_PERSON_SUBSIDY_FEN)
    categories: list[str] | None = Field(default=None, description="default: the measure's eligible categories")
    month: YearMonth | None = Field(
        default=None, description="price linkage: the month it is for (default: the snapshot's)")
    chunk_size: StrictInt = Field(default=DEFAULT_CHUNK_SIZE, ge=100, le=50_000)
    payment_events: bool = Field(default=True, description="also publish one doudi.payment.disbursed per payment")
    cause_event_id: str | None = Field(default=None, max_length=200)
    requested_by: str = Field(default="system", max_length=200)

    @field_validator("categories")
    @classmethod
    def _categories(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned = sorted({c.strip() for c in value if c.strip()})
        if not cleaned:
            raise ValueError("categories: give at least one, or leave it out for the measure's own")
        for c in cleaned:
            if not c.replace("_", "").isalnum():
                raise ValueError(f"categories: {c!r} is not a category name")
        return cleaned

    @model_validator(mode="after")
    def _month(self) -> BatchRequest:
        if self.measure == "price_linkage" and self.month is None:
            self.month = f"{self.snapshot_on:%Y-%m}"
        if self.measure != "price_linkage" and self.month is not None:
            raise ValueError("month: only a price-linkage batch is for a month")
        return self

    def identity(self) -> dict[str, Any]:
        """The parameters that make two requests the same batch (a repeat must match them)."""
        return {"measure": self.measure, "region_prefix": self.region_prefix,
                "snapshot_on": self.snapshot_on.isoformat(), "amount_fen_per_person": self.amount_fen_per_person,
                "categories": self.categories, "month": self.month}


def batch_id_for(measure: str, region_prefix: str, occasion: str) -> str:
    """Derived, so a repeated request (or a redelivered event) lands on the same batch: one batch per
    measure, region and occasion (the price-linkage month; the policy pack whose one-time subsidy it is)."""
    digest = hashlib.sha256(f"{measure}|{region_prefix}|{occasion}".encode()).hexdigest()[:20]
    return f"batch-{digest}"


def price_linkage_occasion(month: str) -> str:
    return f"month:{month}"


def price_linkage_amount(lib: Any, region_prefix: str, on: date, rise_permille: int | None) -> tuple[int | None, str]:
    """The temporary price subsidy per person, computed by doudi, never taken from the event: the region's
    urban dibao monthly standard x ``price_linkage_standard_multiple`` x the index rise (per mille), rounded
    half up to the fen (national pack, labelled local practice: no seed gives the formula), raised to the
    pack's minimum (Xinjiang 「城乡价格临时补贴最低标准…提高至 20元」, seed 000) and held under the pack's ceiling
    (``price_linkage_max_fen``, local practice). (None, why) when nothing can be computed."""
    def figure(name: str) -> Any:
        fig = lib.parameter(name, region_prefix, on)
        return None if fig is None else fig.value
    standard, multiple = figure("dibao_urban_monthly_fen"), figure("price_linkage_standard_multiple")
    floor, ceiling = figure("price_linkage_min_fen"), figure("price_linkage_max_fen")
    computed = None
    if rise_permille is not None and isinstance(standard, int) and multiple is not None:
        exact = Decimal(standard) * Decimal(multiple) * rise_permille / 1000
        computed = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    amount = max(x for x in (computed, floor, 0) if isinstance(x, int))
    if amount <= 0:
        return None, (f"no price-linkage amount for {region_prefix} on {on.isoformat()}: "
                      + ("the event reports no price index rise" if rise_permille is None
                         else "no urban dibao standard in force to apply the index to") + " and no pack minimum")
    why = (f"{standard} fen x {multiple} x {rise_permille}/1000 = {computed} fen" if computed is not None
           else "no index to compute from")
    if isinstance(floor, int) and amount == floor and (computed is None or computed < floor):
        why += f"; the pack's minimum {floor} fen"
    if isinstance(ceiling, int) and amount > ceiling:
        amount, why = ceiling, why + f"; held at the pack's ceiling {ceiling} fen"
    return amount, why


class InstallmentPlan(BaseModel):
    sequence: int = Field(ge=1)
    month: str
    due_at: datetime | None = Field(description="month start, China time; None = pay at once")


class BatchPlan(BaseModel):
    """What ``payment.batch_plan`` decided (recorded in the workflow's history, with the pack applied)."""

    batch_id: str
    accepted: bool
    reason: str
    status: str
    installments: list[InstallmentPlan] = Field(default_factory=list)
    policy: dict[str, Any] | None = None
    region_prefix: str = ""


class BatchControl(SignedAction):
    """An official pauses, resumes or cancels a batch (a validated update; signed by the payment service)."""

    action: Literal["pause", "resume", "cancel"]
    official: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=1000)


class BatchResume(BaseModel):
    """Carried over continue-as-new: where the chunk loop stands."""

    plan: BatchPlan
    chunks: int
    installment_index: int
    next_chunk: int
    paid_count: int
    paid_fen: int
    chunks_done: int
    paused: bool = False


class BatchSubsidyInput(BaseModel):
    batch_id: str
    request: BatchRequest
    parallel_chunks: int = Field(default=3, ge=1, le=16)
    chunks_per_run: int = Field(default=500, ge=1, description="continue-as-new after this many chunk activities")
    resume: BatchResume | None = None


class BatchResult(BaseModel):
    batch_id: str
    outcome: Literal["completed", "cancelled", "rejected"]
    paid_count: int
    paid_fen: int
    chunks_done: int
    reason: str = ""


class BatchProgress(BaseModel):
    """Where a batch stands (query ``progress``, and what a control update answers)."""

    batch_id: str
    stage: str
    paused: bool
    cancelled: bool
    installment_index: int
    next_chunk: int
    chunks: int
    paid_count: int
    paid_fen: int
    chunks_done: int


class BatchRequestView(BaseModel):
    """What a running batch pays (its request's identity, ``BatchRequest.identity``) and the event that
    started it (query ``request``)."""

    measure: str
    region_prefix: str
    snapshot_on: str  # ISO date, as the identity compares it
    amount_fen_per_person: int | None = None
    categories: list[str] | None = None
    month: str | None = None
    cause_event_id: str | None = None
