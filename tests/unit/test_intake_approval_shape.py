"""Intake and approval in the one shape (issue 15): every activity registered once, in activities.py; all
SQL in the store; routes hold no statement and no pool; no module over 500 lines. And approval's routes
over a fake store (no database, no Temporal): the inbox, the committee's view and an appointment answer
with their typed models, the same JSON as before."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio import activity

from services.approval import officials
from services.approval import routes as approval_routes
from services.approval.activities import ApprovalActivities
from services.approval.store import MinutesRow, OpenMatterRow, TaskRow
from services.intake.activities import IntakeActivities
from shared.auth import Principal, Role, current_principal
from shared.contracts import activities as act

SERVICES = Path(__file__).resolve().parents[2] / "services"
# a statement as this code base writes one (upper-case keywords): prose saying "update" is no SQL
SQL = re.compile(r"\bSELECT\b.*\bFROM\b|\bINSERT INTO\b|\bUPDATE \w+( \w+)? SET\b|\bDELETE FROM\b", re.S)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _sql_strings(path: Path) -> list[str]:
    strings = [n.value for n in ast.walk(ast.parse(path.read_text()))
               if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return [s for s in strings if SQL.search(s)]


@pytest.mark.parametrize(("service", "cls"), [("intake", IntakeActivities), ("approval", ApprovalActivities)])
def test_every_activity_is_registered_once_in_activities_py(service: str, cls: Any) -> None:
    registered = cls.__new__(cls).all()  # the methods, not called
    names = [str(activity._Definition.must_from_callable(fn).name) for fn in registered]
    expected = {v for k, v in vars(act).items() if k.isupper() and isinstance(v, str) and v.startswith(f"{service}.")}
    assert sorted(names) == sorted(expected)
    elsewhere = [p.name for p in (SERVICES / service).rglob("*.py")
                 if not p.name.endswith("activities.py") and "activity.defn" in p.read_text()]
    assert elsewhere == []


@pytest.mark.parametrize("module", ["intake/routes.py", "intake/enrolment_routes.py", "intake/cohort.py",
                                    "approval/routes.py", "approval/officials.py"])
def test_routes_hold_no_sql_and_no_pool(module: str) -> None:
    path = SERVICES / module
    assert _sql_strings(path) == []
    source = path.read_text()
    assert ".pool" not in source and "acquire(" not in source and "asyncpg" not in source


@pytest.mark.parametrize("service", ["intake", "approval"])
def test_all_sql_is_in_the_store(service: str) -> None:
    outside = {str(p.relative_to(SERVICES)) for p in (SERVICES / service).rglob("*.py")
               if "store" not in p.parts and p.stem != "store" and not p.stem.startswith("store_")  # as test_shape
               and _sql_strings(p)}
    assert outside == set()


@pytest.mark.parametrize("service", ["intake", "approval"])
def test_no_module_over_500_lines(service: str) -> None:
    assert {p.name: n for p in (SERVICES / service).rglob("*.py") if (n := len(p.read_text().splitlines())) > 500} == {}


# -- approval's routes over a fake store -------------------------------------------------------------------

class FakeStore:
    def __init__(self) -> None:
        self.asked: list[tuple[Any, ...]] = []
        self.appointed: list[dict[str, Any]] = []

    async def find_official(self, subject: str) -> None:
        return None  # not registered: signs without a person id

    async def open_tasks(self, region_prefix: str, role: str | None, kind: str | None) -> list[TaskRow]:
        self.asked.append((region_prefix, role, kind))
        return [TaskRow(task_id="c-1:county_decision", case_id="c-1", pathway="emergency_relief",
                        kind="county_decision", role="county_approver", region_code="640104", amount_fen=250_000,
                        summary="s", due_at=None, opened_at=NOW, overdue=False)]

    async def put_committee_member(self, county_code: str, member_id: str, **fields: Any) -> None:
        self.appointed.append({"county_code": county_code, "member_id": member_id, **fields})

    async def committee_members(self, county_code: str) -> list[act.CommitteeMember]:
        return [act.CommitteeMember(member_id="m-1", name="张三", department="民政", chair=True)]

    async def open_committee_matters(self, county_code: str) -> list[OpenMatterRow]:
        return [OpenMatterRow(case_id="om-1", summary="一事一议", amount_fen=None, due_at=None, opened_at=NOW)]

    async def recent_minutes(self, county_code: str) -> list[MinutesRow]:
        return [MinutesRow(case_id="om-0", parent_case_id="c-0", decision={"approve": True},
                           opinions=[{"member_id": "m-1", "vote": "approve"}], recorded_at=NOW)]


class GoneTemporal:
    def get_workflow_handle(self, case_id: str) -> Any:
        raise RuntimeError("no such workflow")  # the view shows the matter without its live state


def approval_client(store: FakeStore, role: Role, region: str = "6401") -> TestClient:
    app = FastAPI()
    app.include_router(approval_routes.router)
    app.include_router(officials.router)
    app.state.store = store
    app.state.runtime = type("Runtime", (), {"temporal": GoneTemporal()})()
    app.dependency_overrides[current_principal] = lambda: Principal(subject="u-1", role=role, region=region)
    return TestClient(app)


def test_the_inbox_asks_the_store_for_the_callers_role_and_jurisdiction() -> None:
    store = FakeStore()
    r = approval_client(store, Role.county_approver).get("/api/tasks", params={"kind": "county_decision"})
    assert r.status_code == 200
    assert store.asked == [("6401", "county_approver", "county_decision")]
    assert r.json()[0]["task_id"] == "c-1:county_decision" and r.json()[0]["overdue"] is False
    approval_client(store, Role.admin).get("/api/tasks")
    assert store.asked[-1] == ("6401", None, None)  # an administrator sees every role's


def test_the_committee_view_and_an_appointment_answer_their_models() -> None:
    store = FakeStore()
    view = approval_client(store, Role.committee, "640104").get("/api/committees/640104").json()
    assert view == {
        "county_code": "640104",
        "members": [{"member_id": "m-1", "name": "张三", "department": "民政", "chair": True}],
        "open_matters": [{"case_id": "om-1", "summary": "一事一议", "amount_fen": None, "due_at": None,
                          "opened_at": "2026-12-01T00:00:00Z", "owed_by": None, "opinions": None, "quorum": None}],
        "minutes": [{"case_id": "om-0", "parent_case_id": "c-0", "decision": {"approve": True},
                     "opinions": [{"member_id": "m-1", "vote": "approve"}], "recorded_at": "2026-12-01T00:00:00Z"}],
    }
    put = approval_client(store, Role.admin, "640104").put(
        "/api/committees/640104/members/m-2", json={"name": "李四", "department": "财政"})
    assert put.status_code == 200
    assert put.json() == {"county_code": "640104", "member_id": "m-2", "name": "李四", "department": "财政",
                          "chair": False, "active": True}
    assert store.appointed == [{"county_code": "640104", "member_id": "m-2", "name": "李四", "department": "财政",
                                "chair": False, "active": True}]


def test_a_committee_outside_the_jurisdiction_is_not_found() -> None:
    store = FakeStore()
    assert approval_client(store, Role.committee, "6402").get("/api/committees/640104").status_code == 404
    r = approval_client(store, Role.admin, "6402").put("/api/committees/640104/members/m-2",
                                                       json={"name": "李四", "department": "财政"})
    assert r.status_code == 404 and store.appointed == []
