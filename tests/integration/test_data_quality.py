"""Issue 16, data quality on the real stack through the front door: region names from the official table and
unknown counties refused in Chinese; a household updated only over the version read (ETag / If-Match, 412);
the birth date checked against the ID; a person in one household (409 naming the other, masked); a case's
timeline in words (yuan, Beijing time)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.auth import issue_token
from tests.support import StackClient, household, national_id

pytestmark = pytest.mark.stack

LITONG = "640302"    # 吴忠市利通区: no other test registers here
XINSHI = "650104"    # 乌鲁木齐市新市区: another jurisdiction
YINCHUAN = "640104"  # 兴庆区: the quarantine aid's standard (seed 002: 650 yuan a month)
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def clerk(region: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(f'test-clerk-{uuid.uuid4().hex[:6]}', 'clerk', region=region)}"}


async def _get(client: StackClient, household_id: str) -> tuple[dict[str, Any], str]:
    r = await client.http.get(f"/api/households/{household_id}", headers=clerk(LITONG))
    assert r.status_code == 200, r.text
    return r.json(), r.headers["etag"]


async def test_an_unknown_county_is_refused_in_chinese_naming_the_field(client: StackClient):
    body = household(national_id(LITONG), region="640399")  # 吴忠市 has no county 99
    r = await client.http.post("/api/households", json=body, headers={**client.clerk, **ZH})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "region_code"]
    assert error["msg"].startswith("字段 region_code：未知的行政区划代码 640399"), error
    # a township is checked on its county: 640399001 is as unknown as 640399
    r = await client.http.post("/api/households", json={**body, "region_code": "640399001"}, headers=client.clerk)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "region_code"], r.text
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": body["members"][0]["person_id"], "region_code": "640399", "kind": "dibao", "consent": True})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "region_code"], r.text
    r = await client.http.get(f"/api/households/{body['household_id']}", headers=client.clerk)
    assert r.status_code == 404  # nothing registered


async def test_a_household_is_updated_only_over_the_version_read(client: StackClient):
    body = household(national_id(LITONG), region=f"{LITONG}101", income_fen=60000)
    r = await client.http.post("/api/households", json=body, headers=clerk(LITONG))
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"1"' and r.json()["region_name"] == "宁夏回族自治区吴忠市利通区"
    seen, tag = await _get(client, body["household_id"])
    assert tag == '"1"' and seen["version"] == 1 and seen["region_name"] == "宁夏回族自治区吴忠市利通区"

    # two clerks read version 1; the first one's update is made ...
    first = {**body, "monthly_income_fen": 70000}
    r = await client.http.post("/api/households", json=first, headers={**clerk(LITONG), "If-Match": tag})
    assert r.status_code == 200 and r.headers["etag"] == '"2"', r.text
    # ... the second one's, over the version it read, is refused: 412 in Chinese, nothing changed
    second = {**body, "monthly_income_fen": 10000}
    r = await client.http.post("/api/households", json=second, headers={**clerk(LITONG), "If-Match": tag, **ZH})
    assert r.status_code == 412, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["header", "If-Match"] and "已被修改" in error["msg"] and "当前版本 2" in error["msg"]
    seen, tag = await _get(client, body["household_id"])
    assert (seen["monthly_income_fen"], tag) == (70000, '"2"')
    # re-read, then update: made (a weak tag compares alike)
    r = await client.http.post("/api/households", json=second, headers={**clerk(LITONG), "If-Match": f"W/{tag}"})
    assert r.status_code == 200 and r.headers["etag"] == '"3"', r.text

    # without If-Match a registration replaces the household as it always did (agencies' scripts, doudi import)
    r = await client.http.post("/api/households", json=first, headers=clerk(LITONG))
    assert r.status_code == 200 and r.json()["version"] == 4 and r.headers["etag"] == '"4"', r.text

    # an update over a version of a household that is not there creates nothing; a malformed tag is 400
    ghost = household(national_id(LITONG), region=LITONG)
    r = await client.http.post("/api/households", json=ghost, headers={**clerk(LITONG), "If-Match": '"1"'})
    assert r.status_code == 412, r.text
    r = await client.http.get(f"/api/households/{ghost['household_id']}", headers=client.clerk)
    assert r.status_code == 404
    r = await client.http.post("/api/households", json=first, headers={**clerk(LITONG), "If-Match": "version one"})
    assert r.status_code == 400 and r.json()["detail"][0]["loc"] == ["header", "If-Match"], r.text


async def test_the_birth_date_must_be_the_ids(client: StackClient):
    pid = national_id(LITONG)  # born 1950-01-01 onwards (tests/support.py)
    body = household(pid, region=LITONG)
    body["members"][0]["birth_date"] = "1999-09-09"
    r = await client.http.post("/api/households", json=body, headers={**clerk(LITONG), **ZH})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "members", 0, "birth_date"] and "不一致" in error["msg"], error


async def test_a_person_in_another_jurisdictions_household_is_refused_naming_it_masked(client: StackClient):
    pid = national_id(XINSHI)
    theirs = household(pid, region=XINSHI, household_id=f"hh-xinshi-{uuid.uuid4().hex[:8]}")
    await client.register(theirs)
    ours = household(national_id(LITONG), region=LITONG)
    ours["members"].append({**theirs["members"][0], "relation": "spouse"})
    r = await client.http.post("/api/households", json=ours, headers={**clerk(LITONG), **ZH})
    assert r.status_code == 409, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "members", 1, "person_id"]
    other = theirs["household_id"]
    assert f"{other[:3]}***{other[-2:]}" in error["msg"] and other not in error["msg"]
    assert "新疆维吾尔自治区乌鲁木齐市新市区" in error["msg"]


async def test_a_cases_timeline_reads_in_yuan_and_beijing_time(client: StackClient):
    """Seed 002: 「按照当地城市低保月标准3倍，直接给予一次性临时救助金」 at 650 yuan a month (兴庆区):
    3 x 650 = 1,950 yuan = 195,000 fen."""
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=["dibao"], income_fen=0))
    await client.publish_event("health.quarantined", {"person_id": pid, "region_code": YINCHUAN,
                                                      "quarantined_on": "2022-08-10"})
    done = await client.closed_case(pid, timeout=60)
    r = await client.http.get(f"/api/cases/{done['case_id']}", headers=client.clerk)
    assert r.status_code == 200, r.text
    case = r.json()
    assert case["region_name"] == "宁夏回族自治区银川市兴庆区"
    for entry in case["timeline"]:  # the existing fields stay beside the words
        assert {"at", "event", "status", "stage", "note", "code", "params", "text_zh", "text_en"} <= set(entry)
        assert entry["text_zh"] and entry["text_en"]
    (paid,) = [e for e in case["timeline"] if e["code"] == "payment.disbursed"]
    assert paid["params"]["amount_fen"] == 195000
    assert paid["text_zh"].startswith("已发放 1,950.00 元（第 1 期") and "北京时间" in paid["text_zh"]
    assert paid["text_en"].startswith("Paid ¥1,950.00 (installment 1") and "Beijing time" in paid["text_en"]
    assert " fen" not in paid["text_zh"] + paid["text_en"]
    words = {e["code"]: e["text_zh"] for e in case["timeline"]}
    assert words["case.opened"].startswith("立案：") and words["case.closed"].startswith("结案：")
