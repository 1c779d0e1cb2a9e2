"""Visits to dispersed 特困 persons on the real stack (issue 17 item 3): a schedule by care level, a visit
falling overdue onto the attention list, the caregiver replaced as a recorded decision.

Cadence by hand from the national pack (LOCAL PRACTICE, seed 003 「加强对分散供养特困人员定期探访和照料服务」
names no period): full care every 7 days. A visit recorded 10 days ago makes the next one due 3 days ago.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support import StackClient, household, national_id, official_token, wait_for
from tests.townships import fresh_township

pytestmark = pytest.mark.stack

COUNTY = "640324"  # 同心县: this module's own county


def bearer(role: str, region: str = COUNTY) -> dict[str, str]:
    return {"Authorization": f"Bearer {official_token(f'care-{role}-{uuid.uuid4().hex[:6]}', role, region=region)}"}


async def dispersed_extreme_poverty(client: StackClient, township: str) -> str:
    """A person of a 特困 household on the registry (categories that carry money come from the roster)."""
    person = national_id(COUNTY)
    r = await client.http.post("/api/households/roster", headers=client.roster, json=household(
        person, region=township, categories=["extreme_poverty"], income_fen=0))
    assert r.status_code in (200, 201), r.text
    return person


async def attention(client: StackClient, township: str) -> dict[str, Any]:
    r = await client.http.get("/api/stats/attention", params={"region_code": township}, headers=bearer("clerk"))
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_visit_falls_overdue_onto_the_attention_list_and_the_caregiver_is_replaced(client: StackClient):
    township = fresh_township(COUNTY)
    person = await dispersed_extreme_poverty(client, township)
    r = await client.http.put(f"/api/care-recipients/{person}", headers=bearer("clerk"), json={
        "region_code": township, "name": "马老汉", "care_level": "full_care", "caregiver": "马照料",
        "caregiver_phone": "13900000000"})
    assert r.status_code == 200, r.text
    schedule = r.json()
    assert schedule["visit_every_days"] == 7 and "care_visit_days_full_care" in schedule["cadence_rule"]
    assert "定期探访" in schedule["cadence_rule"] and not schedule["overdue"]
    assert (await attention(client, township))["care_visits"] == []

    # a visit made 10 days ago (recorded late): the next was due 3 days ago
    visited = datetime.now(UTC) - timedelta(days=10)
    r = await client.http.post("/api/care-visits", headers=bearer("clerk"), json={
        "visit_id": f"v-{person}-1", "person_id": person, "visited_at": visited.isoformat(),
        "caregiver_performing": False, "findings": "照料服务人未按协议送餐，老人独自在家"})
    assert r.status_code == 200, r.text
    due = datetime.fromisoformat(r.json()["next_visit_due"])
    assert abs(due - (visited + timedelta(days=7))) < timedelta(seconds=1)
    again = await client.http.post("/api/care-visits", headers=bearer("clerk"), json={
        "visit_id": f"v-{person}-1", "person_id": person, "visited_at": visited.isoformat(),
        "caregiver_performing": False, "findings": "照料服务人未按协议送餐，老人独自在家"})
    assert again.status_code == 200 and again.json()["recorded"] is False  # the same visit, once

    listed = await attention(client, township)
    assert listed["care_visits_total"] == 1
    [overdue] = listed["care_visits"]
    assert (overdue["person_id"], overdue["caregiver"], overdue["care_level"]) == (person, "马照料", "full_care")
    r = await client.http.get("/api/care-recipients", params={"region": township, "overdue": "true"},
                              headers=bearer("auditor"))
    masked = f"{person[:6]}********{person[-4:]}"  # an auditor reads IDs masked
    assert r.status_code == 200 and [p["person_id"] for p in r.json()["items"]] == [masked], r.text

    # the caregiver is replaced by the township: a recorded decision with its reason and the visit
    r = await client.http.post(f"/api/care-recipients/{person}/caregiver", headers=bearer("clerk"), json={
        "caregiver": "李照料", "reason": "x"})
    assert r.status_code == 403, r.text  # a caseworker records visits; the township or county decides
    change = {"caregiver": "李照料", "caregiver_phone": "13800000000", "visit_id": f"v-{person}-1",
              "reason": "原照料服务人履职不到位，及时更换"}
    township_approver = bearer("township_approver", township)
    r = await client.http.post(f"/api/care-recipients/{person}/caregiver", headers=township_approver, json=change)
    assert r.status_code == 200, r.text
    decided = r.json()
    assert (decided["previous_caregiver"], decided["new_caregiver"], decided["role"]) == (
        "马照料", "李照料", "township_approver")
    retry = await client.http.post(f"/api/care-recipients/{person}/caregiver", headers=township_approver, json=change)
    assert retry.status_code == 200 and retry.json()["change_id"] == decided["change_id"]
    r = await client.http.get(f"/api/care-recipients/{person}", headers=bearer("auditor"))
    assert r.status_code == 200, r.text
    file = r.json()
    assert file["caregiver"] == "李照料" and len(file["caregiver_changes"]) == 1 and len(file["visits"]) == 1

    # a visit today: no longer overdue
    r = await client.http.post("/api/care-visits", headers=bearer("clerk"), json={
        "person_id": person, "visited_at": datetime.now(UTC).isoformat(), "caregiver_performing": True,
        "findings": "新照料服务人按时送餐"})
    assert r.status_code == 200, r.text

    async def cleared() -> bool:
        return (await attention(client, township))["care_visits"] == []
    await wait_for(cleared, timeout=10)


async def test_only_a_registered_extreme_poverty_person_is_scheduled_and_no_visit_is_in_the_future(
        client: StackClient):
    township = fresh_township(COUNTY)
    person = await dispersed_extreme_poverty(client, township)
    r = await client.http.post("/api/care-visits", headers=bearer("clerk"), json={
        "person_id": person, "visited_at": datetime.now(UTC).isoformat(), "caregiver_performing": True,
        "findings": "x"})
    assert r.status_code == 404, r.text  # not scheduled yet
    # a person of a dibao household, and one the registry does not know, are refused naming person_id
    dibao = national_id(COUNTY)
    r = await client.http.post("/api/households/roster", headers=client.roster, json=household(
        dibao, region=township, categories=["dibao"], income_fen=0))
    assert r.status_code in (200, 201), r.text
    for who, why in ((dibao, "不是特困供养人员"), (national_id(COUNTY), "户籍登记中没有该人员")):
        r = await client.http.put(f"/api/care-recipients/{who}", headers=bearer("clerk"), json={
            "region_code": township, "care_level": "self_care", "caregiver": "邻居"})
        assert r.status_code == 422 and "person_id" in r.text and why in r.text, r.text
    r = await client.http.put(f"/api/care-recipients/{person}", headers=bearer("clerk"), json={
        "region_code": township, "care_level": "self_care", "caregiver": "邻居"})
    assert r.status_code == 200 and r.json()["visit_every_days"] == 30, r.text  # LOCAL PRACTICE self-care
    r = await client.http.post("/api/care-visits", headers=bearer("clerk"), json={
        "person_id": person, "visited_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "caregiver_performing": True, "findings": "x"})
    assert r.status_code == 422 and "visited_at" in r.text, r.text
    r = await client.http.put(f"/api/care-recipients/{person}", headers=bearer("clerk", "6501"), json={
        "region_code": "650102", "care_level": "self_care", "caregiver": "邻居"})
    assert r.status_code == 403, r.text  # another jurisdiction's person is not taken over
