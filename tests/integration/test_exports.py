"""Exports on the real stack (issue 16): the monthly statistics report opens with openpyxl and its totals
are the ones computed by hand below; its CSV says the same; the payments and the roster of a region
stream out with amounts in yuan and Chinese headers, IDs masked for a role that may not see them; a bad
month is a 422 in Chinese naming the field; a region outside the caller's jurisdiction is a 403."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from openpyxl import load_workbook

from deploy.embedded import EmbeddedStack
from shared.auth import Role, issue_token
from tests.support import StackClient, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

COUNTY = "640381"   # 吴忠市青铜峡市: no other test pays anything here
FOREIGN = "640104"


def bearer(role: Role, region: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(f'exports-{role}-{uuid.uuid4().hex[:6]}', role, region=region)}"}


def family(income_fen: int, size: int, *, urban: bool) -> dict[str, Any]:
    ids = [national_id(COUNTY) for _ in range(size)]
    relations = ["head", "spouse", "child"]
    return {"household_id": f"hh-exp-{uuid.uuid4().hex[:10]}", "region_code": COUNTY, "urban": urban,
            "categories": ["dibao"], "monthly_income_fen": income_fen,
            "members": [{"person_id": pid, "name": f"导出{i}", "relation": relations[i],
                         "birth_date": f"{pid[6:10]}-{pid[10:12]}-{pid[12:14]}", "flags": []}
                        for i, pid in enumerate(ids)]}


async def paid_cycle(client: StackClient, stack: EmbeddedStack, period: str) -> None:
    r = await client.http.post("/api/enrolments/cycles", json={"region_prefix": COUNTY, "period": period},
                               headers={"Authorization": "Bearer " + official_token(
                                   f"exports-county-{uuid.uuid4().hex[:6]}", "county_approver", region=COUNTY)})
    assert r.status_code == 202, r.text
    cycle_id = r.json()["cycle_id"]

    async def finished() -> bool:
        conn = await asyncpg.connect(stack.database_url)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM payment.period_cycles WHERE cycle_id = $1"
                                            " AND finished_at IS NOT NULL", cycle_id))
        finally:
            await conn.close()

    await wait_for(finished, timeout=90)


@pytest.fixture(scope="module")
async def county(client: StackClient, stack: EmbeddedStack) -> dict[str, Any]:
    """Two dibao households on the roster (one urban, one rural) paid for 2022-10 by the monthly cycle,
    and a third household's quarantine aid: everything this county was paid, all of it written now."""
    urban, rural = family(90000, 3, urban=True), family(30000, 2, urban=False)
    lines = [json.dumps({"household": h, "kind": "dibao", "enrolled_from": "2022-07", "paid_through": "2022-09",
                         "next_review": "2023-06"}) for h in (urban, rural)]
    r = await client.http.post("/api/enrolments/import", content="\n".join(lines).encode(),
                               headers=bearer(Role.county_approver, COUNTY))
    assert r.status_code == 200 and r.json()["enrolled"] == 2, r.text
    await paid_cycle(client, stack, "2022-10")

    quarantined = family(60000, 1, urban=True)
    await client.register(quarantined)
    head = quarantined["members"][0]["person_id"]
    await client.publish("health.quarantined", {"person_id": head, "region_code": COUNTY,
                                                "quarantined_on": "2022-08-10"})
    case = await client.closed_case(head, timeout=60)
    assert case["outcome"] == "paid"
    return {"urban": urban, "rural": rural, "quarantined": quarantined,
            "month": datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")}


def sheet_rows(body: bytes) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(body), read_only=True)
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def csv_rows(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def as_text(value: Any) -> str:
    """An amount cell's value as the CSV writes it (two decimals)."""
    return f"{Decimal(str(value)):.2f}"


def sheet_texts(body: bytes) -> list[list[str]]:
    """Every cell as the CSV writes it: amounts (the cells shown with two decimals) with two decimals."""
    book = load_workbook(io.BytesIO(body), read_only=True)
    return [["" if c.value is None else as_text(c.value) if c.number_format == "0.00" else str(c.value)
             for c in row] for row in book.worksheets[0].iter_rows()]


async def test_the_monthly_statistics_report_has_the_totals_computed_by_hand(client: StackClient,
                                                                            county: dict[str, Any]):
    month = county["month"]
    headers = bearer(Role.county_approver, COUNTY)
    r = await client.http.get("/api/exports/statistics.xlsx", params={"month": month, "region": COUNTY},
                              headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    xlsx = r.content
    rows = sheet_rows(xlsx)
    assert rows[0] == ["月份", "地区代码", "地区名称", "类别", "在册户数", "在册人数", "发放人次", "发放户数",
                       "发放人数", "支出（元）"]
    by_category = {(row[1], row[3]): row[4:] for row in rows[1:]}
    assert {row[2] for row in rows[1:]} == {"宁夏回族自治区吴忠市青铜峡市"}

    def figures(region: str, category: str) -> list[Any]:
        values = by_category[(region, category)]
        return [*values[:5], Decimal(str(values[5])).quantize(Decimal("0.01"))]

    # By hand, from the seed (Ningxia, seed 002): urban dibao standard 650 yuan, rural 460 yuan per person
    # per month, the level is the standard x persons - the household's income:
    #   urban household, 3 persons, income 900 yuan: 3 x 650 - 900 = 1050.00 yuan for 2022-10
    #   rural household, 2 persons, income 300 yuan: 2 x 460 - 300 =  620.00 yuan for 2022-10
    #   the quarantined dibao recipient (seed 002): 3 x the city standard 650 = 1950.00 yuan (临时救助)
    # roster: 城市低保 1 household / 3 persons, 农村低保 1 household / 2 persons
    # totals: 1050.00 + 620.00 + 1950.00 = 3620.00 yuan; 3 payments to 3 households, 3 (head) persons
    assert figures(COUNTY, "城市低保") == [1, 3, 1, 1, 1, Decimal("1050.00")]
    assert figures(COUNTY, "农村低保") == [1, 2, 1, 1, 1, Decimal("620.00")]
    assert figures(COUNTY, "特困人员") == [0, 0, 0, 0, 0, Decimal("0.00")]
    assert figures(COUNTY, "临时救助") == [0, 0, 1, 1, 1, Decimal("1950.00")]
    assert figures(COUNTY, "一次性生活补贴") == [0, 0, 0, 0, 0, Decimal("0.00")]
    assert figures(COUNTY, "价格临时补贴") == [0, 0, 0, 0, 0, Decimal("0.00")]
    assert figures(COUNTY, "小计") == [2, 5, 3, 3, 3, Decimal("3620.00")]
    assert figures(COUNTY, "合计：城市低保") == [1, 3, 1, 1, 1, Decimal("1050.00")]
    assert figures(COUNTY, "总计") == [2, 5, 3, 3, 3, Decimal("3620.00")]
    assert {row[0] for row in rows[1:]} == {month}

    # the CSV says the same, cell for cell
    r = await client.http.get("/api/exports/statistics.csv", params={"month": month, "region": COUNTY},
                              headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
    assert csv_rows(r.content) == sheet_texts(xlsx)
    assert "attachment" in r.headers["content-disposition"]


async def test_payments_and_roster_stream_in_yuan_with_ids_masked_for_finance(client: StackClient,
                                                                             county: dict[str, Any]):
    month = county["month"]
    urban_head = county["urban"]["members"][0]["person_id"]
    for role, masked in ((Role.county_approver, False), (Role.finance, True)):
        r = await client.http.get("/api/exports/payments.csv", params={"month": month, "region": COUNTY},
                                  headers=bearer(role, COUNTY))
        assert r.status_code == 200, r.text
        rows = csv_rows(r.content)
        assert rows[0][:3] == ["流水号", "支付编号", "类型"] and rows[0][9] == "金额（元）"
        # 1050.00 and 620.00 yuan of dibao (2022-10), 1950.00 yuan of quarantine aid: by hand, as above
        assert sorted(row[9] for row in rows[1:]) == ["1050.00", "1950.00", "620.00"]
        assert {row[5] for row in rows[1:]} == {"最低生活保障（低保）", "临时救助（隔离收治）"}
        assert (urban_head in r.text) is not masked
        assert (urban_head[:6] + "********" + urban_head[14:] in r.text) is masked

    r = await client.http.get("/api/exports/payments.xlsx", params={"month": month, "region": COUNTY},
                              headers=bearer(Role.finance, COUNTY))
    assert r.status_code == 200
    body = sheet_rows(r.content)
    assert sorted(as_text(row[9]) for row in body[1:]) == ["1050.00", "1950.00", "620.00"]
    assert not any(urban_head in str(cell) for row in body for cell in row)

    r = await client.http.get("/api/exports/roster.xlsx", params={"region": COUNTY},
                              headers=bearer(Role.county_approver, COUNTY))
    assert r.status_code == 200, r.text
    rows = sheet_rows(r.content)
    assert rows[0][:4] == ["户编号", "保障编号", "户主身份证号", "户主姓名"]
    mine = {row[0]: row for row in rows[1:]}
    urban, rural = mine[county["urban"]["household_id"]], mine[county["rural"]["household_id"]]
    assert (urban[2], urban[5], urban[6], as_text(urban[8]), urban[9]) == (urban_head, "城市", "低保", "1050.00", 3)
    assert (rural[5], as_text(rural[8]), rural[9]) == ("农村", "620.00", 2)
    assert len(mine) == 2

    r = await client.http.get("/api/exports/tasks.csv", headers=bearer(Role.county_approver, COUNTY))
    assert r.status_code == 200 and csv_rows(r.content)[0][0] == "任务编号", r.text


async def test_an_enrolled_household_s_file_shows_its_level_and_the_cycle_s_payment(client: StackClient,
                                                                                   county: dict[str, Any]):
    urban = county["urban"]
    r = await client.http.get(f"/api/household-files/{urban['household_id']}",
                              headers=bearer(Role.township_approver, COUNTY))
    assert r.status_code == 200, r.text
    file = r.json()
    # 3 x 650 - 900 = 1050.00 yuan a month (by hand, as above), paid for 2022-10 by the cycle
    assert (file["enrolment"]["kind"], file["enrolment"]["level_fen"], file["enrolment"]["paid_through"]) == (
        "dibao", 105000, "2022-10")
    assert file["level_history"] == [{"period": "2022-07", "level_fen": 105000, "level_yuan": "1050.00",
                                      "change_fen": 105000, "why": "enrolment"}]
    assert [(p["measure"], p["amount_yuan"], p["pathway"]) for p in file["payments"]] == [
        ("dibao", "1050.00", "renewal")]  # the cycle pays under the renewal pathway
    assert file["totals"]["disbursed_fen"] == 105000


async def test_a_bad_month_or_region_is_refused_in_chinese_and_a_foreign_region_is_forbidden(
        client: StackClient, county: dict[str, Any]):
    headers = bearer(Role.county_approver, COUNTY)
    for month in ("2026-13", "2026/12", "202612", "x" * 70):
        r = await client.http.get("/api/exports/statistics.xlsx", params={"month": month}, headers=headers)
        assert r.status_code == 422, (month, r.text)
        [error] = r.json()["detail"]
        assert error["loc"] == ["query", "month"] and "月份" in error["msg"] and "YYYY-MM" in error["msg"], r.text
    r = await client.http.get("/api/exports/roster.csv", params={"region": "64-01"}, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "region"], r.text
    for kind in ("statistics.xlsx", "payments.csv", "roster.csv", "tasks.xlsx"):
        r = await client.http.get(f"/api/exports/{kind}", params={"region": FOREIGN}, headers=headers)
        assert r.status_code == 403 and "不在您的辖区内" in r.json()["detail"], (kind, r.text)
        r = await client.http.get(f"/api/exports/{kind}", params={"region": COUNTY},
                                  headers=bearer(Role.clerk, FOREIGN))
        assert r.status_code == 403, (kind, r.text)
    # the foreign county's own report names nothing of this county
    r = await client.http.get("/api/exports/statistics.csv", params={"month": county["month"]},
                              headers=bearer(Role.auditor, "640122"))
    assert r.status_code == 200 and COUNTY not in r.text
    assert (await client.http.get("/api/exports/statistics.csv")).status_code == 401
    assert (await client.http.get("/api/exports/ledger.csv", headers=headers)).status_code == 422


