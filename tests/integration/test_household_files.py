"""家庭档案 on the real stack (issue 16): a household's file shows its members, its cases and the ledger's
payments; it is found by national ID, by name and by household id; national IDs are masked for a role
that may not see them; another jurisdiction finds nothing."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from shared.auth import Role, issue_token
from tests.support import StackClient, national_id

pytestmark = pytest.mark.stack

COUNTY = "640303"   # 吴忠市红寺堡区: no other test registers here
FOREIGN = "640105"


def bearer(role: Role, region: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(f'files-{role}-{uuid.uuid4().hex[:6]}', role, region=region)}"}


def member(pid: str, name: str, relation: str) -> dict[str, Any]:
    return {"person_id": pid, "name": name, "relation": relation,
            "birth_date": f"{pid[6:10]}-{pid[10:12]}-{pid[12:14]}", "flags": []}


def unique_name() -> str:
    """A surname no other test uses and a given name of three random characters (found by its prefix)."""
    return "欧阳" + "".join(random.choices("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥", k=3))


async def test_a_paid_household_is_found_and_its_file_shows_the_case_and_the_payment(client: StackClient):
    head, spouse = national_id(COUNTY), national_id(COUNTY)
    name = unique_name()
    household_id = f"hh-files-{uuid.uuid4().hex[:8]}"
    await client.register({"household_id": household_id, "region_code": COUNTY, "urban": True,
                           "categories": ["dibao"], "monthly_income_fen": 60000,
                           "members": [member(head, name, "head"), member(spouse, name + "妻", "spouse")]})
    await client.publish("health.quarantined", {"person_id": head, "region_code": COUNTY,
                                                "quarantined_on": "2022-08-10"})
    case = await client.closed_case(head, timeout=60)
    assert case["outcome"] == "paid"

    h = client.http
    clerk = bearer(Role.clerk, COUNTY)
    r = await h.get(f"/api/household-files/{household_id}", headers=clerk)
    assert r.status_code == 200, r.text
    file = r.json()
    assert file["household_id"] == household_id and file["region_code"] == COUNTY and file["urban"] is True
    assert file["categories"] == ["dibao"]
    assert file["region_name"] == "宁夏回族自治区吴忠市红寺堡区"
    assert [(m["person_id"], m["name"]) for m in file["members"]] == sorted([(head, name), (spouse, name + "妻")])
    # seed 002 (Ningxia): a quarantined dibao recipient gets 3 x the city monthly standard 650 yuan
    # = 3 x 65000 fen = 195000 fen = 1950.00 yuan
    [c] = file["cases"]
    assert (c["case_id"], c["pathway"], c["pathway_zh"], c["status"]) == (
        case["case_id"], "emergency_relief", "急难救助（先行救助）", "closed")
    assert (c["approved_amount_fen"], c["paid_fen"], c["paid_yuan"]) == (195000, 195000, "1950.00")
    [p] = file["payments"]
    assert (p["kind"], p["case_id"], p["measure"], p["amount_fen"], p["amount_yuan"], p["person_id"]) == (
        "disbursement", case["case_id"], "quarantine", 195000, "1950.00", head)
    assert p["kind_zh"] == "发放" and p["created_at_beijing"]
    assert file["totals"] == {"cases": 1, "open_cases": 0, "disbursed_fen": 195000, "disbursed_yuan": "1950.00",
                              "recovery_claimed_fen": 0, "recovery_claimed_yuan": "0.00"}
    assert file["enrolment"] is None and file["reviews"] == [] and file["level_history"] == []

    # found by the national ID, by the name's start and by the household id
    for q, matched_by in ((spouse, "person_id"), (name[:3], "name"), (household_id, "household_id")):
        r = await h.get("/api/household-files", params={"q": q}, headers=clerk)
        assert r.status_code == 200, r.text
        hits = [x for x in r.json()["items"] if x["household_id"] == household_id]
        assert [x["matched_by"] for x in hits] == [matched_by], (q, r.json())
        assert hits[0]["file_url"] == f"/api/household-files/{household_id}"
        assert {m["person_id"] for m in hits[0]["members"]} == {head, spouse}

    # finance and the committee work on money and matters, not people: IDs masked (first 6, last 4)
    masked = head[:6] + "********" + head[14:]
    for role in (Role.finance, Role.committee, Role.auditor):
        r = await h.get(f"/api/household-files/{household_id}", headers=bearer(role, COUNTY))
        assert r.status_code == 200, (role, r.text)
        assert head not in r.text and spouse not in r.text and masked in r.text, role
        r = await h.get("/api/household-files", params={"q": name[:3]}, headers=bearer(role, COUNTY))
        assert r.status_code == 200 and head not in r.text and masked in r.text, (role, r.text)

    # another county's officials find nothing and cannot open the file
    for role in (Role.clerk, Role.county_approver, Role.auditor):
        r = await h.get(f"/api/household-files/{household_id}", headers=bearer(role, FOREIGN))
        assert r.status_code == 404 and "未找到户" in r.json()["detail"], (role, r.text)
        for q in (head, name[:3], household_id):
            r = await h.get("/api/household-files", params={"q": q}, headers=bearer(role, FOREIGN))
            assert r.status_code == 200 and r.json()["items"] == [], (role, q, r.text)
    # a service account or no token: refused
    assert (await h.get(f"/api/household-files/{household_id}")).status_code == 401
    r = await h.get(f"/api/household-files/{household_id}", headers=bearer(Role.service, COUNTY))
    assert r.status_code == 403


async def test_an_unknown_household_and_a_bad_query_are_answered_plainly(client: StackClient):
    clerk = bearer(Role.clerk, COUNTY)
    r = await client.http.get("/api/household-files/hh-no-such-household", headers=clerk)
    assert r.status_code == 404
    r = await client.http.get("/api/household-files", params={"q": "没有这个人的名字"}, headers=clerk)
    assert r.status_code == 200 and r.json() == {"items": [], "total": 0}
    r = await client.http.get("/api/household-files", params={"q": "%"}, headers=clerk)
    assert r.status_code == 200 and r.json()["items"] == []  # a LIKE wildcard is a character, not "everyone"
    assert (await client.http.get("/api/household-files", headers=clerk)).status_code == 422
