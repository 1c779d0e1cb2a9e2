"""The operations service's store: every SQL statement of schema ``operations``.

- the read model (``cases``, ``payments``, ``timeline``), projected from domain events, read per
  jurisdiction by the case API and the dashboard, swept for stalled cases;
- ``audit_log``: every administrative action (append-only);
- ``bus_alerts``: every dead letter and every stream near its limit;
- ``dlq_redeliveries``: the one redelivery of each dead letter (the claim, four eyes, the publish).

Every function takes the caller's connection, so the caller owns the transaction; ``OperationsStore``
holds the pool for the HTTP routes and the background jobs, which never see it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.operations import store_timeline
from shared.auth import Principal
from shared.contracts.api import CaseView, PaymentView, TimelineEntry
from shared.infra.db import unit_of_work

SCHEMA = "operations"
# the attention list's referral clause (its table is referrals.py's; the SQL lives beside the others)
REFERRAL_OVERDUE = ("EXISTS (SELECT 1 FROM referrals r WHERE r.case_id = c.case_id"
                    " AND r.outcome IS NULL AND r.due_at < now())")

# a connection of the pool, as ``pool.acquire()`` or ``unit_of_work`` hands it out
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy


class OperationsStore:
    """The pool, for the routes and the background jobs: ``read()`` one connection, ``transaction()`` one
    unit of work; the statements are this module's functions."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        async with self._pool.acquire() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with unit_of_work(self._pool) as conn:
            yield conn

    async def audit(self, principal: Principal, action: str, case_id: str | None, reason: str,
                    detail: dict[str, Any] | None = None) -> None:
        """Write an administrative action to the audit log (who, when, why)."""
        async with self.read() as conn:
            await audit(conn, actor=principal.subject, role=str(principal.role), action=action,
                        case_id=case_id, reason=reason, detail=detail or {})


# ---- the case read API ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseFilters:
    """The case list's filters; each names its column of ``cases`` (None: not filtered)."""

    person_id: str | None = None
    household_id: str | None = None
    pathway: str | None = None
    status: str | None = None
    region_code: str | None = None    # a prefix
    stalled: bool | None = None


async def list_cases(conn: Conn, *, jurisdiction: str, filters: CaseFilters, limit: int,
                     offset: int, temporal_ui: str, namespace: str) -> tuple[list[CaseView], int]:
    where = ["starts_with(region_code, $1)"]
    args: list[Any] = [jurisdiction]
    for column, value in asdict(filters).items():
        if value is None:
            continue
        args.append(value)
        if column == "region_code":
            where.append(f"starts_with(region_code, ${len(args)})")
        else:
            where.append(f"{column} = ${len(args)}")
    clause = " AND ".join(where)
    total = await conn.fetchval(f"SELECT count(*) FROM cases WHERE {clause}", *args)
    rows = await conn.fetch(
        f"SELECT * FROM cases WHERE {clause} ORDER BY updated_at DESC, case_id"
        f" LIMIT {int(limit)} OFFSET {int(offset)}",
        *args)
    payments = await _payments(conn, [r["case_id"] for r in rows])
    return [_view(r, payments.get(r["case_id"], []), [], temporal_ui, namespace) for r in rows], total


async def get_case(conn: Conn, case_id: str, *, jurisdiction: str, temporal_ui: str,
                   namespace: str) -> CaseView | None:
    row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1 AND starts_with(region_code, $2)",
                              case_id, jurisdiction)
    if row is None:
        return None
    payments = await _payments(conn, [case_id])
    entries = await store_timeline.entries(conn, case_id)  # with each entry's words (timeline_text)
    return _view(row, payments.get(case_id, []), entries, temporal_ui, namespace)


async def _payments(conn: Conn, case_ids: list[str]) -> dict[str, list[PaymentView]]:
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
        escalated_to=r["escalated_to"], timeline=timeline, opened_at=r["opened_at"],
        updated_at=r["updated_at"],
        stalled=r["stalled"],
        workflow_url=f"{temporal_ui}/namespaces/{namespace}/workflows/{r['case_id']}",
    )


# -- the operations dashboard (运营工作台): aggregate counts, payments per day, cases needing attention --

# Flags a workflow raises when a deadline lapsed; a case carrying one needs a person (escalation).
ATTENTION_FLAGS = ("documents_overdue", "county_decision_overdue", "committee_overdue",
                   "home_visit_overdue", "democratic_appraisal_overdue",  # enrolment duties
                   "reconsideration_overdue", "complaint_overdue")  # the office's answers (复核, 监督投诉)

# A deadline's ``due`` cast only when it looks like an ISO 8601 date/time: one odd row must not fail the page.
_DUE = ("CASE WHEN d->>'due' ~ "
        "'^\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?)?(Z|[+-]\\d{2}(:?\\d{2})?)?$'"
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
# A referral past due without an outcome counts too, on a closed case as well (store_referrals.py).
_NEEDS_ATTENTION = ("(c.stalled OR " + REFERRAL_OVERDUE + " OR (c.status <> 'closed'"
                    " AND (c.flags && $2::text[] OR od.oldest_due IS NOT NULL)))")


def _scope(region_param: int, region_code: str | None) -> str:
    """The caller's jurisdiction ($1, a region prefix) and, when given, a narrower region prefix."""
    clause = "starts_with(c.region_code, $1)"
    return clause + (f" AND starts_with(c.region_code, ${region_param})" if region_code else "")


async def dashboard_counts(conn: Conn, *, jurisdiction: str, region_code: str | None
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
    assert flags is not None  # an aggregate always returns its row
    out.update(open=flags["open"], stalled=flags["stalled"], attention=flags["attention"])
    return out


async def payments_per_day(conn: Conn, *, jurisdiction: str, region_code: str | None, days: int,
                           tz: str) -> tuple[date, dict[date, tuple[int, int]]]:
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


async def attention_cases(conn: Conn, *, jurisdiction: str, region_code: str | None, limit: int,
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
               c.stalled, c.flags, c.escalated_to, c.opened_at, c.updated_at, od.overdue, od.oldest_due,
               {REFERRAL_OVERDUE} AS referral_overdue, c.stalled_reason, c.stalled_reason_zh, c.stalled_at
        FROM cases c {_OVERDUE_LATERAL}
        WHERE {scope} AND {_NEEDS_ATTENTION}
        ORDER BY coalesce(od.oldest_due, c.updated_at), c.case_id
        LIMIT {int(limit)} OFFSET {int(offset)}
        """, *args)
    return [dict(r) for r in rows], total


async def database_now(conn: Conn) -> datetime:
    """The database's clock: the "as of" of an answer read in the same transaction."""
    return await conn.fetchval("SELECT now()")


async def case_region(conn: Conn, case_id: str) -> str | None:
    """The region of a case the read model knows (None: unknown here)."""
    return await conn.fetchval("SELECT region_code FROM cases WHERE case_id = $1", case_id)


# ---- the projection (domain events into the read model) -------------------------------------------------

async def project_case(conn: Conn, data: dict[str, Any], *, seq: int, opened_at: datetime | None,
                       updated_at: datetime | None, outcome: str | None, reason: str | None) -> None:
    """One case event: the highest ``seq`` wins the status; the facts each event carries fill in what is
    missing (events arrive out of order across streams and redeliveries)."""
    await conn.execute(
        """
        INSERT INTO cases (case_id, pathway, status, stage, person_id, household_id, region_code,
                           cause_event_id, policy, approved_amount_fen, outcome, reason, last_seq, opened_at,
                           updated_at, deadlines, flags, escalated_to)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $15, $12, $13, coalesce($14, now()),
                coalesce($16, '[]'::jsonb), coalesce($17, '{}'::text[]), $18)
        ON CONFLICT (case_id) DO UPDATE SET
            status = CASE WHEN EXCLUDED.last_seq > cases.last_seq THEN EXCLUDED.status ELSE cases.status END,
            stage = CASE WHEN EXCLUDED.last_seq > cases.last_seq THEN EXCLUDED.stage ELSE cases.stage END,
            outcome = coalesce(EXCLUDED.outcome, cases.outcome),
            reason = coalesce(EXCLUDED.reason, cases.reason),
            deadlines = CASE WHEN EXCLUDED.last_seq > cases.last_seq THEN EXCLUDED.deadlines
                             ELSE cases.deadlines END,
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
        data.get("approved_amount_fen"), outcome, seq, opened_at, updated_at, reason,
        data.get("deadlines") or [], data.get("flags") or [], data.get("escalated_to"),
    )


async def project_payment(conn: Conn, data: dict[str, Any], *, paid_at: datetime | None) -> None:
    await conn.execute(
        """
        INSERT INTO payments (payment_id, case_id, person_id, amount_fen, status, installment, paid_at)
        VALUES ($1, $2, $3, $4, 'disbursed', $5, $6)
        ON CONFLICT (payment_id) DO UPDATE SET status = 'disbursed', paid_at = EXCLUDED.paid_at
        """,
        data["payment_id"], data["case_id"], data.get("person_id"), data["amount_fen"],
        data.get("installment", 1), paid_at,
    )


async def add_to_timeline(conn: Conn, *, event_id: str, case_id: str, at: datetime | None, event: str,
                          status: str | None, stage: str | None, note: str) -> None:
    await conn.execute(
        "INSERT INTO timeline (event_id, case_id, at, event, status, stage, note)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        event_id, case_id, at, event, status, stage, note)


# ---- the stalled-case sweep ------------------------------------------------------------------------------

async def cases_to_sweep(conn: Conn) -> list[asyncpg.Record]:
    """Every open case, and every closed one still marked stalled (to clear it)."""
    return await conn.fetch("SELECT * FROM cases WHERE status <> 'closed' OR stalled")


async def mark_stalled(conn: Conn, case_id: str, reason: str, at: datetime, *, reason_zh: str | None = None) -> None:
    await conn.execute("UPDATE cases SET stalled = true, stalled_reason = $2, stalled_at = $3,"
                       " stalled_reason_zh = $4 WHERE case_id = $1", case_id, reason, at, reason_zh)


async def update_stalled_reason(conn: Conn, case_id: str, reason: str, reason_zh: str) -> None:
    """A case still stalled, for a reason that moved (an activity's attempt count): since when stays."""
    await conn.execute("UPDATE cases SET stalled_reason = $2, stalled_reason_zh = $3 WHERE case_id = $1 AND stalled",
                       case_id, reason, reason_zh)


async def clear_stalled(conn: Conn, case_id: str) -> None:
    await conn.execute("UPDATE cases SET stalled = false, stalled_reason = NULL, stalled_reason_zh = NULL"
                       " WHERE case_id = $1", case_id)


async def stalled_cases(conn: Conn, jurisdiction: str, *, limit: int | None = None) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM cases WHERE stalled AND starts_with(region_code, $1)"
                            " ORDER BY stalled_at LIMIT $2", jurisdiction, limit)


# ---- the audit log ---------------------------------------------------------------------------------------

async def audit(conn: Conn, *, actor: str, role: str, action: str, case_id: str | None, reason: str,
                detail: dict[str, Any]) -> None:
    await conn.execute("INSERT INTO audit_log (actor, role, action, case_id, reason, detail)"
                       " VALUES ($1, $2, $3, $4, $5, $6)", actor, role, action, case_id, reason, detail)


async def audit_entries(conn: Conn, *, jurisdiction: str, case_id: str | None,
                        limit: int) -> list[asyncpg.Record]:
    """Newest first; a regional auditor reads the trail of the cases of their jurisdiction only."""
    return await conn.fetch("SELECT * FROM audit_log a WHERE ($1::text IS NULL OR a.case_id = $1)"
                            " AND ($3 = '' OR EXISTS (SELECT 1 FROM cases c WHERE c.case_id = a.case_id"
                            " AND starts_with(c.region_code, $3))) ORDER BY seq DESC LIMIT $2",
                            case_id, limit, jurisdiction)


# ---- bus alerts ------------------------------------------------------------------------------------------

async def record_alert(conn: Conn, *, alert_id: str, kind: str, subject: str | None, event_id: str | None,
                       reason: str, detail: dict[str, Any]) -> None:
    """Once per alert id (a dead letter's redelivery records nothing new)."""
    await conn.execute(
        "INSERT INTO bus_alerts (alert_id, kind, subject, event_id, reason, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (alert_id) DO NOTHING",
        alert_id, kind, subject, event_id, reason, detail)


async def raise_alert(conn: Conn, *, alert_id: str, kind: str, subject: str, reason: str,
                      detail: dict[str, Any]) -> None:
    """Raise (or refresh) a standing alert; raised again after it was cleared."""
    await conn.execute(
        "INSERT INTO bus_alerts (alert_id, kind, subject, reason, detail) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (alert_id) DO UPDATE SET detail = EXCLUDED.detail, reason = EXCLUDED.reason,"
        " raised_at = CASE WHEN bus_alerts.cleared_at IS NULL THEN bus_alerts.raised_at ELSE now() END,"
        " cleared_at = NULL",
        alert_id, kind, subject, reason, detail)


async def clear_alert(conn: Conn, alert_id: str) -> None:
    await conn.execute("UPDATE bus_alerts SET cleared_at = now() WHERE alert_id = $1 AND cleared_at IS NULL",
                       alert_id)


async def open_alert_count(conn: Conn) -> int:
    return await conn.fetchval("SELECT count(*) FROM bus_alerts WHERE cleared_at IS NULL")


async def alerts(conn: Conn, *, kind: str | None, open_only: bool, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM bus_alerts WHERE ($1::text IS NULL OR kind = $1) AND (NOT $2 OR cleared_at IS NULL)"
        " ORDER BY raised_at DESC, alert_id LIMIT $3", kind, open_only, limit)


# ---- dead-letter redeliveries (services/operations/dead_letters.py) --------------------------------------

async def claim_redelivery(conn: Conn, *, seq: int, subject: str, status: str, body_sha256: str,
                           sealed_body: str, changes: list[str], requested_by: str,
                           reason: str) -> asyncpg.Record | None:
    """The one redelivery of ``seq``: the new row, or None when ``seq`` was claimed before."""
    return await conn.fetchrow(
        """
        INSERT INTO dlq_redeliveries (dlq_seq, subject, status, body_sha256, sealed_body, changes,
                                      requested_by, reason)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dlq_seq) DO NOTHING RETURNING *
        """, seq, subject, status, body_sha256, sealed_body, changes, requested_by, reason)


async def redelivery(conn: Conn, seq: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM dlq_redeliveries WHERE dlq_seq = $1", seq)


async def approve_redelivery(conn: Conn, seq: int, approved_by: str) -> asyncpg.Record | None:
    """The second official's approval: only of a redelivery waiting for one, never by its requester."""
    return await conn.fetchrow(
        "UPDATE dlq_redeliveries SET status = 'publishing', approved_by = $2"
        " WHERE dlq_seq = $1 AND status = 'awaiting_second_official' AND requested_by <> $2 RETURNING *",
        seq, approved_by)


async def redelivered(conn: Conn, seq: int, stream_seq: int) -> None:
    await conn.execute("UPDATE dlq_redeliveries SET status = 'redelivered', published_seq = $2,"
                       " redelivered_at = now() WHERE dlq_seq = $1", seq, stream_seq)


async def redelivery_statuses(conn: Conn) -> dict[int, str]:
    """Every claimed dead letter's redelivery status, by DLQ sequence."""
    rows = await conn.fetch("SELECT dlq_seq, status FROM dlq_redeliveries")
    return {r["dlq_seq"]: r["status"] for r in rows}


# -- what operators measure (/metrics, services/operations/metrics.py) ---------------------------------------

async def case_counts(conn: Conn) -> list[asyncpg.Record]:
    """Cases by pathway, stage and status, with how many of them are stalled."""
    return await conn.fetch("SELECT pathway, stage, status, count(*) AS cases,"
                            " count(*) FILTER (WHERE stalled) AS stalled FROM cases GROUP BY 1, 2, 3")


async def unresolved_dead_letter_count(conn: Conn) -> int:
    """Dead letters recorded and not yet redelivered by an operator."""
    return await conn.fetchval(
        "SELECT count(*) FROM bus_alerts a WHERE a.alert_id LIKE 'dlq:%' AND NOT EXISTS (SELECT 1"
        " FROM dlq_redeliveries r WHERE r.dlq_seq = (a.detail->>'dlq_seq')::bigint AND r.status = 'redelivered')")


async def open_alert_counts(conn: Conn) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT kind, count(*) AS alerts FROM bus_alerts WHERE cleared_at IS NULL GROUP BY kind")
