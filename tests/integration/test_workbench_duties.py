"""The duties of the office (issue 17) from the workbench (/workbench/) in a real headless Chromium (Debian's
/usr/bin/chromium driven by Playwright) against the embedded stack:

- a refused dibao application is appealed (申请复核) from the workbench's case page; another county approver
  finds the reconsideration in 待办, its 说明 in Chinese, and reverses it there;
- the refused case is referred (转介) to a charity organisation from the case page, and the outcome is
  recorded from the list of open referrals;
- a dispersed 特困 person is registered for visits from the workbench; once a visit is overdue the person is
  listed with the visit form and the caregiver replacement form, and both are recorded from there;
- an objection (异议) is recorded on a case during its 公示, which reopens the check; the notice list page
  shows the case with its csv/xlsx downloads.

The cases live in 640181 (银川市灵武市), a county no other integration test uses. No amount is asserted
here beyond what the pages show (the appeal's payment is test_appeals.py's).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from playwright.async_api import expect

from shared.auth import issue_token
from tests.integration import test_workbench_browser as wb
from tests.integration.test_workbench_browser import ARTIFACTS, case_at, signed_in_page
from tests.support import StackClient, born_on, household, national_id, official_token, wait_for
from tests.townships import fresh_township

COUNTY = "640181"  # 银川市灵武市
BEIJING = timedelta(hours=8)
pytestmark = wb.pytestmark  # the stack, and Debian's chromium
browser_context = wb.browser_context  # the same fixture: a headless chromium profile per test


async def refused_dibao_case(client: StackClient, decider: str, decider_person: str) -> str:
    """A dibao application through its duties, refused by ``decider`` (a county approver)."""
    ids = [national_id(COUNTY, born=b) for b in ("1979-02-02", "1981-03-03")]
    await client.register({
        "household_id": f"hh-wbd-{uuid.uuid4().hex[:10]}", "region_code": COUNTY, "urban": True, "categories": [],
        "monthly_income_fen": 90_000,
        "members": [{"person_id": p, "name": f"成员{i}", "relation": "head" if i == 0 else "spouse",
                     "birth_date": born_on(p), "flags": []} for i, p in enumerate(ids)]})
    clerk = {"Authorization": f"Bearer {issue_token('wbd-clerk', 'clerk', region=COUNTY)}"}
    # the first day of last month: the home visit dated then has its 公示 period run, the case goes on
    applied_on = ((datetime.now(UTC) + BEIJING).date().replace(day=1) - timedelta(days=1)).replace(day=1)
    r = await client.http.post("/api/applications", headers=clerk, json={
        "person_id": ids[0], "region_code": COUNTY, "kind": "dibao", "consent": True,
        "details": {"incident_date": applied_on.isoformat()}})
    assert r.status_code == 202, r.text
    case_id: str = r.json()["case_id"]
    await client.through_enrolment_duties(case_id, applied_on.isoformat())
    await case_at(client, case_id, "awaiting_approval")
    token = official_token(decider, "county_approver", region=COUNTY, person_id=decider_person)
    original = {"Authorization": f"Bearer {token}"}
    r = await client.http.post(f"/api/cases/{case_id}/decisions", headers=original, json={
        "decision": "reject", "reason": "申报收入与核查不符"})
    assert r.status_code == 200, r.text

    async def refused() -> dict[str, Any] | None:
        r = await client.http.get(f"/api/cases/{case_id}/decision", headers=clerk)
        return r.json() if r.status_code == 200 else None
    assert (await wait_for(refused, timeout=60))["outcome"] == "refused"
    return case_id


async def test_a_refused_case_is_appealed_and_referred_from_the_workbench_and_decided_in_the_todo_list(
        client: StackClient, browser_context):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = client.api_url.rstrip("/")
    problems: list[str] = []
    case_id = await refused_dibao_case(client, f"wbd-orig-{uuid.uuid4().hex[:6]}",
                                       national_id(COUNTY, born="1970-01-01"))
    clerk = await signed_in_page(browser_context, issue_token("wbd-clerk", "clerk", region=COUNTY), problems, base)

    # -- 申请复核 from the case page: a reason is required (beside the field, in Chinese)
    await clerk.goto(f"{base}/workbench/#/case/{case_id}")
    await expect(clerk.locator("#case-decision-outcome")).to_contain_text("申报收入与核查不符")
    appeal = clerk.locator(f"#appeal-{case_id}")
    await appeal.get_by_role("button", name="申请复核").click()
    await expect(clerk.locator(f"#appeal-{case_id}-reason-error")).to_have_text("请填写复核理由")
    await appeal.get_by_label("复核理由").fill("家庭收入已减少，请求复核")
    await appeal.get_by_role("button", name="申请复核").click()
    await expect(clerk.locator(f"#appeal-{case_id}-result")).to_contain_text("已提交")

    # -- 转介 from the same page: a charity organisation, for the hardship left
    referral = clerk.locator(f"#referral-{case_id}")
    await referral.get_by_label("接收单位或个人").fill("灵武市慈善总会")
    await referral.get_by_label("转介原因（仍存在的困难）").fill("低保未获批准，家中仍有医疗支出困难")
    await referral.get_by_role("button", name="转介", exact=True).click()
    await expect(clerk.locator(f"#referral-{case_id}-result")).to_contain_text("ref-")
    # -- 投诉登记 about the case (the supervision hotline)
    complaint = clerk.locator(f"#complaint-{case_id}")
    await complaint.get_by_label("投诉内容").fill("窗口未告知复核途径")
    await complaint.get_by_role("button", name="投诉登记").click()
    await expect(clerk.locator(f"#complaint-{case_id}-result")).to_contain_text("cp-")
    complaint_id = re.search(r"cp-[0-9a-f]{24}", await clerk.locator(f"#complaint-{case_id}-result").inner_text())
    assert complaint_id
    await clerk.screenshot(path=str(ARTIFACTS / "workbench-case-duties.png"), full_page=True)

    # the outcome, recorded from the list of open referrals
    await clerk.goto(f"{base}/workbench/#/duties")
    card = clerk.locator(f'#duties-referrals article[data-case-id="{case_id}"]')
    await expect(card).to_contain_text("灵武市慈善总会")
    referral_id = await card.get_attribute("data-referral-id")
    assert referral_id
    outcome = card.locator(f"#referral-outcome-{referral_id}")
    await outcome.get_by_label("转介结果").select_option("helped")
    await outcome.get_by_label("结果说明").fill("慈善总会发放慰问金")
    await outcome.get_by_role("button", name="登记转介结果").click()
    await expect(clerk.locator(f"#referral-outcome-{referral_id}-result")).to_contain_text("已提交")
    r = await client.http.get(f"/api/cases/{case_id}/referrals",
                              headers={"Authorization": f"Bearer {issue_token('wbd-clerk', 'clerk', region=COUNTY)}"})
    [made] = r.json()["items"]
    assert (made["status"], made["outcome"], made["outcome_note"]) == ("closed", "helped", "慈善总会发放慰问金")

    # -- another county approver: the reconsideration in 待办, its 说明 in Chinese, reversed there
    reviewer_token = official_token(f"wbd-review-{uuid.uuid4().hex[:6]}", "county_approver", region=COUNTY)

    async def both_open() -> bool:  # the two duties' tasks are in the county's inbox
        r = await client.http.get("/api/tasks", headers={"Authorization": f"Bearer {reviewer_token}"})
        kinds = {(x["case_id"], x["kind"]) for x in r.json()} if r.status_code == 200 else set()
        return {(f"rc-{case_id}", "reconsideration"), (complaint_id[0], "complaint")} <= kinds
    await wait_for(both_open, timeout=60)
    reviewer = await signed_in_page(browser_context, reviewer_token, problems, base)
    await reviewer.goto(f"{base}/workbench/")
    # the complaint's answer
    answer_card = reviewer.locator(f'article[data-case-id="{complaint_id[0]}"][data-kind="complaint"]')
    await expect(answer_card).to_contain_text("监督投诉：窗口未告知复核途径")
    await answer_card.get_by_label("答复内容").fill("已电话告知复核途径")
    await answer_card.get_by_role("button", name="答复投诉").click()
    await expect(reviewer.locator(f"#complaint-answer-{complaint_id[0]}-result")).to_contain_text("已提交")
    task = reviewer.locator(f'article[data-case-id="rc-{case_id}"][data-kind="reconsideration"]')
    await expect(task).to_contain_text("复核申请")
    await expect(reviewer.locator(f"#task-rc-{case_id}-reconsideration-summary")).to_contain_text(
        f"案件 {case_id} 的复核申请：家庭收入已减少，请求复核")
    decide = task.locator(f"#appeal-decision-{case_id}")
    await decide.get_by_label("复核决定").select_option("reversed")
    await decide.get_by_label("理由").fill("收入核算有误，撤销原决定")
    await decide.get_by_role("button", name="作出复核决定").click()
    await expect(reviewer.locator(f"#appeal-decision-{case_id}-result")).to_have_text("已提交：撤销原决定")
    await reviewer.screenshot(path=str(ARTIFACTS / "workbench-reconsideration.png"), full_page=True)

    async def closed() -> dict[str, Any] | None:
        c = await client.case_once_visible(f"rc-{case_id}")
        return c if c is not None and c["status"] == "closed" else None
    assert (await wait_for(closed, timeout=60))["outcome"] == "reversed"
    assert not problems, problems


async def test_an_objection_during_the_notice_is_recorded_from_the_case_page(client: StackClient, browser_context):
    base = client.api_url.rstrip("/")
    problems: list[str] = []
    township = fresh_township(COUNTY)
    head = national_id(COUNTY, born="1980-01-01")
    await client.register({
        "household_id": f"hh-wbd-{uuid.uuid4().hex[:10]}", "region_code": township, "urban": True, "categories": [],
        "monthly_income_fen": 20_000,
        "members": [{"person_id": head, "name": "赵公示", "relation": "head", "birth_date": born_on(head),
                     "flags": []}]})
    token = issue_token("wbd-notice-clerk", "clerk", region=COUNTY)
    bearer = {"Authorization": f"Bearer {token}"}
    r = await client.http.post("/api/applications", headers=bearer, json={
        "person_id": head, "region_code": township, "kind": "dibao", "consent": True,
        "details": {"incident_date": "2022-09-05"}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    await case_at(client, case_id, "awaiting_home_visit")
    today: date = (datetime.now(UTC) + BEIJING).date()
    r = await client.http.post(f"/api/cases/{case_id}/home-visit", headers=bearer, json={
        "visited_on": today.isoformat(), "disputed": False, "notes": "入户调查无争议"})
    assert r.status_code == 200, r.text
    await case_at(client, case_id, "public_notice")  # up for its period from today

    async def listed() -> list[dict[str, Any]] | None:
        r = await client.http.get("/api/public-notices", params={"region": township, "open": "true"}, headers=bearer)
        return r.json()["items"] or None if r.status_code == 200 else None
    await wait_for(listed, timeout=30)

    clerk = await signed_in_page(browser_context, token, problems, base)
    # the notice list, with its downloads
    await clerk.goto(f"{base}/workbench/#/duties?region={township}")
    await expect(clerk.locator(f"#notice-case-{case_id}")).to_be_visible()
    await expect(clerk.locator("#notice-list")).to_contain_text("公示中")
    assert await clerk.locator("#notices-csv").get_attribute("href") == f"/api/public-notices.csv?region={township}"
    assert await clerk.locator("#notices-xlsx").get_attribute("href") == f"/api/public-notices.xlsx?region={township}"

    await clerk.locator(f"#notice-case-{case_id}").click()
    objection = clerk.locator(f"#objection-{case_id}")
    await expect(objection.get_by_label("收到日期")).to_have_value(today.isoformat())
    await objection.get_by_role("button", name="登记异议").click()
    await expect(clerk.locator(f"#objection-{case_id}-grounds-error")).to_have_text("请填写异议理由")
    await objection.get_by_label("异议人（可匿名）").fill("村民丙")
    await objection.get_by_label("异议理由").fill("申请人有一辆营运货车")
    await objection.get_by_role("button", name="登记异议").click()
    await expect(clerk.locator(f"#objection-{case_id}-result")).to_contain_text("已提交")
    await clerk.screenshot(path=str(ARTIFACTS / "workbench-objection.png"), full_page=True)
    # the check reopened: a second home visit
    await case_at(client, case_id, "awaiting_home_visit")
    r = await client.http.get("/api/public-notices", params={"region": township}, headers=bearer)
    assert [n["outcome"] for n in r.json()["items"]] == ["objected"]
    assert not problems, problems


async def test_an_overdue_care_visit_is_listed_and_the_caregiver_replaced_and_the_visit_recorded(
        client: StackClient, browser_context):
    base = client.api_url.rstrip("/")
    problems: list[str] = []
    township = fresh_township(COUNTY)
    person = national_id(COUNTY)
    r = await client.http.post("/api/households/roster", headers=client.roster, json=household(
        person, region=township, categories=["extreme_poverty"], income_fen=0))
    assert r.status_code in (200, 201), r.text
    token = official_token(f"wbd-township-{uuid.uuid4().hex[:6]}", "township_approver", region=township)
    bearer = {"Authorization": f"Bearer {token}"}
    page = await signed_in_page(browser_context, token, problems, base)

    # registered from the workbench (全护理: the pack's cadence)
    await page.goto(f"{base}/workbench/#/duties")
    register = page.locator("#care-recipient-form")
    await register.get_by_label("身份证号").fill(person)
    await expect(register.get_by_label("居住地区划代码（6–9 位）")).to_have_value(township)
    await register.get_by_label("照料服务人", exact=True).fill("马照料")
    await register.get_by_role("button", name="登记分散供养特困人员").click()
    await expect(page.locator("#care-recipient-form-result")).to_contain_text("已提交")

    # a visit made 10 days ago (recorded late): the next is overdue
    visited = datetime.now(UTC) - timedelta(days=10)
    r = await client.http.post("/api/care-visits", headers=bearer, json={
        "person_id": person, "visited_at": visited.isoformat(), "caregiver_performing": False,
        "findings": "照料服务人未按协议送餐"})
    assert r.status_code == 200, r.text
    await page.reload()
    card = page.locator(f"#care-{person}")
    await expect(card).to_contain_text("马照料")
    replace = card.locator(f"#caregiver-{person}")
    await replace.get_by_label("新照料服务人").fill("李照料")
    await replace.get_by_label("更换理由").fill("原照料服务人履职不到位，及时更换")
    await replace.get_by_role("button", name="更换照料服务人").click()
    await expect(page.locator(f"#caregiver-{person}-result")).to_contain_text("已提交")
    visit = card.locator(f"#care-visit-{person}")
    await visit.get_by_label("探访情况").fill("新照料服务人按时送餐")
    await visit.get_by_role("button", name="登记探访").click()
    await expect(page.locator(f"#care-visit-{person}-result")).to_contain_text("已提交")
    await page.screenshot(path=str(ARTIFACTS / "workbench-care-visit.png"), full_page=True)

    r = await client.http.get(f"/api/care-recipients/{person}", headers=bearer)
    assert r.status_code == 200, r.text
    file = r.json()
    assert (file["caregiver"], len(file["caregiver_changes"]), len(file["visits"]), file["overdue"]) == (
        "李照料", 1, 2, False)
    assert not problems, problems
