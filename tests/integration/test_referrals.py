"""Referrals (转介) and charity linkage (issue 17 item 4), on the real stack: a refused case referred to a
charity organisation with its outcome recorded; a referral past its due date on the attention list and the
timeline until its outcome comes; nobody outside the case's jurisdiction sees or touches it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from deploy.embedded import EmbeddedStack
from tests.support import StackClient, household, national_id, official_token

pytestmark = pytest.mark.stack

XIXIA = "640105"  # 银川市西夏区 (no other test refers cases here)


def bearer(role: str, region: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {official_token(f'test-{role}-{uuid.uuid4().hex[:6]}', role, region=region)}"}


CASEWORKER = bearer("clerk", "6401")

TO_CHARITY = {"to_kind": "charity_organisation", "to_name": "宁夏慈善总会", "service": "charity_aid",
              "reason": "失业救助因收入超标未获批准，家中仍有重病人员，生活困难"}


async def refused_case(client: StackClient) -> dict[str, Any]:
    """A job-loss application refused by the economic check (wages on record above the line)."""
    pid = national_id(XIXIA)
    await client.register(household(pid, region=XIXIA, categories=[], income_fen=0))
    r = await client.http.put(f"/api/reference-data/hrss/{pid}", headers=bearer("admin"), json={
        "employments": [{"employer": "某物流公司", "monthly_wage_fen": 150000, "start_on": "2022-01-01"}]})
    assert r.status_code in (200, 201), r.text
    r = await client.http.post("/api/applications", headers=CASEWORKER, json={
        "person_id": pid, "region_code": XIXIA, "kind": "job_loss", "consent": True,
        "details": {"incident_date": "2022-09-05", "unemployment_insured": False}})
    assert r.status_code == 202, r.text
    done = await client.closed_case(pid, timeout=60)
    assert done["outcome"] == "rejected" and done["payments"] == []
    return done


async def timeline_events(client: StackClient, case_id: str) -> list[str]:
    return [t["event"] for t in (await client.case(case_id))["timeline"]]


async def test_a_refused_case_is_referred_to_a_charity_and_its_outcome_recorded(client: StackClient):
    case = await refused_case(client)
    case_id = case["case_id"]
    r = await client.http.post(f"/api/cases/{case_id}/referrals", headers=CASEWORKER, json=TO_CHARITY)
    assert r.status_code == 201, r.text
    referral = r.json()
    assert referral["status"] == "open" and referral["to_name"] == "宁夏慈善总会"
    # the due date is the pack's local-practice period (national pack: 15 days), labelled as such
    rule = referral["deadline_rule"]
    assert rule["figure"] == "referral_response_days" and rule["days"] == 15 and rule["local_practice"]
    # the same referral again is the same referral (its id from the cause)
    again = await client.http.post(f"/api/cases/{case_id}/referrals", headers=CASEWORKER, json=TO_CHARITY)
    assert again.status_code == 200 and again.json()["referral_id"] == referral["referral_id"]

    # another region neither sees the case's referrals nor records an outcome
    fujian = bearer("clerk", "35")
    assert (await client.http.get(f"/api/cases/{case_id}/referrals", headers=fujian)).status_code == 404
    assert (await client.http.post(f"/api/cases/{case_id}/referrals", headers=fujian,
                                   json=TO_CHARITY)).status_code == 404
    outcome = {"outcome": "helped", "note": "慈善总会发放慰问金并安排志愿者每周探访"}
    r = await client.http.post(f"/api/referrals/{referral['referral_id']}/outcome", headers=fujian, json=outcome)
    assert r.status_code == 404
    # bad input names the field
    r = await client.http.post(f"/api/referrals/{referral['referral_id']}/outcome", headers=CASEWORKER,
                               json={"outcome": "paid", "note": "x"})
    assert r.status_code == 422 and "outcome" in r.text
    r = await client.http.post(f"/api/cases/{case_id}/referrals", headers=CASEWORKER,
                               json=dict(TO_CHARITY, reason=""))
    assert r.status_code == 422 and "reason" in r.text

    # two caseworkers record different outcomes at once: one is recorded, the other refused naming it
    url = f"/api/referrals/{referral['referral_id']}/outcome"
    declined = {"outcome": "declined", "note": "慈善总会表示无力接收"}
    answers = await asyncio.gather(client.http.post(url, headers=CASEWORKER, json=outcome),
                                   client.http.post(url, headers=CASEWORKER, json=declined))
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    if answers[0].status_code == 409:  # the other came first: this test goes on with the first one's outcome
        outcome = declined
    r = await client.http.post(url, headers=CASEWORKER, json=outcome)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["outcome"] == outcome["outcome"]
    # recorded once: the same again is answered as recorded, another is refused
    r = await client.http.post(url, headers=CASEWORKER, json={"outcome": "unreachable", "note": "改口"})
    assert r.status_code == 409 and "不能更改" in r.json()["detail"]

    events = await timeline_events(client, case_id)
    assert events.count("referral.created") == 1 and events.count("referral.outcome") == 1
    words = {t["event"]: t["text_zh"] for t in (await client.case(case_id))["timeline"]}
    assert "转介至慈善组织「宁夏慈善总会」（慈善帮扶）" in words["referral.created"]
    assert outcome["note"] in words["referral.outcome"]
    [listed] = (await client.http.get(f"/api/cases/{case_id}/referrals", headers=CASEWORKER)).json()["items"]
    assert listed["outcome_note"] == outcome["note"]


async def test_an_overdue_referral_is_on_the_attention_list_until_its_outcome(client: StackClient,
                                                                              stack: EmbeddedStack):
    case = await refused_case(client)
    case_id = case["case_id"]
    r = await client.http.post(f"/api/cases/{case_id}/referrals", headers=CASEWORKER, json={
        "to_kind": "department", "to_name": "西夏区公安分局", "service": "identity_and_family_tracing",
        "reason": "身份不明，协助身份查询和寻亲"})
    assert r.status_code == 201, r.text
    referral_id = r.json()["referral_id"]

    async def attention_ids() -> list[str]:
        r = await client.http.get("/api/stats/attention", params={"region_code": XIXIA, "limit": 500},
                                  headers=CASEWORKER)
        assert r.status_code == 200, r.text
        return [i["case_id"] for i in r.json()["items"] if "overdue:referral" in i["reasons"]]
    assert case_id not in await attention_ids()  # not due yet (a closed case is otherwise not listed)

    # the 15 days pass: the due date is moved back, as the clock would have moved forward
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute("UPDATE operations.referrals SET due_at = now() - interval '1 hour'"
                           " WHERE referral_id = $1", referral_id)
    finally:
        await conn.close()
    assert case_id in await attention_ids()
    overdue = (await client.http.get("/api/referrals", params={"status": "overdue", "region_code": XIXIA},
                                     headers=CASEWORKER)).json()["items"]
    assert [o["referral_id"] for o in overdue if o["case_id"] == case_id] == [referral_id]

    # the sweep writes it on the case's timeline once, however often it runs
    for _ in range(2):
        r = await client.http.post("/api/admin/sweep", headers=bearer("admin"))
        assert r.status_code == 200, r.text
    assert (await timeline_events(client, case_id)).count("referral.overdue") == 1

    r = await client.http.post(f"/api/referrals/{referral_id}/outcome", headers=CASEWORKER,
                               json={"outcome": "family_found", "note": "已联系到家属，护送返乡"})
    assert r.status_code == 200, r.text
    assert case_id not in await attention_ids()  # an outcome ends it (read at query time)
