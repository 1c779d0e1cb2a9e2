"""Projects domain events into the operations read model, once per event id (inbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.operations import store, store_timeline, timeline_text
from shared.contracts.domain_events import (
    CASE_CLOSED,
    CASE_OPENED,
    CASE_STALLED,
    DUTY_SUBJECTS,
    PAYMENT_DISBURSED,
)
from shared.infra.db import unit_of_work
from shared.infra.outbox import first_delivery


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def project(pool: asyncpg.Pool, subject: str, event: dict[str, Any]) -> bool:
    """Apply one CloudEvent; False when it was applied before."""
    data = event["data"]
    at = _ts(data.get("occurred_at") or data.get("paid_at") or event.get("time"))
    async with unit_of_work(pool) as conn:
        if not await first_delivery(conn, event["id"], subject):
            return False
        if subject in DUTY_SUBJECTS:
            return True  # referrals.py / care_visits.py wrote the read model and the timeline themselves
        if subject == CASE_STALLED:
            pass  # the sweep wrote the flag itself; the event only joins the timeline
        elif subject.startswith("doudi.case."):
            await _project_case(conn, subject, data, at)
        elif subject == PAYMENT_DISBURSED:
            await store.project_payment(conn, data, paid_at=at)
        name = subject.removeprefix("doudi.")
        code, params = timeline_text.message_of(name, data)
        await store_timeline.add_entry(conn, event_id=event["id"], case_id=data["case_id"], at=at, event=name,
                                       status=data.get("status"), stage=data.get("stage"),
                                       note=_note(subject, data), code=code, params=params)
    return True


def _note(subject: str, data: dict[str, Any]) -> str:
    if subject == PAYMENT_DISBURSED:
        installment = data.get("installment", 1)
        return f"paid {data['amount_fen']} fen (installment {installment}), {data['payment_id']}"
    return data.get("note", "")


async def _project_case(conn: store.Conn, subject: str, data: dict[str, Any], at: datetime | None) -> None:
    closed = subject == CASE_CLOSED
    await store.project_case(conn, data, seq=0 if subject == CASE_OPENED else int(data.get("seq", 1)),
                             opened_at=at if subject == CASE_OPENED else None, updated_at=at,
                             outcome=data.get("outcome") if closed else None,
                             reason=data.get("note") if closed else None)
