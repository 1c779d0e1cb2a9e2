"""The disaster top-up on the real stack (issue 17 item 6, seed 003
「并根据因灾损失、人员伤亡等情况,适当提高救助水平」):
a disaster report's casualties raise the aid by the pack's scale; the deciding tier stays the one of the base
amount; an absurd loss figure opens nothing."""

from __future__ import annotations

import uuid

import pytest

from tests.support import StackClient, household, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

HELANSHAN = "640122"  # 银川市贺兰县 (no other test reports a disaster here)


def bearer(role: str, region: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {official_token(f'test-{role}-{uuid.uuid4().hex[:6]}', role, region=region)}"}


async def test_a_death_in_the_disaster_raises_the_aid_and_the_county_pays_the_raised_amount(client: StackClient):
    pid = national_id(HELANSHAN)
    await client.register(household(pid, region=HELANSHAN, categories=[], income_fen=0))
    await client.publish_event("disaster.affected", {
        "person_id": pid, "region_code": HELANSHAN, "disaster_id": f"flood-{uuid.uuid4().hex[:6]}",
        "occurred_on": "2022-08-01", "deaths": 1}, time="2022-08-02T09:00:00+08:00")

    async def awaiting_county() -> dict | None:
        items = await client.cases(person_id=pid)
        return items[0] if items and items[0]["stage"] == "awaiting_county_decision" else None
    case = await wait_for(awaiting_county, timeout=60)
    # Ningxia's emergency-type household aid 「不低于城市低保月标准……2倍」: 2 x 650 yuan = 1,300 yuan, above the
    # township's 1,000 yuan (national local practice), so the county's; one death adds 1,000 yuan (the national
    # pack's local-practice scale): 2,300 yuan = 230,000 fen, within the county's 10,000 yuan
    assert case["approved_amount_fen"] == 230000
    stages = [t["stage"] for t in (await client.case(case["case_id"]))["timeline"]]
    assert "raised_for_disaster" in stages

    county = bearer("county_approver", "6401")
    # the raised amount is the policy's floor now (不低于): a decision under it is refused
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", headers=county,
                               json={"decision": "approve", "amount_fen": 229999})
    assert r.status_code in (409, 422), r.text
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", headers=county,
                               json={"decision": "approve", "amount_fen": 230000})
    assert r.status_code == 200, r.text

    async def paid() -> list | None:
        return [row["amount_fen"] for row in await client.ledger(case_id=case["case_id"])] or None
    assert await wait_for(paid, timeout=60) == [230000]


async def test_an_absurd_loss_figure_opens_no_case(client: StackClient):
    pid = national_id(HELANSHAN)
    await client.register(household(pid, region=HELANSHAN, categories=[], income_fen=0))
    for absurd in (2**63 - 1, -1):
        await client.publish_event("disaster.affected", {
            "person_id": pid, "region_code": HELANSHAN, "disaster_id": "flood-absurd", "occurred_on": "2022-08-01",
            "direct_loss_fen": absurd}, time="2022-08-02T09:00:00+08:00")
    await client.settled("intake-disaster")
    assert await client.cases(person_id=pid) == []
