"""Verification's reference-data routes are HTTP only: they validate with the department's payload model
and reach the table through the store the app holds (here an in-memory one, on a TestClient)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.verification import routes
from shared.auth import Role, issue_token
from tests.support import national_id

LOADED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class MemoryReferences:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    async def put(self, source: str, person_id: str, payload: dict[str, Any]) -> tuple[datetime, bool]:
        created = (source, person_id) not in self.rows
        self.rows[source, person_id] = payload
        return LOADED, created

    async def get(self, source: str, person_id: str) -> dict[str, Any] | None:
        payload = self.rows.get((source, person_id))
        return None if payload is None else {"payload": payload, "loaded_at": LOADED}


def client() -> tuple[TestClient, MemoryReferences]:
    app = FastAPI()
    app.include_router(routes.router)
    app.state.reference = MemoryReferences()
    return TestClient(app), app.state.reference


def auth(role: Role, region: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token('svc-test', role, region=region)}"}


CAR = {"vehicles": [{"plate": "宁A12345", "kind": "car", "assessed_value_fen": 8_000_000,
                     "registered_on": "2021-05-01"}]}


def test_a_record_is_validated_stored_once_and_read_back() -> None:
    api, store = client()
    pid = national_id()
    first = api.put(f"/api/reference-data/vehicles/{pid}", json=CAR, headers=auth(Role.service))
    again = api.put(f"/api/reference-data/vehicles/{pid}", json=CAR, headers=auth(Role.service))
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["department_zh"] == "公安交通管理部门（机动车登记）"
    assert store.rows["vehicles", pid]["vehicles"][0]["deregistered_on"] is None  # normalised by the model
    read = api.get(f"/api/reference-data/vehicles/{pid}", headers=auth(Role.auditor))
    assert read.status_code == 200 and read.json()["payload"] == store.rows["vehicles", pid]


def test_a_bad_record_is_a_422_naming_the_field_and_nothing_is_stored() -> None:
    api, store = client()
    bad = {"vehicles": [{**CAR["vehicles"][0], "kind": "spaceship"}]}
    r = api.put(f"/api/reference-data/vehicles/{national_id()}", json=bad, headers=auth(Role.service))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "vehicles", 0, "kind"]
    assert store.rows == {}


def test_an_unknown_source_and_a_person_of_another_region_are_not_found() -> None:
    api, store = client()
    assert api.put(f"/api/reference-data/horses/{national_id()}", json={},
                   headers=auth(Role.service)).status_code == 404
    r = api.put(f"/api/reference-data/vehicles/{national_id('640104')}", json=CAR,
                headers=auth(Role.service, region="6402"))
    assert r.status_code == 404 and "640104********" in r.json()["detail"]
    assert store.rows == {}
