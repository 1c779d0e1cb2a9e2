"""Reading a batch (``GET /api/batches``): the response models and how a view is built from its rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from services.payment.store import Conn
from services.payment.store import batch_views as store

FINAL = ("completed", "cancelled", "rejected")


class InstallmentView(BaseModel):
    sequence: int
    month: str
    due_at: datetime | None
    status: str
    expected_payments: int
    stopped: int
    paid_count: int
    paid_fen: int
    chunks_done: int
    chunks: int


class AmountView(BaseModel):
    installment: int
    amount_fen: int
    recipients: int
    reason: str


# the example the OpenAPI document shows (validated against the model by tests/unit/test_openapi_examples.py)
_BATCH_EXAMPLE: dict[str, Any] = {
    "batch_id": "batch-64-2022-06", "measure": "one_time_living_subsidy", "region_prefix": "64",
    "snapshot_on": "2022-05-31", "month": None, "categories": ["dibao", "extreme_poverty"], "status": "running",
    "note": "", "amount_note": "", "requested_amount_fen": None,
    "policy": {"pack_id": "ningxia-2022-20-measures", "measure": "one_time_living_subsidy"}, "total": 12000,
    "payable": 12000, "loaded_rows": 12000, "expected_payments": 36000, "expected_fen": 720000000,
    "paid_count": 12000, "paid_fen": 240000000, "chunks_done": 3, "chunk_count": 9, "chunk_size": 5000,
    "percent": 33.3,
    "installments": [
        {
            "sequence": 1, "month": "2022-06", "due_at": None, "status": "paid", "expected_payments": 12000,
            "stopped": 0, "paid_count": 12000, "paid_fen": 240000000, "chunks_done": 3, "chunks": 3,
        },
    ],
    "amounts": [{"installment": 1, "amount_fen": 20000, "recipients": 12000, "reason": "每人每月 200 元"}],
    "payment_events": True, "payment_events_published": 12000, "cause_event_id": None, "requested_by": "finance.sun",
    "second_approved_by": "wang.fang", "created_at": "2026-12-01T08:30:00+08:00",
    "loaded_at": "2026-12-01T08:30:00+08:00", "started_at": "2026-12-01T08:30:00+08:00", "finished_at": None,
    "updated_at": "2026-12-01T08:30:04+08:00", "status_url": "/api/batches/batch-64-2022-06",
}


class BatchView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_BATCH_EXAMPLE]})

    batch_id: str
    measure: str
    region_prefix: str
    snapshot_on: date
    month: str | None
    categories: list[str]
    status: str
    note: str
    amount_note: str
    requested_amount_fen: int | None
    policy: dict[str, Any] | None
    total: int | None = Field(description="recipients in the cohort at the snapshot")
    payable: int | None = Field(description="of them, those the policy pays")
    loaded_rows: int
    expected_payments: int | None
    expected_fen: int | None
    paid_count: int
    paid_fen: int
    chunks_done: int
    chunk_count: int | None = Field(description="chunks over every installment")
    chunk_size: int
    percent: float
    installments: list[InstallmentView]
    amounts: list[AmountView]
    payment_events: bool
    payment_events_published: int
    cause_event_id: str | None
    requested_by: str
    second_approved_by: str | None = Field(default=None, description="four eyes: the second official who "
                                           "approved an amount a person set (never the one who asked)")
    created_at: datetime
    loaded_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    status_url: str


class BatchList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_BATCH_EXAMPLE], "total": 1}]})

    items: list[BatchView]
    total: int


class BatchAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "batch_id": "batch-64-2022-06", "status": "awaiting_approval", "created": True,
            "status_url": "/api/batches/batch-64-2022-06",
        },
    ]})

    batch_id: str
    status: str
    created: bool
    status_url: str


def status_url(batch_id: str) -> str:
    return f"/api/batches/{batch_id}"


def _installment_state(row: asyncpg.Record, chunks_done: int, chunks: int) -> str:
    if row["loaded_at"] is not None and chunks_done >= chunks:
        return "paid"
    if chunks_done:
        return "paying" if row["status"] not in FINAL else row["status"]
    return "due" if row["status"] not in FINAL else "not paid"


async def _installments(conn: Conn, row: asyncpg.Record, per_inst: dict[int, asyncpg.Record],
                        expected: dict[int, int]) -> list[InstallmentView]:
    bid = row["batch_id"]
    stored = await store.installments(conn, bid)
    chunks = row["chunks_per_installment"] or 0
    views = []
    for i in row["installments"] or []:
        seq = i["sequence"]
        done = per_inst.get(seq)
        st = stored.get(seq)
        chunks_done = done["chunks_done"] if done else 0
        views.append(InstallmentView(
            sequence=seq, month=i["month"], due_at=datetime.fromisoformat(i["due_at"]) if i.get("due_at") else None,
            status=_installment_state(row, chunks_done, chunks), expected_payments=expected.get(seq, 0) - (
                await store.stopped_before(conn, bid, seq) if row["loaded_at"] else 0),
            stopped=st["stopped"] if st else 0, paid_count=done["paid_count"] if done else 0,
            paid_fen=done["paid_fen"] if done else 0, chunks_done=chunks_done, chunks=chunks))
    return views


async def batch_view(conn: Conn, row: asyncpg.Record) -> BatchView:
    """The batch, its progress per installment, and how many are paid which amount and why."""
    bid = row["batch_id"]
    per_inst = await store.chunks_per_installment(conn, bid)
    expected = await store.expected_per_installment(conn, bid)
    level_count, level_fen = await store.levels(conn, bid)
    if level_count:  # one installment, each household at its own level
        expected[1] = expected.get(1, 0) + level_count
    amounts = [AmountView(installment=r["installment"], amount_fen=r["amount_fen"], recipients=r["n"],
                          reason=r["reason"]) for r in await store.amounts(conn, bid)]
    if level_count:
        amounts.insert(0, AmountView(installment=1, amount_fen=level_fen, recipients=level_count,
                                     reason="in all: each household's own level for the month (batch_levels)"))
    installments = await _installments(conn, row, per_inst, expected)
    chunks = row["chunks_per_installment"] or 0
    expected_payments = row["expected_payments"]
    percent = (100.0 * row["paid_count"] / expected_payments) if expected_payments else (
        100.0 if row["status"] == "completed" else 0.0)
    return BatchView(
        batch_id=bid, measure=row["measure"], region_prefix=row["region_prefix"], snapshot_on=row["snapshot_on"],
        month=row["month"], categories=list(row["categories"]), status=row["status"], note=row["note"],
        amount_note=row["amount_note"], requested_amount_fen=row["requested_amount_fen"], policy=row["policy"],
        total=row["total"], payable=row["payable"], loaded_rows=row["loaded_rows"],
        expected_payments=expected_payments, expected_fen=row["expected_fen"], paid_count=row["paid_count"],
        paid_fen=row["paid_fen"], chunks_done=row["chunks_done"],
        chunk_count=chunks * len(row["installments"] or []) if row["loaded_at"] else None,
        chunk_size=row["chunk_size"], percent=round(min(percent, 100.0), 2), installments=installments,
        amounts=amounts, payment_events=row["payment_events"],
        payment_events_published=sum(r["published"] for r in per_inst.values()),
        cause_event_id=row["cause_event_id"], requested_by=row["requested_by"],
        second_approved_by=row.get("second_approved_by"), created_at=row["created_at"],
        loaded_at=row["loaded_at"], started_at=row["started_at"], finished_at=row["finished_at"],
        updated_at=row["updated_at"], status_url=status_url(bid))
