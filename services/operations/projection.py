"""Projects domain events into the operations read model, once per event id (inbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from shared.contracts.domain_events import CASE_CLOSED, CASE_OPENED, CASE_STALLED, PAYMENT_DISBURSED
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
        if subject == CASE_STALLED:
            pass  # the sweep wrote the flag itself; the event only joins the timeline
        elif subject.startswith("doudi.case."):
            await _project_case(conn, subject, data, at)
        elif subject == PAYMENT_DISBURSED:
            await conn.execute(
                """
                INSERT INTO payments (payment_id, case_id, person_id, amount_fen, status, installment, paid_at)
                VALUES ($1, $2, $3, $4, 'disbursed', $5, $6)
                ON CONFLICT (payment_id) DO UPDATE SET status = 'disbursed', paid_at = EXCLUDED.paid_at
                """,
                data["payment_id"], data["case_id"], data.get("person_id"), data["amount_fen"],
                data.get("installment", 1), at,
            )
        await conn.execute(
            "INSERT INTO timeline (event_id, case_id, at, event, status, stage, note)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            event["id"], data["case_id"], at, subject.removeprefix("doudi."), data.get("status"),
            data.get("stage"), _note(subject, data),
        )
    return True


def _note(subject: str, data: dict[str, Any]) -> str:
    if subject == PAYMENT_DISBURSED:
        return f"paid {data['amount_fen']} fen (installment {data.get('installment', 1)}), {data['payment_id']}"
    return data.get("note", "")


async def _project_case(conn: asyncpg.Connection, subject: str, data: dict[str, Any], at: datetime | None) -> None:
    seq = 0 if subject == CASE_OPENED else int(data.get("seq", 1))
    # Events can arrive out of order across streams and redeliveries: the highest seq wins the status,
    # and the facts each event carries fill in what is missing.
    await conn.execute(
        """
        INSERT INTO cases (case_id, pathway, status, stage, person_id, household_id, region_code,
                           cause_event_id, policy, approved_amount_fen, outcome, reason, last_seq, opened_at, updated_at,
                           deadlines, flags, escalated_to)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $15, $12, $13, coalesce($14, now()),
                coalesce($16, '[]'::jsonb), coalesce($17, '{}'::text[]), $18)
        ON CONFLICT (case_id) DO UPDATE SET
            status = CASE WHEN EXCLUDED.last_seq > cases.last_seq THEN EXCLUDED.status ELSE cases.status END,
            stage = CASE WHEN EXCLUDED.last_seq > cases.last_seq THEN EXCLUDED.stage ELSE cases.stage END,
            outcome = coalesce(EXCLUDED.outcome, cases.outcome),
            reason = coalesce(EXCLUDED.reason, cases.reason),
            deadlines = CASE WHEN EXCLUDED.last_seq > cases.last_seq THEN EXCLUDED.deadlines ELSE cases.deadlines END,
            flags = CASE WHEN EXCLUDED.last_seq > cases.last_seq THEN EXCLUDED.flags ELSE cases.flags END,
            escalated_to = coalesce(EXCLUDED.escalated_to, cases.escalated_to),
            stalled = CASE WHEN EXCLUDED.last_seq > cases.last_seq THEN false ELSE cases.stalled END,
            policy = coalesce(EXCLUDED.policy, cases.policy),
            approved_amount_fen = CASE WHEN EXCLUDED.last_seq > cases.last_seq
                 THEN coalesce(EXCLUDED.approved_amount_fen, cases.approved_amount_fen)
                 ELSE coalesce(cases.approved_amount_fen, EXCLUDED.approved_amount_fen) END,
            person_id = coalesce(cases.person_id, EXCLUDED.person_id),
            household_id = coalesce(cases.household_id, EXCLUDED.household_id),
            region_code = coalesce(cases.region_code, EXCLUDED.region_code),
            cause_event_id = coalesce(cases.cause_event_id, EXCLUDED.cause_event_id),
            opened_at = coalesce(cases.opened_at, EXCLUDED.opened_at),
            last_seq = greatest(cases.last_seq, EXCLUDED.last_seq),
            updated_at = greatest(cases.updated_at, EXCLUDED.updated_at)
        """,
        data["case_id"], data["pathway"], data["status"], data["stage"], data.get("person_id"),
        data.get("household_id"), data.get("region_code"), data.get("cause_event_id"), data.get("policy"),
        data.get("approved_amount_fen"), data.get("outcome") if subject == CASE_CLOSED else None, seq,
        at if subject == CASE_OPENED else None, at,
        data.get("note") if subject == CASE_CLOSED else None,
        data.get("deadlines") or [], data.get("flags") or [], data.get("escalated_to"),
    )
