"""Applying where you live (issue 17 item 5), on the real stack: a graduate registered in Jiangxi but living in
Ningxia applies in Ningxia and is paid Ningxia's amount by Ningxia; Jiangxi is informed; an office takes no
application of a person who neither lives nor is registered there; the same graduate applying in both places
is paid once."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from tests.support import StackClient, household, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

JINFENG = "640106"   # 银川市金凤区: where the graduate lives (no other test applies here)
XINZHOU = "361102"   # 上饶市信州区: where the graduate's household is registered


def bearer(role: str, region: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {official_token(f'test-{role}-{uuid.uuid4().hex[:6]}', role, region=region)}"}


NINGXIA_CLERK = "6401"
JIANGXI_CLERK = "3611"


def graduate_application(pid: str, residence: dict[str, Any] | None, region: str = JINFENG) -> dict[str, Any]:
    details: dict[str, Any] = {"reason": "未就业大学生，生活困难", "incident_date": "2022-08-10"}
    if residence is not None:
        details["residence"] = residence
    return {"person_id": pid, "region_code": region, "kind": "graduate", "consent": True, "details": details}


LIVES_IN_JINFENG = {"basis": "habitual_residence", "region_code": JINFENG, "evidence": "居住证 640106-2022-0001"}


async def registered_in_jiangxi(client: StackClient) -> str:
    """A graduate whose household is registered in Xinzhou, in the low-income database (no economic check:
    seed 002 「已纳入民政部门低收入人口数据库的……不再进行家庭经济状况核查，直接给予救助」)."""
    pid = national_id(XINZHOU)
    await client.register(household(pid, region=XINZHOU, categories=["low_income_db"], income_fen=0))
    return pid


async def test_a_jiangxi_graduate_living_in_ningxia_is_paid_by_ningxia_and_jiangxi_is_informed(client: StackClient):
    pid = await registered_in_jiangxi(client)
    r = await client.http.post("/api/applications", headers=bearer("clerk", NINGXIA_CLERK),
                               json=graduate_application(pid, LIVES_IN_JINFENG))
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]

    done = await client.closed_case(pid, timeout=60)
    # seed 002 measure 6: 「由户籍所在地或经常居住地按照当地城市低保月标准3倍，发放一次性临时救助金」, and Ningxia's
    # city standard 「每人每月650元」: 3 x 650 yuan = 1,950 yuan = 3 x 65,000 fen = 195,000 fen
    assert done["case_id"] == case_id and done["outcome"] == "paid"
    assert [p["amount_fen"] for p in done["payments"]] == [195000]
    assert done["region_code"] == JINFENG  # the case belongs to the deciding office
    assert done["policy"]["pack_id"].startswith("ningxia")
    [row] = await client.ledger(case_id=case_id)
    assert row["amount_fen"] == 195000 and row["region_code"].startswith(JINFENG)

    # the registration office (Xinzhou) is informed; Ningxia's own list does not carry it
    async def noticed() -> list[dict[str, Any]] | None:
        r = await client.http.get("/api/registration-notices", headers=bearer("clerk", JIANGXI_CLERK))
        assert r.status_code == 200, r.text
        return [n for n in r.json()["items"] if n["case_id"] == case_id] or None
    [notice] = await wait_for(noticed)
    assert notice["basis"] == "habitual_residence" and notice["deciding_region_code"] == JINFENG
    assert notice["registered_region_code"] == XINZHOU and notice["kind"] == "graduate"
    r = await client.http.get("/api/registration-notices", headers=bearer("clerk", NINGXIA_CLERK))
    assert all(n["case_id"] != case_id for n in r.json()["items"])
    # ... and on the bus: the case.opened event names where it was filed and where the household is registered
    opened = [json.loads(m.data)["data"] for m in await client.fetch_stream("doudi.case.opened")]
    [data] = [d for d in opened if d["case_id"] == case_id]
    assert data["filed_where"] == {"basis": "habitual_residence", "deciding_region_code": JINFENG,
                                   "registered_region_code": XINZHOU}


async def test_an_office_takes_no_application_of_a_person_who_neither_lives_nor_is_registered_there(
        client: StackClient):
    pid = await registered_in_jiangxi(client)
    ningxia = bearer("clerk", NINGXIA_CLERK)
    r = await client.http.post("/api/applications", headers=ningxia, json=graduate_application(pid, None))
    assert r.status_code == 422 and "details.residence" in r.json()["detail"], r.text
    assert "户籍不在本县" in r.json()["detail"]
    # a residence declared in another county than the one applied in
    elsewhere = dict(LIVES_IN_JINFENG, region_code="640104")
    r = await client.http.post("/api/applications", headers=ningxia, json=graduate_application(pid, elsewhere))
    assert r.status_code == 422 and "details.residence.region_code" in r.json()["detail"], r.text
    # a graduate applies where registered or where living (户籍所在地或经常居住地), not where working
    working = dict(LIVES_IN_JINFENG, basis="work_place")
    r = await client.http.post("/api/applications", headers=ningxia, json=graduate_application(pid, working))
    assert r.status_code == 422 and "details.residence.basis" in r.json()["detail"], r.text
    # an empty evidence, an unknown basis: the field named
    for bad in (dict(LIVES_IN_JINFENG, evidence=""), dict(LIVES_IN_JINFENG, basis="anywhere")):
        r = await client.http.post("/api/applications", headers=ningxia, json=graduate_application(pid, bad))
        assert r.status_code == 422 and "residence" in r.text, r.text
    # a Ningxia clerk cannot file in Jiangxi's name either
    r = await client.http.post("/api/applications", headers=ningxia,
                               json=graduate_application(pid, None, region=XINZHOU))
    assert r.status_code == 403, r.text
    assert await client.cases(person_id=pid) == []  # nothing opened


async def test_the_same_graduate_applying_in_both_places_is_paid_once(client: StackClient):
    pid = await registered_in_jiangxi(client)
    # both offices at the same moment, each with its own application id: one takes the aid, one is refused
    at_home = client.http.post("/api/applications", headers=bearer("clerk", JIANGXI_CLERK),
                               json=dict(graduate_application(pid, None, region=XINZHOU), application_id=f"jx-{pid}"))
    away = client.http.post("/api/applications", headers=bearer("clerk", NINGXIA_CLERK),
                            json=dict(graduate_application(pid, LIVES_IN_JINFENG), application_id=f"nx-{pid}"))
    answers = await asyncio.gather(at_home, away)
    assert sorted(r.status_code for r in answers) == [202, 409], [r.text for r in answers]
    [refused] = [r for r in answers if r.status_code == 409]
    assert "不重复发放" in refused.json()["detail"]
    [taken] = [r for r in answers if r.status_code == 202]
    if taken is answers[0]:  # Xinzhou took it: its amount is a range (2-4x) a county approver decides
        async def awaiting() -> dict[str, Any] | None:
            items = await client.cases(person_id=pid)
            return items[0] if items and items[0]["stage"] == "awaiting_approval" else None
        case = await wait_for(awaiting, timeout=60)
        # Shangrao's standard (800 yuan, the test fixture pack) x Jiangxi's documented default multiple 2
        # = 1,600 yuan = 160,000 fen
        r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", headers=bearer(
            "county_approver", JIANGXI_CLERK), json={"decision": "approve", "amount_fen": 160000})
        assert r.status_code == 200, r.text

    done = await client.closed_case(pid, timeout=60)
    assert done["case_id"] == taken.json()["case_id"] and done["outcome"] == "paid"
    # a later application in the other place is refused too (the aid was paid: the claim holds)
    r = await client.http.post("/api/applications", headers=bearer("clerk", NINGXIA_CLERK),
                               json=dict(graduate_application(pid, LIVES_IN_JINFENG), application_id=f"nx2-{pid}"))
    assert r.status_code == 409, r.text
    cases = await client.cases(person_id=pid)
    assert len(cases) == 1
    assert len(await client.ledger(person_id=pid)) == 1  # one payment, wherever the person applied


async def test_a_migrant_worker_applies_where_they_work_and_a_stranded_person_where_they_are(client: StackClient):
    worker = await registered_in_jiangxi(client)
    r = await client.http.post("/api/applications", headers=bearer("clerk", NINGXIA_CLERK), json={
        "person_id": worker, "region_code": JINFENG, "kind": "job_loss", "consent": True,
        "details": {"incident_date": "2022-09-05", "unemployment_insured": False,
                    "residence": {"basis": "work_place", "region_code": JINFENG, "evidence": "某建筑公司务工"}}})
    assert r.status_code == 202, r.text
    worker_case = r.json()["case_id"]
    # 临时遇困: a person stranded in Jinfeng is helped there, registered wherever they are
    stranded = await registered_in_jiangxi(client)
    r = await client.http.post("/api/applications", headers=bearer("clerk", NINGXIA_CLERK), json={
        "person_id": stranded, "region_code": JINFENG, "kind": "emergency", "consent": True,
        "details": {"incident_date": "2022-09-05", "household_type": "individual", "stranded": True,
                    "requested_amount_fen": 97500, "reason": "务工不着，滞留车站"}})
    assert r.status_code == 202, r.text
    stranded_case = r.json()["case_id"]

    async def noticed() -> dict[str, str] | None:
        r = await client.http.get("/api/registration-notices", headers=bearer("clerk", JIANGXI_CLERK))
        bases = {n["case_id"]: n["basis"] for n in r.json()["items"]}
        return bases if {worker_case, stranded_case} <= set(bases) else None
    bases = await wait_for(noticed)
    assert (bases[worker_case], bases[stranded_case]) == ("work_place", "emergency_place")
    for case_id in (worker_case, stranded_case):
        case = await wait_for(lambda c=case_id: client.case_once_visible(c))
        assert case["region_code"] == JINFENG  # the deciding office's case
