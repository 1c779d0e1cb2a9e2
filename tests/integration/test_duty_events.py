"""The office's set-based duties on the bus (issue 17: 「visible on the timeline, the dashboard and the bus」):
a referral opened, its outcome recorded and its lapse, a 特困 person's visit recorded, its lapse and the
caregiver replaced each publish exactly one event on ``doudi.case.referral.*`` / ``doudi.case.care_visit.*``
(operations' outbox), however often the request is retried or the sweep runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import nats
import pytest

from deploy.embedded import EmbeddedStack
from shared.contracts.domain_events import (
    CARE_VISIT_OVERDUE,
    CARE_VISIT_RECORDED,
    CAREGIVER_REPLACED,
    REFERRAL_OPENED,
    REFERRAL_OUTCOME_RECORDED,
    REFERRAL_OVERDUE,
)
from tests.integration.test_care_visits import COUNTY, bearer, dispersed_extreme_poverty
from tests.integration.test_referrals import CASEWORKER, TO_CHARITY, refused_case
from tests.support import StackClient, official_token, wait_for
from tests.townships import fresh_township

pytestmark = pytest.mark.stack

ADMIN = {"Authorization": f"Bearer {official_token('h13-admin', 'admin')}"}


async def bus(client: StackClient, subjects: str, key: str, value: str) -> list[tuple[str, dict[str, Any]]]:
    """Every message on ``subjects`` in the case stream whose data[key] is ``value`` (read to the end)."""
    js = (await client.nc()).jetstream()
    sub = await js.subscribe(subjects, ordered_consumer=True, config=nats.js.api.ConsumerConfig(
        deliver_policy=nats.js.api.DeliverPolicy.ALL))
    out = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=2)
            except nats.errors.TimeoutError:
                return out  # nothing on these subjects at all yet
            event = json.loads(msg.data)
            if event["data"].get(key) == value:
                out.append((msg.subject, event))
            if msg.metadata.num_pending == 0:
                return out
    finally:
        await sub.unsubscribe()


async def sweep(client: StackClient) -> None:
    r = await client.http.post("/api/admin/sweep", headers=ADMIN)
    assert r.status_code == 200, r.text


async def test_a_referral_publishes_opened_outcome_and_overdue_once_each(client: StackClient, stack: EmbeddedStack):
    case_id = (await refused_case(client))["case_id"]
    for _ in range(2):  # the same referral asked twice is one referral, one event
        r = await client.http.post(f"/api/cases/{case_id}/referrals", headers=CASEWORKER, json=TO_CHARITY)
        assert r.status_code in (200, 201), r.text
    referral_id = r.json()["referral_id"]
    conn = await asyncpg.connect(stack.database_url)
    try:  # its 15 days pass (the due date moved back, as the clock would have moved forward)
        await conn.execute("UPDATE operations.referrals SET due_at = now() - interval '1 hour'"
                           " WHERE referral_id = $1", referral_id)
    finally:
        await conn.close()
    for _ in range(2):
        await sweep(client)
    outcome = {"outcome": "helped", "note": "慈善总会发放慰问金"}
    for _ in range(2):
        r = await client.http.post(f"/api/referrals/{referral_id}/outcome", headers=CASEWORKER, json=outcome)
        assert r.status_code == 200, r.text

    async def all_three() -> list[tuple[str, dict[str, Any]]] | None:
        seen = await bus(client, "doudi.case.referral.>", "referral_id", referral_id)
        return seen if len({s for s, _ in seen}) == 3 else None
    seen = await wait_for(all_three, timeout=30)
    assert sorted(s for s, _ in seen) == sorted([REFERRAL_OPENED, REFERRAL_OVERDUE, REFERRAL_OUTCOME_RECORDED])
    by = {s: e for s, e in seen}
    assert by[REFERRAL_OPENED]["subject"] == case_id and by[REFERRAL_OPENED]["type"] == f"{REFERRAL_OPENED}.v1"
    assert by[REFERRAL_OPENED]["data"]["to_name"] == "宁夏慈善总会"
    assert by[REFERRAL_OUTCOME_RECORDED]["data"]["outcome"] == "helped"
    # the read model took them as already projected: the timeline has each once, nothing dead-lettered
    events = [t["event"] for t in (await client.case(case_id))["timeline"]]
    assert [events.count(e) for e in ("referral.created", "referral.overdue", "referral.outcome")] == [1, 1, 1]


async def test_a_care_visit_its_lapse_and_a_new_caregiver_publish_once_each(client: StackClient,
                                                                           stack: EmbeddedStack):
    township = fresh_township(COUNTY)
    person = await dispersed_extreme_poverty(client, township)
    r = await client.http.put(f"/api/care-recipients/{person}", headers=bearer("clerk"), json={
        "region_code": township, "name": "马老汉", "care_level": "full_care", "caregiver": "马照料"})
    assert r.status_code == 200, r.text
    visit = {"visit_id": f"v-{person}-h13", "person_id": person,
             "visited_at": (datetime.now(UTC) - timedelta(days=10)).isoformat(),  # full care: due 3 days ago
             "caregiver_performing": False, "findings": "照料服务人未按协议送餐"}
    for _ in range(2):
        r = await client.http.post("/api/care-visits", headers=bearer("clerk"), json=visit)
        assert r.status_code == 200, r.text
    for _ in range(2):
        await sweep(client)
    change = {"caregiver": "李照料", "visit_id": visit["visit_id"], "reason": "原照料服务人履职不到位，及时更换"}
    for _ in range(2):
        r = await client.http.post(f"/api/care-recipients/{person}/caregiver",
                                   headers=bearer("township_approver", township), json=change)
        assert r.status_code == 200, r.text

    async def all_three() -> list[tuple[str, dict[str, Any]]] | None:
        seen = await bus(client, "doudi.case.care_visit.>", "person_id", person)
        return seen if len({s for s, _ in seen}) == 3 else None
    seen = await wait_for(all_three, timeout=30)
    assert sorted(s for s, _ in seen) == sorted([CARE_VISIT_RECORDED, CARE_VISIT_OVERDUE, CAREGIVER_REPLACED])
    by = {s: e for s, e in seen}
    assert by[CARE_VISIT_RECORDED]["data"]["visit_id"] == visit["visit_id"]
    assert by[CARE_VISIT_OVERDUE]["subject"] == person and by[CARE_VISIT_OVERDUE]["data"]["case_id"] is None
    assert (by[CAREGIVER_REPLACED]["data"]["previous_caregiver"], by[CAREGIVER_REPLACED]["data"]["caregiver"]) == (
        "马照料", "李照料")
