"""Payment's routes over fake services (no database, no Temporal): each refusal of the batch and reserve
services becomes its status code in one place, four eyes is asked of the registry before a second
approval, and a caller sees only batches in its jurisdiction. Also the service's shape: one activity
registration point, no SQL and no pool in the routes, no module over 500 lines."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio import activity

from services.payment import batch_routes, routes
from services.payment.activities import PaymentActivities
from services.payment.batch import AWAITING_SECOND, BatchNotFound, BatchNotRunning, BatchRejected, BatchView
from services.payment.reserve_rules import CreditAboveTarget, Reserve, ReserveNotFound
from shared.auth import Principal, Role, current_principal
from shared.contracts import activities as act
from shared.infra.officials_registry import RegistryUnavailable
from workflows.batch_subsidy import contracts as batch_contracts

PAYMENT = Path(__file__).resolve().parents[2] / "services" / "payment"
BATCH_ID = "batch-0123456789abcdef0123"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def view(status: str = "paying", region: str = "6501") -> BatchView:
    return BatchView(
        batch_id=BATCH_ID, measure="one_time_living_subsidy", region_prefix=region, snapshot_on=date(2022, 6, 1),
        month=None, categories=["dibao"], status=status, note="", amount_note="", requested_amount_fen=None,
        policy=None, total=None, payable=None, loaded_rows=0, expected_payments=None, expected_fen=None,
        paid_count=0, paid_fen=0, chunks_done=0, chunk_count=None, chunk_size=5000, percent=0.0, installments=[],
        amounts=[], payment_events=True, payment_events_published=0, cause_event_id=None,
        requested_by="finance:first", created_at=NOW, loaded_at=None, started_at=None, finished_at=None,
        updated_at=NOW, status_url=f"/api/batches/{BATCH_ID}")


class FakeBatches:
    """Answers as the batch service would; ``fail`` is raised by the next call that changes something."""

    def __init__(self, status: str = "paying", region: str = "6501", fail: Exception | None = None):
        self.status, self.region, self.fail = status, region, fail
        self.approved: list[str] = []

    async def view(self, batch_id: str) -> BatchView | None:
        return view(self.status, self.region) if batch_id == BATCH_ID else None

    async def submit(self, req: Any) -> Any:
        assert self.fail is not None
        raise self.fail

    async def control(self, batch_id: str, req: Any) -> None:
        if self.fail is not None:
            raise self.fail

    async def approve(self, batch_id: str, official: str, role: str, reason: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.approved.append(official)


class FakeReserves:
    def __init__(self, fail: Exception):
        self.fail = fail

    async def detail(self, code: str) -> Any:
        raise self.fail

    async def fund(self, code: str, body: Any, principal: Principal) -> Any:
        raise self.fail


def client(*, batches: Any = None, reserves: Any = None, role: Role = Role.finance, region: str = "65",
           subject: str = "second") -> TestClient:
    app = FastAPI()
    app.include_router(batch_routes.router)
    app.include_router(routes.router)
    app.state.batches, app.state.reserves = batches, reserves
    app.dependency_overrides[current_principal] = lambda: Principal(subject=subject, role=role, region=region)
    return TestClient(app)


BODY = {"reason": "checked"}
START = {"measure": "one_time_living_subsidy", "region_prefix": "6501", "snapshot_on": "2022-06-01"}


@pytest.mark.parametrize(("refusal", "status"), [
    (BatchRejected("the policy fixes the amount"), 422),
    (BatchRejected("batch batch-x already pays it", 409), 409),
])
def test_a_refused_batch_request_answers_the_services_status(refusal: BatchRejected, status: int):
    answer = client(batches=FakeBatches(fail=refusal)).post("/api/batches", json=START)
    assert answer.status_code == status
    assert answer.json()["detail"] == refusal.reason


def test_a_batch_request_outside_the_jurisdiction_is_forbidden():
    answer = client(batches=FakeBatches(), region="3601").post("/api/batches", json=START)
    assert answer.status_code == 403


@pytest.mark.parametrize(("refusal", "status"), [
    (BatchNotRunning("batch is completed"), 409),
    (BatchNotFound(BATCH_ID), 404),
])
def test_control_refusals_become_status_codes(refusal: Exception, status: int):
    answer = client(batches=FakeBatches(fail=refusal)).post(f"/api/batches/{BATCH_ID}/pause", json=BODY)
    assert answer.status_code == status


def test_a_batch_outside_the_jurisdiction_is_not_found():
    assert client(batches=FakeBatches(region="3601")).get(f"/api/batches/{BATCH_ID}").status_code == 404


def test_a_second_approval_the_registry_refuses_is_409(monkeypatch: pytest.MonkeyPatch):
    async def refused(*args: Any, **kwargs: Any) -> str:
        return "the same person"

    monkeypatch.setattr(batch_routes, "second_person_refusal", refused)
    batches = FakeBatches(status=AWAITING_SECOND)
    answer = client(batches=batches).post(f"/api/batches/{BATCH_ID}/approve", json=BODY)
    assert (answer.status_code, answer.json()["detail"], batches.approved) == (409, "the same person", [])


def test_no_registry_no_second_approval_503(monkeypatch: pytest.MonkeyPatch):
    async def unavailable(*args: Any, **kwargs: Any) -> str:
        raise RegistryUnavailable("down")

    monkeypatch.setattr(batch_routes, "second_person_refusal", unavailable)
    batches = FakeBatches(status=AWAITING_SECOND)
    answer = client(batches=batches).post(f"/api/batches/{BATCH_ID}/approve", json=BODY)
    assert (answer.status_code, batches.approved) == (503, [])


def test_a_second_approval_the_registry_allows_goes_to_the_service(monkeypatch: pytest.MonkeyPatch):
    async def allowed(*args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(batch_routes, "second_person_refusal", allowed)
    batches = FakeBatches(status=AWAITING_SECOND)
    assert client(batches=batches).post(f"/api/batches/{BATCH_ID}/approve", json=BODY).status_code == 200
    assert batches.approved == ["second"]


def test_reserve_refusals_become_status_codes():
    reserve = Reserve(township_code="650102001", county_code="650102", balance_fen=90_000, threshold_fen=0,
                      target_fen=100_000, updated_at=NOW)
    assert client(reserves=FakeReserves(ReserveNotFound("650102001"))).get(
        "/api/reserves/650102001").status_code == 404
    # target 100,000 fen, balance 90,000: a funding of 10,001 would be 1 fen above the approved size
    above = client(reserves=FakeReserves(CreditAboveTarget(reserve, 10_001))).post(
        "/api/reserves/650102001/credits", json={"amount_fen": 10_001, "idempotency_key": "k1", "reason": "r"})
    assert above.status_code == 409 and "100000" in above.json()["detail"]


def test_only_finance_approves_a_replenishment():
    answer = client(reserves=FakeReserves(ReserveNotFound("x")), role=Role.county_approver).post(
        "/api/reserves/650102001/replenishments/rr-1/decision", json={"approve": True, "reason": "r"})
    assert answer.status_code == 403


# -- the service's shape -------------------------------------------------------------------------------

def test_every_payment_activity_is_registered_once_in_activities_py():
    registered = PaymentActivities.__new__(PaymentActivities).all()  # the methods, not called
    names = [str(activity._Definition.must_from_callable(fn).name) for fn in registered]
    expected = {v for mod in (act, batch_contracts) for k, v in vars(mod).items()
                if k.isupper() and isinstance(v, str) and v.startswith("payment.")}
    assert sorted(names) == sorted(expected)
    registered_elsewhere = [p.name for p in PAYMENT.rglob("*.py")
                            if p.name != "activities.py" and "activity.defn" in p.read_text()]
    assert registered_elsewhere == []


@pytest.mark.parametrize("module", ["routes.py", "batch_routes.py"])
def test_routes_hold_no_sql_and_no_pool(module: str):
    source = (PAYMENT / module).read_text()
    strings = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [s for s in strings if any(w in s.upper().split() for w in ("SELECT", "INSERT", "UPDATE", "DELETE"))]
    assert ".pool" not in source and "acquire(" not in source and "asyncpg" not in source


def test_no_payment_module_over_500_lines():
    assert {p.name: n for p in PAYMENT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500} == {}
