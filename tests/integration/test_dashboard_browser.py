"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright), against
the real embedded stack: a caseworker enters a token, reads the overview, filters to stalled cases,
opens one and sees its payment. Screenshots go to tests/.artifacts/.

The case lives in 640105 (银川市西夏区), a county no other test opens cases in.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import async_playwright, expect

from shared.auth import issue_token
from tests.support import StackClient, household, national_id

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts"
COUNTY = "640105"  # 银川市西夏区
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 15_000

pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                       "(apt-get install -y --no-install-recommends chromium)"),
]


@pytest.fixture
async def browser_context(tmp_path: Path):
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1360, "height": 900}, locale="zh-CN",
            timezone_id="Asia/Shanghai")
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            await context.close()


async def test_a_caseworker_finds_a_stalled_case_and_sees_its_payment(client: StackClient, browser_context):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pid = national_id(COUNTY)
    await client.register(household(pid, region=COUNTY, categories=["dibao"]))
    await client.publish("health.quarantined", {
        "person_id": pid, "region_code": COUNTY, "quarantined_on": "2022-08-10"})
    case = await client.closed_case(pid)
    case_id = case["case_id"]
    assert [p["amount_fen"] for p in case["payments"]] == [195000]
    conn = await asyncpg.connect(client.database_url)
    try:
        # a case stuck in its payment step for ten minutes, as the read model would hold it, marked as the
        # sweep marks it: the sweep (every minute on the shared stack) keeps this mark, where it would clear
        # a stalled mark on a closed case (and did once, between this line and the page)
        await conn.execute("UPDATE operations.cases SET status = 'open', stage = 'paying', stalled = true,"
                           " stalled_reason = 'no progress in paying', stalled_at = now(),"
                           " updated_at = now() - interval '10 minutes' WHERE case_id = $1", case_id)
    finally:
        await conn.close()

    base = client.api_url.rstrip("/")
    page = browser_context.pages[0] if browser_context.pages else await browser_context.new_page()
    problems: list[str] = []
    foreign: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # (a failed fetch logs "Failed to load resource": 401, 403 and 500 are exercised on purpose below)
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.on("request", lambda req: foreign.append(req.url)
            if not (req.url.startswith(base) or req.url.startswith("data:")) else None)

    # the page asks for a token first
    await page.goto(f"{base}/")
    await expect(page.get_by_role("heading", name="输入访问令牌")).to_be_visible()
    token = issue_token("browser-clerk", "clerk", region="6401")
    await page.get_by_label("访问令牌", exact=True).fill(token)
    await page.get_by_role("button", name="进入工作台").click()

    # (1) the overview: counts and the payments chart
    await expect(page.get_by_role("heading", name="概览", exact=True)).to_be_visible()
    await expect(page.locator("#whoami")).to_contain_text("browser-clerk")
    await expect(page.locator("#whoami")).to_contain_text("经办人员")
    await expect(page.get_by_role("heading", name="按救助路径")).to_be_visible()
    await expect(page.locator("#overview-body").get_by_role("link", name="急难救助（先行救助）")).to_be_visible()
    await expect(page.locator("svg.chart rect.bar:not(.bar-zero)").first).to_be_attached()
    assert await page.locator("svg.chart rect.bar").count() == 30
    await expect(page.locator(".kpi").filter(has_text="停滞案件").locator(".kpi-value")).not_to_have_text("0")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

    # (2) the attention list holds the stalled case
    await page.get_by_role("link", name=re.compile("^待处理")).click()
    await expect(page.get_by_role("heading", name="待处理：停滞与超时案件")).to_be_visible()
    await expect(page.locator("#attention-body").get_by_role("link", name=case_id)).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "dashboard-attention.png"), full_page=True)

    # (3) the case list, filtered to stalled cases in the county
    await page.get_by_role("link", name="案件查询", exact=True).click()
    await expect(page.get_by_role("heading", name="案件查询")).to_be_visible()
    await page.get_by_label("区划代码（前缀）").fill(COUNTY)
    await page.get_by_label("仅看停滞案件").check()
    await page.get_by_role("button", name="查询").click()
    await expect(page).to_have_url(re.compile(r"stalled=true"))
    rows = page.locator("#cases-body tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("已停滞")
    await expect(rows.first).to_contain_text("¥1,950.00")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-cases.png"), full_page=True)

    # (4) the case: status, policy, payment in yuan, timeline, the workflow link
    await rows.first.get_by_role("link", name=case_id).click()
    await expect(page.get_by_role("heading", name=f"案件 {case_id}")).to_be_visible()
    payments = page.locator("section").filter(has=page.get_by_role("heading", name="发放记录"))
    await expect(payments.locator("tbody tr")).to_have_count(1)
    await expect(payments.locator("tbody tr").first).to_contain_text("¥1,950.00")
    await expect(page.locator("dl.facts")).to_contain_text("急难救助（先行救助）")
    await expect(page.locator("dl.facts")).to_contain_text("隔离收治家庭救助")
    await expect(page.locator("dl.facts")).to_contain_text("已发放")
    await expect(page.locator("ol.timeline")).to_contain_text("资金发放")
    await expect(page.locator("ol.timeline")).to_contain_text("案件受理")
    await expect(page.get_by_text("该案件已停滞，需要人工跟进。")).to_be_visible()
    workflow = page.get_by_role("link", name=re.compile("在 Temporal 中查看工作流"))
    assert (await workflow.get_attribute("href")).endswith(f"/workflows/{case_id}")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-case.png"), full_page=True)

    # English on demand, the same case
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name=f"Case {case_id}")).to_be_visible()
    await expect(page.locator("dl.facts")).to_contain_text("Emergency relief (assist first)")
    await expect(page.get_by_role("heading", name="Payments", exact=True)).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "dashboard-case-en.png"), full_page=True)
    await page.get_by_role("button", name="中文").click()
    await expect(page.get_by_role("heading", name="发放记录")).to_be_visible()

    # (5) reserve balances: shown, or "unavailable" when the payment service does not answer 200
    await page.get_by_role("link", name="备用金", exact=True).click()
    await expect(page.get_by_role("heading", name="乡镇临时救助备用金")).to_be_visible()
    await expect(page.locator("#reserves-body table, #reserves-body .alert, #reserves-body .empty")
                 .first).to_be_visible()
    await page.route("**/api/reserves", lambda route: route.fulfill(
        status=500, content_type="application/json", body='{"detail":"boom"}'))
    await page.get_by_role("button", name="刷新").click()
    await expect(page.locator("#reserves-body")).to_contain_text("备用金余额暂不可用")
    await expect(page.locator("#reserves-body")).to_contain_text("HTTP 500")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-reserves-unavailable.png"))
    await page.unroute("**/api/reserves")
    # the balances as payment's ReserveList shapes them (GET /api/reserves), in yuan from integer fen
    reserve = {"township_code": "640105001", "county_code": "640105", "account": "township-reserve:640105001",
               "balance_fen": 120000, "threshold_fen": 500000, "target_fen": 2000000, "waiting_count": 1,
               "waiting_fen": 195000, "open_request": {
                   "request_id": "rr-1", "township_code": "640105001", "amount_fen": 2075000, "status": "open",
                   "requested_at": "2022-08-10T02:00:00Z", "updated_at": "2022-08-10T02:00:00Z"},
               "updated_at": "2022-08-10T02:00:00Z"}
    await page.route("**/api/reserves", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps({"items": [reserve]})))
    await page.get_by_role("button", name="刷新").click()
    row = page.locator("#reserves-body tbody tr")
    await expect(row).to_have_count(1)
    for text in ("640105001", "¥1,200.00", "低于阈值", "¥5,000.00", "¥20,000.00", "¥1,950.00", "¥20,750.00"):
        await expect(row).to_contain_text(text)
    await page.unroute("**/api/reserves")

    # a rejected token (401) asks for the token again
    await page.evaluate("sessionStorage.setItem('doudi.token', 'not-a-token')")
    await page.get_by_role("link", name="概览", exact=True).click()
    await expect(page.get_by_role("heading", name="输入访问令牌")).to_be_visible()
    await expect(page.locator("#token-error")).to_contain_text("401")

    assert not foreign, f"the page reached beyond its own origin: {foreign}"
    assert not problems, problems
