"""Operations' admin routes are HTTP only: the dead-letter desk's refusals become status codes in one
place (services/operations/admin.py), the audit log answers typed entries. The routes run on a
TestClient over fakes (no database, no NATS): what a route needs comes from ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.operations import admin
from services.operations.dead_letters import (
    CorrectionUnreadable,
    DeadLetterNotFound,
    NotASecondPerson,
    RedeliveryConflict,
    RedeliveryOut,
)
from shared.auth import Role, issue_token
from shared.infra.officials_registry import RegistryUnavailable


class RefusingDesk:
    """Refuses every redelivery and approval with the error it is given (or redelivers)."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    async def redeliver(self, seq: int, body: Any, principal: Any) -> RedeliveryOut:
        if self.error is not None:
            raise self.error
        return RedeliveryOut(seq=seq, subject="doudi.events.x", status="redelivered", changes=[],
                             published_seq=9)

    async def approve(self, seq: int, body: Any, principal: Any) -> RedeliveryOut:
        return await self.redeliver(seq, body, principal)


class AuditRows:
    """A fake store: ``read()`` yields a connection whose audit rows are fixed."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AuditRows]:
        yield self

    async def fetch(self, *_: Any) -> list[dict[str, Any]]:
        return self.rows


def client(desk: Any = None, ops: Any = None) -> TestClient:
    app = FastAPI()
    app.include_router(admin.router)
    app.state.dead_letters, app.state.ops = desk, ops
    return TestClient(app)


ADMIN = {"Authorization": f"Bearer {issue_token('ops-admin', Role.admin)}"}


@pytest.mark.parametrize(("error", "status"), [
    (DeadLetterNotFound("no dead letter 7"), 404),
    (RedeliveryConflict("dead letter 7 was redelivered before"), 409),
    (CorrectionUnreadable("corrected: nested too deeply for an event"), 422),
    (NotASecondPerson("the second official must be another person"), 403),
    (RegistryUnavailable("connect timeout"), 503),
])
@pytest.mark.parametrize("route", ["redeliver", "approve"])
def test_each_refusal_of_the_desk_is_one_status_code(error: Exception, status: int, route: str) -> None:
    r = client(RefusingDesk(error)).post(f"/api/admin/dlq/7/{route}", json={"reason": "r"}, headers=ADMIN)
    assert r.status_code == status
    assert str(error) in r.json()["detail"]


def test_a_redelivery_the_desk_accepts_is_answered_as_it_is() -> None:
    r = client(RefusingDesk(None)).post("/api/admin/dlq/7/redeliver", json={"reason": "r"}, headers=ADMIN)
    assert r.status_code == 200
    assert r.json() == {"seq": 7, "subject": "doudi.events.x", "status": "redelivered", "changes": [],
                        "changed_fields": None, "published_seq": 9, "duplicate": False}


def test_the_sequence_is_checked_before_the_desk_is_asked() -> None:
    desk = RefusingDesk(AssertionError("the desk must not be asked"))
    for seq in ("0", "-1", str(2**63)):
        assert client(desk).post(f"/api/admin/dlq/{seq}/redeliver", json={"reason": "r"},
                                 headers=ADMIN).status_code == 422


def test_the_audit_log_answers_typed_entries() -> None:
    row = {"seq": 3, "at": datetime(2026, 12, 1, 9, 30, tzinfo=UTC), "actor": "ops-admin", "role": "admin",
           "action": "sweep", "case_id": None, "reason": "on demand", "detail": {"stalled": []}}
    auditor = {"Authorization": f"Bearer {issue_token('audit-1', Role.auditor)}"}
    r = client(ops=AuditRows([row])).get("/api/admin/audit", headers=auditor)
    assert r.status_code == 200
    assert r.json() == [{**row, "at": "2026-12-01T09:30:00Z"}]


class Captured:
    """A connection that records the statements it is given and finds nothing."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetchval(self, sql: str, *args: Any) -> int:
        self.statements.append((sql, args))
        return 0

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.statements.append((sql, args))
        return []


async def test_the_case_list_filters_each_given_column_inside_the_jurisdiction() -> None:
    from services.operations import store

    conn = Captured()
    filters = store.CaseFilters(person_id="p-1", region_code="640104", stalled=False)
    items, total = await store.list_cases(conn, jurisdiction="6401", filters=filters, limit=5, offset=10,
                                          temporal_ui="http://ui", namespace="default")
    (count_sql, count_args), (page_sql, page_args) = conn.statements
    assert (items, total) == ([], 0)
    assert count_sql.endswith("WHERE starts_with(region_code, $1) AND person_id = $2"
                              " AND starts_with(region_code, $3) AND stalled = $4")
    assert count_args == page_args == ("6401", "p-1", "640104", False)
    assert page_sql.endswith("ORDER BY updated_at DESC, case_id LIMIT 5 OFFSET 10")


@pytest.mark.parametrize(("offset", "status"), [(2**31 - 1, 200), (2**31, 422), (4 * 10**37, 422), (-1, 422)])
def test_a_case_list_offset_beyond_the_databases_integer_is_refused_by_name(offset: int, status: int) -> None:
    """Found by the API fuzz: an offset past bigint reached PostgreSQL and answered 500."""
    from services.operations import routes

    app = FastAPI()
    app.include_router(routes.router)
    app.state.ops = CaseRows()
    app.state.runtime = SimpleNamespace(settings=SimpleNamespace(temporal_ui_url="http://ui",
                                                                 temporal_namespace="default"))
    r = TestClient(app).get("/api/cases", params={"offset": offset}, headers=ADMIN)
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["detail"][0]["loc"] == ["query", "offset"]


class CaseRows:
    """A fake store: ``read()`` yields a connection that finds no case."""

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Captured]:
        yield Captured()


@pytest.mark.parametrize("query", [{"pathway": "\x00"}, {"person_id": "a\x00b"}, {"household_id": "\x00"}])
def test_a_nul_character_in_a_query_is_refused_by_name_before_the_database(query: dict[str, str]) -> None:
    """Found by the API fuzz: ``?pathway=%00`` reached PostgreSQL (text cannot hold NUL) and answered 500."""
    from services.operations import routes
    from shared.infra.text_guard import RefuseNulMiddleware

    app = FastAPI()
    app.include_router(routes.router)
    app.add_middleware(RefuseNulMiddleware)
    app.state.ops = CaseRows()
    app.state.runtime = SimpleNamespace(settings=SimpleNamespace(temporal_ui_url="http://ui",
                                                                 temporal_namespace="default"))
    client = TestClient(app)
    r = client.get("/api/cases", params=query, headers=ADMIN)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", next(iter(query))]
    assert client.get("/api/cases", params={"pathway": "emergency_relief"}, headers=ADMIN).status_code == 200
