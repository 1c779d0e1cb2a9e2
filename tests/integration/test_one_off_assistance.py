"""One-window intake, event-triggered one-off assistance, economic checks and human approval
(issue 4), on the real stack."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from deploy.embedded import EmbeddedStack
from tests.support import StackClient, born_on, household, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

YINCHUAN = "640104"
XINZHOU = "361102"  # 上饶市信州区


def bearer(role: str, region: str = "", subject: str | None = None, person_id: str | None = None) -> dict[str, str]:
    token = official_token(subject or f"test-{role}-{uuid.uuid4().hex[:6]}", role, region=region, person_id=person_id)
    return {"Authorization": f"Bearer {token}"}


async def job_lost(client: StackClient, pid: str, *, insured: bool = False, region: str = YINCHUAN) -> str:
    return await client.publish_event("employment.job_lost", {
        "person_id": pid, "region_code": region, "last_income_month": "2022-05", "unemployment_insured": insured},
        time="2022-09-05T09:00:00+08:00")


async def one_case(client: StackClient, pid: str, stage: str, timeout: float = 30) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        items = await client.cases(person_id=pid)
        return items[0] if len(items) == 1 and items[0]["stage"] == stage else None
    return await wait_for(probe, timeout=timeout)


async def apply(client: StackClient, pid: str, kind: str, region: str = YINCHUAN,
                clerk: dict[str, str] | None = None, details: dict[str, Any] | None = None) -> str:
    r = await client.http.post("/api/applications", headers=clerk or client.clerk, json={
        "person_id": pid, "region_code": region, "kind": kind, "consent": True, "details": details or {}})
    assert r.status_code == 202, r.text
    return r.json()["case_id"]


async def checks_for(stack: EmbeddedStack, case_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch("SELECT * FROM verification.checks WHERE case_id = $1", case_id)
    finally:
        await conn.close()


async def screening(stack: EmbeddedStack, event_id: str) -> asyncpg.Record | None:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetchrow("SELECT * FROM intake.screenings WHERE event_id = $1", event_id)
    finally:
        await conn.close()


async def test_job_loss_in_the_low_income_database_is_paid_on_application_without_a_check(
        client: StackClient, stack: EmbeddedStack):
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=["low_income_db"], income_fen=0))
    await job_lost(client, pid)

    case = await one_case(client, pid, "outreach")  # 主动发现: invited, not paid before applying
    assert case["pathway"] == "one_off" and case["payments"] == []
    inbox = (await client.http.get("/api/tasks", headers=bearer("clerk", region=YINCHUAN))).json()
    assert any(t["case_id"] == case["case_id"] and t["kind"] == "outreach" for t in inbox)

    joined = await apply(client, pid, "job_loss")
    assert joined == case["case_id"]  # the application joins the outreach case: no second case
    done = await client.closed_case(pid)
    assert done["outcome"] == "paid" and [p["amount_fen"] for p in done["payments"]] == [195000]
    assert len(await client.cases(person_id=pid)) == 1
    assert await checks_for(stack, case["case_id"]) == []  # no economic check recorded
    assert [r["amount_fen"] for r in await client.ledger(case_id=case["case_id"])] == [195000]


async def test_job_loss_outside_the_database_is_checked_then_decided_by_an_approver(
        client: StackClient, stack: EmbeddedStack):
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=[], income_fen=0))
    await job_lost(client, pid)
    case = await one_case(client, pid, "outreach")
    await apply(client, pid, "job_loss")
    case = await one_case(client, pid, "awaiting_approval")
    [check] = await checks_for(stack, case["case_id"])
    assert check["outcome"] == "eligible"

    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", headers=bearer(
        "county_approver", region="6401", subject="county-ma"), json={"decision": "approve", "amount_fen": 195000})
    assert r.status_code == 200, r.text
    done = await client.closed_case(pid)
    assert done["outcome"] == "paid" and [p["amount_fen"] for p in done["payments"]] == [195000]


async def test_an_applicant_above_the_standard_is_rejected_with_the_reason(client: StackClient):
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=[], income_fen=0))
    r = await client.http.put(f"/api/reference-data/hrss/{pid}", headers=bearer("admin"), json={
        "employments": [{"employer": "某物流公司", "monthly_wage_fen": 150000, "start_on": "2022-01-01"}]})
    assert r.status_code in (200, 201), r.text
    await job_lost(client, pid)
    await one_case(client, pid, "outreach")
    await apply(client, pid, "job_loss")
    done = await client.closed_case(pid)
    assert done["outcome"] == "rejected" and done["payments"] == []
    assert "economic status check" in done["reason"] and "per-capita" in done["reason"].lower()


async def test_job_loss_of_an_insured_person_opens_no_case(client: StackClient, stack: EmbeddedStack):
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=["low_income_db"]))
    event_id = await job_lost(client, pid, insured=True)
    row = await wait_for(lambda: screening(stack, event_id), timeout=20)
    assert "insured" in row["reason"]
    assert await client.cases(person_id=pid) == []


@pytest.mark.parametrize(("self_pay_fen", "case_expected"), [(1_999_900, False), (2_000_000, True)])
async def test_medical_self_pay_threshold(client: StackClient, stack: EmbeddedStack, self_pay_fen: int,
                                         case_expected: bool):
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=["marginal"], income_fen=0))
    event_id = await client.publish_event("medical.self_pay_reported", {
        "person_id": pid, "region_code": YINCHUAN, "year": 2022, "self_pay_fen": self_pay_fen},
        time="2022-12-20T10:00:00+08:00")
    if not case_expected:
        row = await wait_for(lambda: screening(stack, event_id), timeout=20)
        assert "20,000" in row["reason"]
        assert await client.cases(person_id=pid) == []
        return
    case = await one_case(client, pid, "awaiting_approval")  # expenditure type: checked, then approved
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", headers=bearer(
        "county_approver", region="6401"), json={"decision": "approve", "amount_fen": 195000})
    assert r.status_code == 200, r.text
    done = await client.closed_case(pid)
    assert [p["amount_fen"] for p in done["payments"]] == [195000]
    assert done["policy"]["measure"] == "medical_self_pay"


async def test_jiangxi_graduate_is_paid_the_configured_multiple_of_the_local_standard(client: StackClient):
    # Shangrao's standard (800 yuan, a test fixture pack) x Jiangxi's documented default multiple 2
    pid = national_id(XINZHOU)
    await client.register(household(pid, region=XINZHOU, categories=[], income_fen=0))
    await client.publish_event("education.graduate_unemployed", {
        "person_id": pid, "region_code": XINZHOU, "graduated_on": "2022-07-01"}, time="2022-08-10T10:00:00+08:00")
    await one_case(client, pid, "outreach")
    await apply(client, pid, "graduate", region=XINZHOU, clerk=bearer("clerk", region="3611"))
    case = await one_case(client, pid, "awaiting_approval")
    assert case["approved_amount_fen"] == 160000
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", headers=bearer(
        "county_approver", region="3611"), json={"decision": "approve", "amount_fen": 160000})
    assert r.status_code == 200, r.text
    done = await client.closed_case(pid)
    assert [p["amount_fen"] for p in done["payments"]] == [160000]


async def test_an_official_related_to_the_household_cannot_approve(client: StackClient):
    pid, spouse = national_id(YINCHUAN), national_id(YINCHUAN)
    body = household(pid, region=YINCHUAN, categories=[], income_fen=0)
    body["members"].append({"person_id": spouse, "name": "配偶", "relation": "spouse", "birth_date": born_on(spouse)})
    await client.register(body)
    # applied directly at the window, no outreach first (the clerk notes the insurance status)
    await apply(client, pid, "job_loss", details={"incident_date": "2022-09-05", "unemployment_insured": False})
    case = await one_case(client, pid, "awaiting_approval")
    decision = {"decision": "approve", "amount_fen": 195000}
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", json=decision,
                               headers=bearer("county_approver", region="6401", person_id=spouse))
    assert r.status_code == 409 and "conflict of interest" in r.json()["detail"]
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", json=decision,
                               headers=bearer("county_approver", region="6401"))
    assert r.status_code == 200
    assert (await client.closed_case(pid))["outcome"] == "paid"


async def test_expenditure_type_temporary_assistance_follows_the_normal_review(client: StackClient):
    # seed 004: expenditure type "按照审核审批程序办理"; Ningxia pays at least 3x the city standard (seed 002)
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=[], income_fen=0))
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": pid, "region_code": YINCHUAN, "kind": "temporary_assistance", "consent": True,
        "details": {"incident_date": "2022-08-20", "requested_amount_fen": 300000,
                    "household_type": "expenditure_household", "reason": "大病自付费用高"}})
    assert r.status_code == 202, r.text
    case = await one_case(client, pid, "awaiting_approval")
    assert case["approved_amount_fen"] == 300000
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", headers=bearer(
        "county_approver", region="6401"), json={"decision": "approve", "amount_fen": 300000})
    assert r.status_code == 200, r.text
    done = await client.closed_case(pid)
    assert [p["amount_fen"] for p in done["payments"]] == [300000]
