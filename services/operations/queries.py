"""Read-side queries over the operations read model, scoped by the caller's jurisdiction."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.contracts.api import CaseView, PaymentView, TimelineEntry

FILTERS = ("person_id", "household_id", "pathway", "status", "region_code", "stalled")


async def list_cases(conn: asyncpg.Connection, *, jurisdiction: str, filters: dict[str, Any], limit: int,
                     offset: int, temporal_ui: str, namespace: str) -> tuple[list[CaseView], int]:
    where = ["starts_with(region_code, $1)"]
    args: list[Any] = [jurisdiction]
    for name in FILTERS:
        value = filters.get(name)
        if value is None:
            continue
        args.append(value)
        if name == "region_code":
            where.append(f"starts_with(region_code, ${len(args)})")
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
    row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1 AND starts_with(region_code, $2)",
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


# -- the operations dashboard (运营工作台): aggregate counts, payments per day, cases needing attention --

# Flags a workflow raises when a deadline lapsed; a case carrying one needs a person (escalation).
ATTENTION_FLAGS = ("documents_overdue", "county_decision_overdue", "committee_overdue")

# A deadline's ``due`` cast only when it looks like an ISO 8601 date/time: one odd row must not fail the page.
_DUE = ("CASE WHEN d->>'due' ~ '^\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?)?(Z|[+-]\\d{2}(:?\\d{2})?)?$'"
        " THEN (d->>'due')::timestamptz END")

# Per case: its overdue deadlines (only while the case is not closed) and the earliest of them.
_OVERDUE_LATERAL = f"""
LEFT JOIN LATERAL (
    SELECT coalesce(jsonb_agg(jsonb_build_object('kind', x.d->>'kind', 'due', x.d->>'due') ORDER BY x.due),
                    '[]'::jsonb) AS overdue,
           min(x.due) AS oldest_due
    FROM (SELECT d, {_DUE} AS due
          FROM jsonb_array_elements(CASE WHEN jsonb_typeof(c.deadlines) = 'array' THEN c.deadlines
                                         ELSE '[]'::jsonb END) AS d) AS x
    WHERE x.due < now() AND c.status <> 'closed'
) AS od ON true
"""

# Stalled (the sweep's mark, or set by hand), or - while the case is open - a lapsed deadline or flag.
_NEEDS_ATTENTION = "(c.stalled OR (c.status <> 'closed' AND (c.flags && $2::text[] OR od.oldest_due IS NOT NULL)))"


def _scope(region_param: int, region_code: str | None) -> str:
    """The caller's jurisdiction ($1, a region prefix) and, when given, a narrower region prefix."""
    clause = "starts_with(c.region_code, $1)"
    return clause + (f" AND starts_with(c.region_code, ${region_param})" if region_code else "")


async def dashboard_counts(conn: asyncpg.Connection, *, jurisdiction: str, region_code: str | None
                           ) -> dict[str, Any]:
    """Case counts by pathway, status, outcome and county (the first six digits of the region code),
    plus totals, open, stalled and needing attention; only cases in ``jurisdiction``."""
    rows = await conn.fetch(
        f"""
        SELECT GROUPING(c.pathway) AS g_pathway, GROUPING(c.status) AS g_status,
               GROUPING(c.outcome) AS g_outcome, GROUPING(left(c.region_code, 6)) AS g_county,
               c.pathway, c.status, c.outcome, left(c.region_code, 6) AS county, count(*) AS n
        FROM cases c
        WHERE {_scope(2, region_code)}
        GROUP BY GROUPING SETS ((c.pathway), (c.status), (c.outcome), (left(c.region_code, 6)), ())
        """, jurisdiction, *([region_code] if region_code else []))
    out: dict[str, Any] = {"by_pathway": {}, "by_status": {}, "by_outcome": {}, "by_county": {}, "total": 0}
    for r in rows:
        if not r["g_pathway"]:
            out["by_pathway"][r["pathway"]] = r["n"]
        elif not r["g_status"]:
            out["by_status"][r["status"]] = r["n"]
        elif not r["g_outcome"]:
            if r["outcome"] is not None:
                out["by_outcome"][r["outcome"]] = r["n"]
        elif not r["g_county"]:
            out["by_county"][r["county"]] = r["n"]
        else:
            out["total"] = r["n"]
    flags = await conn.fetchrow(
        f"""
        SELECT count(*) FILTER (WHERE c.status <> 'closed') AS open,
               count(*) FILTER (WHERE c.stalled) AS stalled,
               count(*) FILTER (WHERE {_NEEDS_ATTENTION}) AS attention
        FROM cases c {_OVERDUE_LATERAL}
        WHERE {_scope(3, region_code)}
        """, jurisdiction, list(ATTENTION_FLAGS), *([region_code] if region_code else []))
    out.update(open=flags["open"], stalled=flags["stalled"], attention=flags["attention"])
    return out


async def payments_per_day(conn: asyncpg.Connection, *, jurisdiction: str, region_code: str | None, days: int,
                           tz: str) -> tuple[Any, dict[Any, tuple[int, int]]]:
    """Disbursed payments of cases in ``jurisdiction`` per local day (``tz``) over the last ``days`` days,
    today included: ``(today, {day: (count, amount_fen)})``; days without payments are absent."""
    today = await conn.fetchval("SELECT (now() AT TIME ZONE $1)::date", tz)
    rows = await conn.fetch(
        f"""
        SELECT (p.paid_at AT TIME ZONE $2)::date AS day, count(*) AS n, sum(p.amount_fen)::numeric AS fen
        FROM payments p JOIN cases c ON c.case_id = p.case_id
        WHERE p.paid_at >= (($3::date - ($4::int - 1))::timestamp AT TIME ZONE $2)
          AND p.paid_at < (($3::date + 1)::timestamp AT TIME ZONE $2)
          AND {_scope(5, region_code)}
        GROUP BY 1
        """, jurisdiction, tz, today, days, *([region_code] if region_code else []))
    # numeric, not bigint: a day's sum of bigint amounts can exceed bigint (an answer, never a 500)
    return today, {r["day"]: (r["n"], int(r["fen"])) for r in rows}


async def attention_cases(conn: asyncpg.Connection, *, jurisdiction: str, region_code: str | None, limit: int,
                          offset: int) -> tuple[list[dict[str, Any]], int]:
    """Cases that need a person: stalled, or open with an overdue deadline or a lapsed-deadline flag.
    The longest-overdue first (then the longest untouched)."""
    scope = _scope(3, region_code)
    args: list[Any] = [jurisdiction, list(ATTENTION_FLAGS)] + ([region_code] if region_code else [])
    total = await conn.fetchval(
        f"SELECT count(*) FROM cases c {_OVERDUE_LATERAL} WHERE {scope} AND {_NEEDS_ATTENTION}", *args)
    rows = await conn.fetch(
        f"""
        SELECT c.case_id, c.pathway, c.status, c.stage, c.person_id, c.household_id, c.region_code,
               c.stalled, c.flags, c.escalated_to, c.opened_at, c.updated_at, od.overdue, od.oldest_due
        FROM cases c {_OVERDUE_LATERAL}
        WHERE {scope} AND {_NEEDS_ATTENTION}
        ORDER BY coalesce(od.oldest_due, c.updated_at), c.case_id
        LIMIT {int(limit)} OFFSET {int(offset)}
        """, *args)
    return [dict(r) for r in rows], total
