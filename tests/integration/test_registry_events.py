"""Facts that change the registry: a death, an income change (what later re-checks see)."""

from __future__ import annotations

import pytest

from tests.support import StackClient, household, national_id, wait_for

pytestmark = pytest.mark.stack


async def test_a_death_event_marks_the_member_deceased(client: StackClient):
    pid = national_id("640104")
    body = household(pid, region="640104", categories=["dibao"])
    await client.register(body)
    await client.publish("household.member_deceased", {"person_id": pid, "died_on": "2022-07-20"})

    async def deceased():
        r = await client.http.get(f"/api/households/{body['household_id']}", headers=client.clerk)
        assert r.status_code == 200, r.text
        member = r.json()["members"][0]
        return member if member["deceased_on"] == "2022-07-20" else None

    await wait_for(deceased, timeout=20)


async def test_an_income_change_updates_the_household(client: StackClient):
    pid = national_id("640104")
    body = household(pid, region="640104", categories=["dibao"], income_fen=30000)
    await client.register(body)
    await client.publish("household.income_changed", {"household_id": body["household_id"],
                                                      "monthly_income_fen": 250000, "reason": "employment",
                                                      "effective_on": "2022-09-01"})

    async def updated():
        r = await client.http.get(f"/api/households/{body['household_id']}", headers=client.clerk)
        return r.json() if r.json()["monthly_income_fen"] == 250000 else None

    view = await wait_for(updated, timeout=20)
    assert view["version"] == 2
