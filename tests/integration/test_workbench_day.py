"""A caseworker's day in the browser (issue 16, "Must show"), in a real headless Chromium (Debian's
/usr/bin/chromium driven by Playwright) on the real embedded stack, signed in with accounts, no token
anywhere:

1. the administrator creates the accounts with `doudi users add` (the approver registered as an official);
2. a clerk signs in at /login, registers a household and files an emergency application (受理登记);
3. a county approver signs in, finds the case in 待办 and approves 1950.00 yuan;
4. the payment shows on the household's file (家庭档案);
5. the monthly statistics report downloads as xlsx (openpyxl) with the totals computed by hand;
6. the decision letter (决定书) downloads from the file as a PDF whose text has the amount in yuan and 复核/申诉.

Screenshots go to tests/.artifacts/workbench-day-*.png.

Figures by hand from seed 002 (Ningxia): 「急难型家庭…按照不低于城市低保月标准…2倍」 with the urban standard
「每人每月650元」: floor 650 x 2 = 1,300 yuan. The browser's case: 2,500.00 yuan asked (above the township's
authority, so the county decides), 1,950.00 yuan approved = 195000 fen. A second case of the same county,
decided over the API at the floor: 1,300.00 yuan = 130000 fen. The month's 临时救助 in the county: 2 payments
to 2 households of 1 person each, 1,950.00 + 1,300.00 = 3,250.00 yuan.

The county is 640323 (吴忠市盐池县), where no other test opens a case.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from playwright.async_api import BrowserContext, Page, async_playwright, expect
from pypdf import PdfReader

from shared.auth import issue_token
from tests.support import StackClient, national_id, official_token, wait_for

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts"
REPO = Path(__file__).resolve().parents[2]
COUNTY = "640323"  # 吴忠市盐池县
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 20_000
PASSWORD = "盐池-滩羊-2026-day"
APPROVED_YUAN, APPROVED_FEN = "1950.00", 1950 * 100   # typed in the browser: 195000 fen
FLOOR_FEN = 650 * 2 * 100                              # the second case, at the floor: 130000 fen
MONTH_TOTAL = Decimal("1950.00") + Decimal("1300.00")  # = 3250.00 yuan

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
            timezone_id="Asia/Shanghai", accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            await context.close()


def doudi_users(api_url: str, *args: str) -> str:
    """`doudi users ...` as the administrator runs it (the embedded default's development admin token)."""
    env = {**os.environ, "DOUDI_API_URL": api_url, "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "deploy.cli", "users", *args], cwd=REPO, env=env,
                         input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def watched(page: Page, base: str, problems: list[str]) -> Page:
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.on("request", lambda req: problems.append(f"foreign request: {req.url}")
            if not req.url.startswith((base, "data:", "blob:")) else None)
    return page


async def sign_in(page: Page, base: str, where: str, username: str) -> None:
    """Open a workbench page without a session: the sign-in page, then back where the person was going."""
    await page.goto(f"{base}{where}")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await expect(page.get_by_role("heading", name="兜底 · 困难群众基本生活保障")).to_be_visible()
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page.locator("#whoami")).to_contain_text(username)


async def case_at(client: StackClient, case_id: str, *stages: str, timeout: float = 90) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {issue_token('day-admin', 'admin')}"}

    async def probe() -> dict[str, Any] | None:
        r = await client.http.get(f"/api/cases/{case_id}", headers=admin)
        return r.json() if r.status_code == 200 and r.json()["stage"] in stages else None
    return await wait_for(probe, timeout=timeout)


async def paid(client: StackClient, case_id: str) -> list[int]:
    async def probe() -> list[int] | None:
        return [r["amount_fen"] for r in await client.ledger(case_id=case_id)] or None
    return await wait_for(probe, timeout=90)


async def a_case_decided_at_the_floor(client: StackClient) -> str:
    """The county's other case of the month, through the API: a household, an emergency application,
    the county's decision at the floor (1,300.00 yuan)."""
    pid = national_id(COUNTY)
    clerk = {"Authorization": f"Bearer {issue_token('day-api-clerk', 'clerk', region=COUNTY)}"}
    r = await client.http.post("/api/households", headers=clerk, json={
        "household_id": f"hh-day-{uuid.uuid4().hex[:10]}", "region_code": COUNTY, "urban": True, "categories": [],
        "monthly_income_fen": 0, "members": [{"person_id": pid, "name": "马测试", "relation": "head",
                                              "birth_date": f"{pid[6:10]}-{pid[10:12]}-{pid[12:14]}", "flags": []}]})
    assert r.status_code == 200, r.text
    r = await client.http.post("/api/applications", headers=clerk, json={
        "person_id": pid, "region_code": COUNTY, "kind": "emergency", "consent": True,
        "details": {"incident_date": "2022-08-12", "requested_amount_fen": 250_000,
                    "household_type": "emergency_household", "reason": "突发重病"}})
    assert r.status_code == 202, r.text
    case_id: str = r.json()["case_id"]
    await case_at(client, case_id, "awaiting_county_decision")
    approver = official_token(f"day-api-county-{uuid.uuid4().hex[:6]}", "county_approver", region=COUNTY)
    r = await client.http.post(f"/api/cases/{case_id}/decisions", headers={"Authorization": f"Bearer {approver}"},
                               json={"decision": "approve", "amount_fen": FLOOR_FEN, "reason": "按下限救助"})
    assert r.status_code == 200, r.text
    assert await paid(client, case_id) == [FLOOR_FEN]
    return case_id


def kept(downloaded: Path, name: str) -> bytes:
    """A downloaded file's bytes, a copy kept with the screenshots."""
    data = Path(downloaded).read_bytes()
    (ARTIFACTS / name).write_bytes(data)
    return data


def pdf_text(data: bytes) -> str:
    """The letter's text, whitespace removed (text extraction may split CJK runs with spaces)."""
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages))


def sheet_rows(data: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def test_a_caseworkers_day_in_the_browser(client: StackClient, browser_context: BrowserContext):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = client.api_url.rstrip("/")
    problems: list[str] = []
    run = uuid.uuid4().hex[:6]
    clerk_name, approver_name = f"yanchi-clerk-{run}", f"yanchi-county-{run}"

    # -- the administrator's accounts (one line each, as the README shows)
    doudi_users(base, "add", clerk_name, "--role", "clerk", "--region", COUNTY, "--name", "李经办",
                "--password-stdin")
    out = doudi_users(base, "add", approver_name, "--role", "county_approver", "--region", COUNTY, "--name",
                      "王审批", "--person-id", national_id("110105"), "--password-stdin")
    assert "registered in the officials registry" in out
    other_case = await a_case_decided_at_the_floor(client)

    # -- the clerk signs in, registers a household and files an application (受理登记)
    page = watched(await browser_context.new_page(), base, problems)
    await sign_in(page, base, "/workbench/#/intake", clerk_name)
    await expect(page).to_have_url(re.compile(r"/workbench/#/intake$"))
    await expect(page.locator("#whoami")).to_contain_text("经办人员")
    await page.screenshot(path=str(ARTIFACTS / "workbench-day-1-clerk-signed-in.png"), full_page=True)
    pid = national_id(COUNTY)
    register = page.locator("#register-form")
    await expect(register.get_by_label("区划代码（6–9 位）")).to_have_value(COUNTY)
    await register.get_by_label("身份证号", exact=True).fill(pid)
    await register.get_by_label("姓名", exact=True).fill("白测试")
    await register.get_by_label("出生日期").fill(f"{pid[6:10]}-{pid[10:12]}-{pid[12:14]}")
    await register.get_by_role("button", name="登记家庭").click()
    await expect(page.locator("#register-form-result")).to_contain_text("已登记")

    apply = page.locator("#apply-form")
    await expect(apply.get_by_label("申请人身份证号")).to_have_value(pid)
    await apply.get_by_label("申请/测算金额（元，可不填）").fill("2500.00")
    await apply.get_by_label("发生日期").fill("2022-08-10")
    await apply.get_by_label("困难情况").fill("家中失火")
    await apply.get_by_label("已签署家庭经济状况核对授权书").check()
    await apply.get_by_role("button", name="受理申请").click()
    await expect(page.locator("#apply-form-result")).to_contain_text("已受理：案件")
    case_id = (await page.locator("#apply-case-link").text_content() or "").strip()
    assert case_id
    await page.screenshot(path=str(ARTIFACTS / "workbench-day-2-application-filed.png"), full_page=True)
    case = await case_at(client, case_id, "awaiting_county_decision")
    household_id = case["household_id"]
    await page.get_by_role("button", name="退出").click()
    await expect(page).to_have_url(re.compile(r"/login"))

    # -- the county approver signs in, finds the case in 待办 and approves it in yuan
    await sign_in(page, base, "/workbench/", approver_name)
    await expect(page.get_by_role("heading", name="待办", exact=True)).to_be_visible()
    card = page.locator(f'article[data-case-id="{case_id}"][data-kind="county_decision"]')
    await expect(card).to_contain_text("¥2,500.00")
    await card.get_by_label("核准金额（元）").fill(APPROVED_YUAN)
    await card.locator(f"#approve-{case_id}").get_by_label("理由").fill("住房失火，按急难型家庭核定")
    await expect(card.locator(f"#approve-{case_id}-amount_fen-preview")).to_have_text("= ¥1,950.00（195000 分）")
    await page.screenshot(path=str(ARTIFACTS / "workbench-day-3-todo.png"), full_page=True)
    await card.get_by_role("button", name="批准", exact=True).click()
    await expect(card.locator(f"#approve-{case_id}-result")).to_have_text("已提交：批准 ¥1,950.00")
    assert await paid(client, case_id) == [APPROVED_FEN]  # exactly once, exactly the amount typed

    # -- the payment on the household's file (家庭档案)
    await page.goto(f"{base}/workbench/#/files")
    await page.locator("#file-q").fill(household_id)
    await page.locator("#file-search-submit").click()
    await page.locator(f"#file-hit-{re.sub(r'[^A-Za-z0-9_-]', '_', household_id)}").click()
    await expect(page.locator("#file-payments")).to_contain_text("¥1,950.00")
    await expect(page.locator("#file-cases")).to_contain_text(case_id)
    await page.screenshot(path=str(ARTIFACTS / "workbench-day-4-household-file.png"), full_page=True)

    # -- the monthly statistics report (this month, Beijing time) as xlsx, totals as computed by hand
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    await page.goto(f"{base}/workbench/#/files")
    await page.locator("#export-month").fill(month)
    async with page.expect_download() as downloading:
        await page.locator("#export-statistics").click()
    download = await downloading.value
    xlsx = kept(await download.path(), "workbench-day-5-statistics.xlsx")
    rows = sheet_rows(xlsx)
    assert rows[0] == ["月份", "地区代码", "地区名称", "类别", "在册户数", "在册人数", "发放人次", "发放户数",
                       "发放人数", "支出（元）"]
    by_category = {(row[1], row[3]): row[4:] for row in rows[1:]}

    def figures(region: str, category: str) -> list[Any]:
        values = by_category[(region, category)]
        return [*values[:5], Decimal(str(values[5])).quantize(Decimal("0.01"))]

    # 2 payments (1950.00 + 1300.00), to 2 one-person households, none of them on a roster
    assert figures(COUNTY, "临时救助") == [0, 0, 2, 2, 2, MONTH_TOTAL]
    # the other categories' rows are the county's other cases this month (the enrolment duties' test confirms
    # dibao in 640323 too): the county's 小计 and the report's 总计 add its rows, 临时救助's 3250.00 among them
    own = [figures(COUNTY, category) for (region, category) in by_category
           if region == COUNTY and category != "小计" and not category.startswith(("合计", "总计"))]
    subtotal = figures(COUNTY, "小计")
    grand = next(row for row in rows[1:] if row[3] == "总计")
    assert subtotal[5] == sum((f[5] for f in own), Decimal("0.00")) >= MONTH_TOTAL
    assert subtotal[2] == sum(f[2] for f in own)  # 发放人次
    assert Decimal(str(grand[9])).quantize(Decimal("0.01")) == subtotal[5]  # one county in the jurisdiction
    await page.screenshot(path=str(ARTIFACTS / "workbench-day-5-exports.png"), full_page=True)

    # -- the decision letter (决定书) downloads; its text has the amount in yuan and how to appeal
    await page.goto(f"{base}/workbench/#/file/{household_id}")
    letter = page.locator(f"#letter-{re.sub(r'[^A-Za-z0-9_-]', '_', case_id)}")
    answer = await page.request.get(f"{base}{await letter.get_attribute('href')}")  # the session's cookies
    assert answer.status == 200, f"the decision letter: {answer.status} {(await answer.text())[:300]}"
    async with page.expect_download() as downloading:
        await letter.click()
    download = await downloading.value
    pdf = kept(await download.path(), "workbench-day-6-decision-letter.pdf")
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    assert "1,950.00元" in text and "住房失火，按急难型家庭核定" in text, text
    assert "复核" in text and "申诉" in text, text

    assert other_case != case_id
    assert not problems, problems
