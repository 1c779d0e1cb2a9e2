"""Read-side queries over the operations read model, scoped by the caller's jurisdiction."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.contracts.api import CaseView, PaymentView, TimelineEntry

FILTERS = ("person_id", "household_id", "pathway", "status", "region_code", "stalled")


async def list_cases(conn: asyncpg.Connection, *, jurisdiction: str, filters: dict[str, Any], limit: int,
                     offset: int, temporal_ui: str, namespace: str) -> tuple[list[CaseView], int]:
    where = ["region_code LIKE $1 || '%'"]
    args: list[Any] = [jurisdiction]
    for name in FILTERS:
        value = filters.get(name)
        if value is None:
            continue
        args.append(value)
        if name == "region_code":
            where.append(f"region_code LIKE ${len(args)} || '%'")
        else:
            where.append(f"{name} = ${len(args)}")
    clause = " AND ".join(where)
    total = await conn.fetchval(f"SELECT count(*) FROM cases WHERE {clause}", *args)
    rows = await conn.fetch(
        f"SELECT * FROM cases WHERE {clause} ORDER BY updated_at DESC, case_id LIMIT {int(limit)} OFFSET {int(offset)}",
        *args)
    payments = await _payments(conn, [r["case_id"] for r in rows])
    return [_view(r, payments.get(r["case_id"], []), [], temporal_ui, namespace) for r in rows], total


async def get_case(conn: asyncpg.Connection, case_id: str, *, jurisdiction: str, temporal_ui: str,
                   namespace: str) -> CaseView | None:
    row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1 AND region_code LIKE $2 || '%'",
                              case_id, jurisdiction)
    if row is None:
        return None
    payments = await _payments(conn, [case_id])
    timeline = await conn.fetch("SELECT at, event, status, stage, note FROM timeline WHERE case_id = $1"
                                " ORDER BY at, event_id", case_id)
    entries = [TimelineEntry(**dict(t)) for t in timeline]
    return _view(row, payments.get(case_id, []), entries, temporal_ui, namespace)


async def _payments(conn: asyncpg.Connection, case_ids: list[str]) -> dict[str, list[PaymentView]]:
    out: dict[str, list[PaymentView]] = {}
    if not case_ids:
        return out
    for p in await conn.fetch("SELECT * FROM payments WHERE case_id = ANY($1::text[]) ORDER BY installment",
                              case_ids):
        out.setdefault(p["case_id"], []).append(PaymentView(
            payment_id=p["payment_id"], amount_fen=p["amount_fen"], status=p["status"],
            installment=p["installment"], paid_at=p["paid_at"]))
    return out


def _view(r: asyncpg.Record, payments: list[PaymentView], timeline: list[TimelineEntry], temporal_ui: str,
          namespace: str) -> CaseView:
    return CaseView(
        case_id=r["case_id"], pathway=r["pathway"], status=r["status"], stage=r["stage"],
        person_id=r["person_id"], household_id=r["household_id"], region_code=r["region_code"],
        cause_event_id=r["cause_event_id"], policy=r["policy"], approved_amount_fen=r["approved_amount_fen"],
        outcome=r["outcome"], reason=r["reason"],
        payments=payments, deadlines=list(r["deadlines"] or []), flags=list(r["flags"] or []),
        escalated_to=r["escalated_to"], timeline=timeline, opened_at=r["opened_at"], updated_at=r["updated_at"],
        stalled=r["stalled"],
        workflow_url=f"{temporal_ui}/namespaces/{namespace}/workflows/{r['case_id']}",
    )
