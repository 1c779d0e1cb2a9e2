"""The enrolment duties on the real stack (issue 17 item 2): a dibao application in Ningxia goes through
the home visit, the democratic appraisal where disputed, and the public notice with objections before the
township (Ningxia's devolved confirmation) confirms it.

Figures by hand from the packs: Ningxia urban standard 650 yuan (seed 002); a household of 3 with 900
yuan a month: (65000 - 30000) x 3 = 105000 fen a month. Seed 002 「对没有争议的救助申请家庭或个人，不再进行
民主评议」: an undisputed application skips the appraisal. The notice stays up 7 whole days from the day the
check concluded (national LOCAL PRACTICE, public_notice_days): a visit recorded on the application's
(2022) business date has its notice over at once; one recorded today keeps it open for objections.
"""

from __future__ import annotations

import csv
import io
import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]  # no stubs installed

from shared.contracts.identity import id_check_character
from tests.support import StackClient, official_token, wait_for
from tests.townships import fresh_township

pytestmark = pytest.mark.stack

COUNTY = "640323"  # 盐池县: this module's own county
LEVEL = 105000      # (65000 - 30000) x 3
BEIJING = timezone(timedelta(hours=8))


def bearer(role: str, region: str = "", subject: str | None = None) -> dict[str, str]:
    token = official_token(subject or f"duty-{role}-{uuid.uuid4().hex[:6]}", role, region=region)
    return {"Authorization": f"Bearer {token}"}


_serial = itertools.count(random.randrange(0, 900))


def person(name: str, relation: str, birth: str) -> dict[str, str]:
    """A member with a valid national ID of this county whose 7th-14th digits are the birth date."""
    first17 = f"{COUNTY}{birth.replace('-', '')}{next(_serial) % 1000:03d}"
    return {"person_id": first17 + id_check_character(first17), "name": name, "relation": relation,
            "birth_date": birth}


async def apply(client: StackClient, township: str, name: str) -> tuple[str, str]:
    # working-age parents and a child: no add-on (the level is (65000 - 30000) x 3)
    members = [person(name, "head", "1980-01-01"), person("配偶", "spouse", "1982-01-01"),
               person("子女", "child", "2010-01-01")]
    head = members[0]["person_id"]
    await client.register({"household_id": f"hh-duty-{uuid.uuid4().hex[:10]}", "region_code": township,
                           "urban": True, "categories": [], "monthly_income_fen": 90000, "members": members})
    r = await client.http.post("/api/applications", headers=bearer("clerk", region=COUNTY), json={
        "person_id": head, "region_code": township, "kind": "dibao", "consent": True,
        "details": {"incident_date": "2022-09-05"}})
    assert r.status_code == 202, r.text
    return r.json()["case_id"], head


async def at_stage(client: StackClient, case_id: str, stage: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        case = await client.case_once_visible(case_id)
        return case if case is not None and case["stage"] == stage else None
    return await wait_for(probe, timeout=90)


async def task_of(client: StackClient, case_id: str, role: str, kind: str, township: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await client.http.get("/api/tasks", params={"kind": kind}, headers=bearer(role, region=township[:6]))
        assert r.status_code == 200, r.text
        return next((t for t in r.json() if t["case_id"] == case_id), None)
    return await wait_for(probe, timeout=30)


def stages(case: dict[str, Any]) -> list[str]:
    return [e["stage"] for e in case["timeline"]]


async def confirm(client: StackClient, case_id: str, head: str, township: str) -> dict[str, Any]:
    await at_stage(client, case_id, "awaiting_approval")
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json={"decision": "approve", "amount_fen": LEVEL},
                               headers=bearer("township_approver", region=township))
    assert r.status_code == 200, r.text
    return await client.closed_case(head, timeout=90)


async def test_an_undisputed_ningxia_application_skips_the_appraisal_and_a_clean_notice_confirms(
        client: StackClient):
    township = fresh_township(COUNTY)
    case_id, head = await apply(client, township, "张无争")
    await at_stage(client, case_id, "awaiting_home_visit")
    task = await task_of(client, case_id, "clerk", "home_visit", township)
    assert task["due_at"] is not None  # 10 days (LOCAL PRACTICE home_visit_days)
    r = await client.http.post(f"/api/cases/{case_id}/home-visit", headers=bearer("clerk", region=COUNTY), json={
        "visited_on": "2022-09-06", "disputed": False, "notes": "住房简陋，无大额存款，邻里无异议"})
    assert r.status_code == 200, r.text
    done = await confirm(client, case_id, head, township)
    assert done["outcome"] == "handed_back" and [p["amount_fen"] for p in done["payments"]] == [LEVEL]
    seen = stages(await client.case(case_id))
    assert "appraisal_skipped" in seen and "awaiting_democratic_appraisal" not in seen
    assert seen.index("home_visited") < seen.index("public_notice") < seen.index("notice_clean") \
        < seen.index("awaiting_approval")
    # the notice list: the applicant's name, the ID masked, its outcome
    r = await client.http.get("/api/public-notices", params={"region": township}, headers=bearer("clerk", COUNTY))
    assert r.status_code == 200, r.text
    [notice] = r.json()["items"]
    assert (notice["name"], notice["outcome"], notice["monthly_amount_fen"]) == ("张无争", "clean", LEVEL)
    assert notice["person_id_masked"] == f"{head[:6]}********{head[-4:]}"


async def test_a_disputed_application_holds_a_recorded_appraisal(client: StackClient):
    township = fresh_township(COUNTY)
    case_id, head = await apply(client, township, "李有争")
    await at_stage(client, case_id, "awaiting_home_visit")
    # a caseworker the officials registry knows as a member of the household may not visit it (关系保)
    relative = f"duty-relative-{uuid.uuid4().hex[:6]}"
    r = await client.http.put(f"/api/officials/{relative}", headers=bearer("admin"), json={
        "person_id": head, "name": "李有争", "roles": ["clerk"], "jurisdiction": COUNTY})
    assert r.status_code == 200, r.text
    r = await client.http.post(f"/api/cases/{case_id}/home-visit", headers=bearer("clerk", COUNTY, relative), json={
        "visited_on": "2022-09-06", "disputed": False, "notes": "自己家"})
    assert r.status_code == 409 and "conflict of interest" in r.text, r.text
    r = await client.http.post(f"/api/cases/{case_id}/home-visit", headers=bearer("clerk", region=COUNTY), json={
        "visited_on": "2022-09-06", "disputed": True, "notes": "邻居反映申请人有经营收入"})
    assert r.status_code == 200, r.text
    await at_stage(client, case_id, "awaiting_democratic_appraisal")
    await task_of(client, case_id, "township_approver", "democratic_appraisal", township)
    # refused in Chinese or English naming the field: no participants
    r = await client.http.post(f"/api/cases/{case_id}/appraisal", headers=bearer("clerk", region=COUNTY), json={
        "held_on": "2022-09-08", "participants": [], "outcome": "supported", "minutes": "x"})
    assert r.status_code == 422 and "participants" in r.text
    r = await client.http.post(f"/api/cases/{case_id}/appraisal", headers=bearer("township_approver", township),
                               json={"held_on": "2022-09-08", "outcome": "supported",
                                     "participants": ["村委会主任", "村民代表甲", "村民代表乙"],
                                     "minutes": "评议认为经营收入系临时零工，同意纳入"})
    assert r.status_code == 200, r.text
    done = await confirm(client, case_id, head, township)
    assert done["outcome"] == "handed_back"
    case = await client.case(case_id)
    [appraised] = [e for e in case["timeline"] if e["stage"] == "appraised"]
    assert "村民代表甲" in appraised["note"] and "评议认为经营收入系临时零工" in appraised["note"]
    assert "appraisal_skipped" not in stages(case)


async def test_an_objection_during_the_notice_reopens_the_check_and_the_list_exports(client: StackClient):
    township = fresh_township(COUNTY)
    case_id, head = await apply(client, township, "王公示")
    await at_stage(client, case_id, "awaiting_home_visit")
    today = datetime.now(UTC).astimezone(BEIJING).date().isoformat()
    r = await client.http.post(f"/api/cases/{case_id}/home-visit", headers=bearer("clerk", region=COUNTY), json={
        "visited_on": today, "disputed": False, "notes": "入户调查无争议"})
    assert r.status_code == 200, r.text
    await at_stage(client, case_id, "public_notice")  # up for 7 days from today

    async def listed() -> list[dict[str, Any]] | None:
        r = await client.http.get("/api/public-notices", params={"region": township, "open": "true"},
                                  headers=bearer("clerk", COUNTY))
        assert r.status_code == 200, r.text
        return r.json()["items"] or None
    [notice] = await wait_for(listed, timeout=30)
    assert notice["outcome"] is None and notice["posted_on"] == today
    r = await client.http.get("/api/public-notices.csv", params={"region": township}, headers=bearer("clerk", COUNTY))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "姓名" and rows[1][:2] == ["王公示", f"{head[:6]}********{head[-4:]}"]
    assert rows[1][5] == "1050.00" and rows[1][8] == "公示中"
    r = await client.http.get("/api/public-notices.xlsx", params={"region": township}, headers=bearer("auditor", "64"))
    assert r.status_code == 200, r.text
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in sheet[2]][:2] == ["王公示", f"{head[:6]}********{head[-4:]}"]

    r = await client.http.post(f"/api/cases/{case_id}/objections", headers=bearer("clerk", region=COUNTY), json={
        "received_on": today, "objector": "村民丙", "grounds": "申请人有一辆营运货车"})
    assert r.status_code == 200, r.text
    # the check again: a second home visit task, then an appraisal (an objection is a dispute)
    await at_stage(client, case_id, "awaiting_home_visit")
    task = await task_of(client, case_id, "clerk", "home_visit", township)
    assert task["task_id"] == f"{case_id}:home_visit:2"
    case = await client.case(case_id)
    assert "notice_objected" in stages(case)
    r = await client.http.get("/api/public-notices", params={"region": township}, headers=bearer("clerk", COUNTY))
    assert [n["outcome"] for n in r.json()["items"]] == ["objected"]
    # a second objection: no notice is up now
    r = await client.http.post(f"/api/cases/{case_id}/objections", headers=bearer("clerk", region=COUNTY), json={
        "received_on": today, "grounds": "再次异议"})
    assert r.status_code == 409 and "no public notice open" in r.text
