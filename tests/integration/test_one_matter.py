"""One matter, one discussion on the real stack: a need above the cap goes to the county coordination
committee; members give opinions over HTTP; the chair decides a raised amount; it is paid; the minutes
name every opinion; the committee's own view shows what each member still owes."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from deploy.embedded import EmbeddedStack
from tests.support import StackClient, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

COUNTY = "640105"  # 银川市西夏区


def bearer(subject: str, role: str, region: str = COUNTY) -> dict[str, str]:
    return {"Authorization": f"Bearer {official_token(subject, role, region=region)}"}


async def test_a_need_above_the_cap_is_decided_by_the_committee_and_paid(client: StackClient, stack: EmbeddedStack):
    suffix = uuid.uuid4().hex[:4]
    members = {f"civil-{suffix}": ("民政局", True), f"finance-{suffix}": ("财政局", False),
               f"health-{suffix}": ("卫健委", False)}
    admin = bearer("admin-1", "admin", "")
    for member_id, (department, chair) in members.items():
        r = await client.http.put(f"/api/committees/{COUNTY}/members/{member_id}", headers=admin,
                                  json={"name": department, "department": department, "chair": chair})
        assert r.status_code == 200, r.text

    pid = national_id(COUNTY)
    r = await client.http.post("/api/applications", headers=bearer("clerk-7", "clerk"), json={
        "person_id": pid, "region_code": COUNTY, "kind": "emergency", "consent": True,
        "details": {"incident_date": "2022-08-10", "requested_amount_fen": 1_500_000,
                    "household_type": "emergency_household", "reason": "重病，家庭重大变故"}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    matter_id = f"om-{case_id}"

    async def matter_open():
        r = await client.http.get(f"/api/cases/{matter_id}", headers=client.clerk)
        return r.json() if r.status_code == 200 and r.json()["stage"] == "dossier_assembled" else None
    matter = await wait_for(matter_open, timeout=30)
    assert matter["pathway"] == "one_matter"

    view = (await client.http.get(f"/api/committees/{COUNTY}", headers=bearer(f"civil-{suffix}", "committee"))).json()
    [open_matter] = [m for m in view["open_matters"] if m["case_id"] == matter_id]
    assert sorted(open_matter["owed_by"]) == sorted(members)

    def opinion(vote: str, amount: int | None = None) -> dict:
        return {"decision": "opinion", "vote": vote, "amount_fen": amount, "reason": "一事一议"}

    r = await client.http.post(f"/api/cases/{matter_id}/decisions", json=opinion("approve", 1_600_000),
                               headers=bearer("stranger", "committee"))
    assert r.status_code == 409 and "not a member" in r.json()["detail"]
    r = await client.http.post(f"/api/cases/{matter_id}/decisions", json=opinion("approve", 1_600_000),
                               headers=bearer(f"finance-{suffix}", "committee"))
    assert r.status_code == 200, r.text
    r = await client.http.post(f"/api/cases/{matter_id}/decisions", json=opinion("approve", 1_600_000),
                               headers=bearer(f"finance-{suffix}", "committee"))
    assert r.status_code == 409 and "already" in r.json()["detail"]
    r = await client.http.post(f"/api/cases/{matter_id}/decisions", json=opinion("approve", 1_800_000),
                               headers=bearer(f"health-{suffix}", "committee"))
    assert r.status_code == 200, r.text
    r = await client.http.post(f"/api/cases/{matter_id}/decisions", headers=bearer(f"civil-{suffix}", "committee"),
                               json={"decision": "committee_decision", "approve": True, "amount_fen": 1_700_000,
                                     "reason": "重大困难，提高救助标准"})
    assert r.status_code == 200, r.text

    async def paid():
        r = await client.http.get(f"/api/cases/{case_id}", headers=client.clerk)
        case = r.json()
        return case if case["payments"] else None
    case = await wait_for(paid, timeout=30)
    assert [p["amount_fen"] for p in case["payments"]] == [1_700_000]  # raised above the 1,500,000 requested
    conn = await asyncpg.connect(stack.database_url)
    try:
        minutes = await conn.fetchrow("SELECT * FROM approval.minutes WHERE case_id = $1", matter_id)
    finally:
        await conn.close()
    opinions, decision = json.loads(minutes["opinions"]), json.loads(minutes["decision"])
    assert [(o["member_id"], o["vote"], o["amount_fen"]) for o in opinions] == [
        (f"finance-{suffix}", "approve", 1_600_000), (f"health-{suffix}", "approve", 1_800_000)]
    assert decision["amount_fen"] == 1_700_000 and decision["member_id"] == f"civil-{suffix}"
