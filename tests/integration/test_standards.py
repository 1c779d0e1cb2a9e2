"""Standards on the real stack (issue 13): a month of entitlement is never lost to quarterly payment
(item 1), a raised standard reaches every enrolled household with back-pay exactly once (item 2, 提标),
a standard stays in force after the temporary measures end (item 3), and the roster says who is a
recipient for region-wide batches (item 17).

Each test uses counties no other test uses (the local packs folder, tests/fixtures/policy, is the
session's): 西吉县 640422 pays rural dibao quarterly (fixture), 隆德县 640423 raises its urban standard to
700 yuan from 2023-01-01 (fixture), 泾源县 640424 has only the Ningxia notice (seed 002)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.embedded import EmbeddedStack
from shared.auth import issue_token
from tests.support import StackClient, national_id, wait_for

pytestmark = pytest.mark.stack

XIJI, LONGDE, JINGYUAN = "640422", "640423", "640424"
RAISED = "test-longde-2023-standard@2023.1"
# fixtures raising a standard the add-ons and the employment-cost deduction scale with (TEST FIXTURES)
XPCC_RAISED, SHANGRAO_RAISED, XINZHOU = "660105", "361104", "361102"
XPCC_RAISE = "test-xpcc-660105-2022-standard@2022.1"
XPCC_CASE, XPCC_CASE_RAISE = "660106", "test-xpcc-660106-2022-standard@2022.1"
SHANGRAO_RAISE = "test-shangrao-361104-2023-standard@2023.1"


def bearer(role: str, region: str = "", subject: str | None = None) -> dict[str, str]:
    token = issue_token(subject or f"test-{role}-{uuid.uuid4().hex[:6]}", role, region=region)
    return {"Authorization": f"Bearer {token}"}


def family(income_fen: int, *, region: str, size: int = 3, urban: bool = True,
           categories: list[str] | None = None) -> dict[str, Any]:
    """Head 1980, spouse 1982, child 2010 (no add-on in Ningxia, no one employed)."""
    births = ["1980-01-01", "1982-01-01", "2010-01-01"]
    members = [{"person_id": national_id(region, born=births[i]), "name": f"成员{i}",
                "relation": "head" if i == 0 else "member",
                "birth_date": births[i], "flags": []} for i in range(size)]
    return {"household_id": f"hh-std-{uuid.uuid4().hex[:12]}", "region_code": region, "urban": urban,
            "categories": ["dibao"] if categories is None else categories, "monthly_income_fen": income_fen,
            "members": members}


async def db(stack: EmbeddedStack, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def roster(stack: EmbeddedStack, household_id: str) -> asyncpg.Record:
    [row] = await db(stack, "SELECT * FROM intake.enrolments WHERE household_id = $1", household_id)
    return row


async def keys(client: StackClient, household_id: str) -> list[tuple[str, int]]:
    rows = await client.ledger(household_id=household_id)
    return sorted((r["idempotency_key"].replace(household_id, "HH"), r["amount_fen"]) for r in rows)


async def run_cycle(client: StackClient, stack: EmbeddedStack, region: str, period: str) -> dict[str, Any]:
    r = await client.http.post("/api/enrolments/cycles", headers=bearer("county_approver", region=region),
                               json={"region_prefix": region, "period": period})
    assert r.status_code == 202, r.text
    cycle_id = r.json()["cycle_id"]

    async def finished() -> bool | None:
        rows = await db(stack, "SELECT 1 FROM payment.period_cycles WHERE cycle_id = $1 AND finished_at IS NOT NULL",
                        cycle_id)
        return True if rows else None

    await wait_for(finished, timeout=90)
    r = await client.http.get(f"/api/enrolments/cycles/{cycle_id}", headers=bearer("auditor", region=region))
    assert r.status_code == 200, r.text
    return r.json()


async def enrol(client: StackClient, hh: dict[str, Any], day: str, level_fen: int) -> dict[str, Any]:
    """A dibao application, confirmed by the county at the policy's level; returns the closed case."""
    await client.register(hh)
    head, region = hh["members"][0]["person_id"], hh["region_code"]
    r = await client.http.post("/api/applications", headers=bearer("clerk", region=region), json={
        "person_id": head, "region_code": region, "kind": "dibao", "consent": True,
        "details": {"incident_date": day}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    await client.through_enrolment_duties(case_id, day)

    async def awaiting() -> dict[str, Any] | None:
        c = await client.case_once_visible(case_id)
        return c if c is not None and c["stage"] == "awaiting_approval" else None

    await wait_for(awaiting, timeout=60)
    # a county approver in the officials registry (a decision on money is signed by a registered official)
    subject = f"std-county-{region}-{uuid.uuid4().hex[:6]}"
    r = await client.http.put(f"/api/officials/{subject}", headers=bearer("admin"), json={
        "person_id": national_id(region), "name": "审批人", "roles": ["county_approver"], "jurisdiction": region})
    assert r.status_code == 200, r.text
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json={"decision": "approve", "amount_fen": level_fen},
                               headers=bearer("county_approver", region=region, subject=subject))
    assert r.status_code == 200, r.text
    try:
        return await client.closed_case(head, timeout=60)
    except AssertionError:
        raise AssertionError(json.dumps(await client.case(case_id), default=str, ensure_ascii=False)) from None


async def test_a_rural_household_enrolled_in_a_quarters_second_month_is_paid_for_that_month_and_the_next(
        client: StackClient, stack: EmbeddedStack):
    # 西吉县 pays rural dibao quarterly (fixture; seed 003 「农村低保金按季度发放的地区要实行季度首月发放」)
    hh = family(30000, region=XIJI, size=2, urban=False)
    level = 2 * 46000 - 30000  # rural 5,520 yuan a year = 460 yuan a month (seed 002), x 2 persons - income = 62000
    done = await enrol(client, hh, "2022-08-10", level)
    assert done["outcome"] == "handed_back", done
    # August and September at once (the quarter's 2nd and 3rd months), not lost until October
    assert await keys(client, hh["household_id"]) == [("dibao:HH:2022-08", 2 * 62000)]
    e = await roster(stack, hh["household_id"])
    assert (e["paid_through"], e["rural_quarterly"], e["level_fen"]) == ("2022-09", True, 62000)
    sep = await run_cycle(client, stack, XIJI, "2022-09")
    assert sep["on_roll"] == 0
    oct_ = await run_cycle(client, stack, XIJI, "2022-10")  # the quarter's first month: Q4 at once
    assert oct_["on_roll"] == 1 and oct_["roll_fen"] == 3 * 62000
    assert await keys(client, hh["household_id"]) == [("dibao:HH:2022-08", 124000), ("dibao:HH:2022-10", 186000)]


async def test_a_raised_standard_reprices_the_enrolled_and_back_pays_paid_months_exactly_once(
        client: StackClient, stack: EmbeddedStack):
    # enrolled from 2022-10, paid through 2023-02 at Ningxia's 650 yuan (seed 002): (65000 x 3) - 90000
    hh = family(90000, region=LONGDE)
    line = {"household": hh, "enrolled_from": "2022-10", "paid_through": "2023-02"}
    r = await client.http.post("/api/enrolments/import", content=json.dumps(line).encode(),
                               headers=bearer("county_approver", region=LONGDE))
    assert r.status_code == 200, r.text
    e = await roster(stack, hh["household_id"])
    assert (e["level_fen"], e["standard_fen"]) == (105000, 65000)

    # the county's pack raising the urban standard to 700 yuan from 2023-01-01 is in force in 2023-03
    mar = await run_cycle(client, stack, LONGDE, "2023-03")
    # March at the new level: (70000 x 3) - 90000 = 120000; back-pay for January and February, already
    # paid at the old level: (70000 - 65000) x 3 persons x 2 months = 30000, once, under its own key
    assert (mar["repriced"], mar["back_pay_rows"], mar["back_pay_fen"]) == (1, 1, 30000)
    assert mar["on_roll"] == 2 and mar["roll_fen"] == 120000 + 30000
    expected = [("dibao-topup:HH:2023-01:" + RAISED, 30000), ("dibao:HH:2023-03", 120000)]
    assert await keys(client, hh["household_id"]) == expected
    e = await roster(stack, hh["household_id"])
    assert (e["level_fen"], e["standard_fen"], e["standard_version"]) == (120000, 70000, RAISED)

    # re-running the cycle is the same cycle; the next month pays the month only
    again = await client.http.post("/api/enrolments/cycles", headers=bearer("county_approver", region=LONGDE),
                                   json={"region_prefix": LONGDE, "period": "2023-03"})
    assert again.status_code == 202
    apr = await run_cycle(client, stack, LONGDE, "2023-04")
    assert (apr["repriced"], apr["back_pay_rows"], apr["on_roll"], apr["roll_fen"]) == (0, 0, 1, 120000)
    assert await keys(client, hh["household_id"]) == expected + [("dibao:HH:2023-04", 120000)]

    # the household's history shows the repricing and each back-paid month
    r = await client.http.get(f"/api/enrolments/{hh['household_id']}", headers=bearer("auditor", region=LONGDE))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(b["period"], b["last_period"], b["months"], b["amount_fen"], b["old_fen"], b["per_person_fen"],
             b["persons"], b["standard_version"]) for b in body["back_pay"]] == [
        ("2023-01", "2023-02", 2, 30000, 65000, 2 * 5000, 3, RAISED)]
    assert {"period": "2023-03", "kind": "standard", "outcome": "repriced", "level_fen": 120000} in [
        {k: v for k, v in rv.items() if k in ("period", "kind", "outcome", "level_fen")} for rv in body["reviews"]]


async def test_ningxia_dibao_continues_after_the_temporary_measures_end_and_the_roster_names_recipients(
        client: StackClient, stack: EmbeddedStack):
    # registered with no categories: the dibao application makes it a recipient (the roster's answer)
    hh = family(90000, region=JINGYUAN, categories=[])
    # 2024-01: the 20 measures ended 2023-12-31; the 650-yuan standard they raised stays in force (seed 002)
    done = await enrol(client, hh, "2024-01-08", 105000)  # (65000 x 3) - 90000
    assert done["outcome"] == "handed_back", done
    assert await keys(client, hh["household_id"]) == [("dibao:HH:2024-01", 105000)]
    feb = await run_cycle(client, stack, JINGYUAN, "2024-02")
    assert feb["on_roll"] == 1 and feb["roll_fen"] == 105000

    # a region-wide batch's cohort export asks the roster: the household's three members are dibao recipients
    token = issue_token("svc-payment", "service")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.ports.intake}", timeout=30) as intake:
        r = await intake.get("/api/cohorts/export", params={"region_prefix": JINGYUAN, "categories": "dibao",
                                                           "on": "2024-02-01"},
                             headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    rows = [row for row in csv.DictReader(io.StringIO(r.text)) if row["household_id"] == hh["household_id"]]
    assert sorted(row["person_id"] for row in rows) == sorted(m["person_id"] for m in hh["members"])
    assert all(row["categories"] == "{dibao}" for row in rows)


async def import_line(client: StackClient, hh: dict[str, Any], enrolled_from: str, paid_through: str) -> None:
    r = await client.http.post("/api/enrolments/import", headers=bearer("county_approver", region=hh["region_code"]),
                               content=json.dumps({"household": hh, "enrolled_from": enrolled_from,
                                                   "paid_through": paid_through}).encode())
    assert r.status_code == 200, r.text


async def test_a_raised_standard_reprices_add_ons_and_the_employment_cost_deduction_exactly(
        client: StackClient, stack: EmbeddedStack):
    # XPCC company 660105 (fixtures): 600.05 yuan, remote 20 %, special member 10 %; 650.05 yuan from 2022-01-01.
    # A remote household of 3 with one minor (born 2010) and 900 yuan of income, paid through 2022-02:
    # old (60005 x 3 - 90000) + 12001 x 3 + 6001 = 132019; new (65005 x 3 - 90000) + 13001 x 3 + 6501 = 150519
    xpcc = family(90000, region=XPCC_RAISED) | {"remote": True}
    await import_line(client, xpcc, "2021-10", "2022-02")
    assert (await roster(stack, xpcc["household_id"]))["level_fen"] == 132019
    mar = await run_cycle(client, stack, XPCC_RAISED, "2022-03")
    # back-pay January and February: (150519 - 132019) x 2 = 37000 (the linear repricing paid 30000)
    assert (mar["repriced"], mar["back_pay_rows"], mar["back_pay_fen"]) == (1, 1, 37000)
    assert await keys(client, xpcc["household_id"]) == [
        ("dibao-topup:HH:2022-01:" + XPCC_RAISE, 37000), ("dibao:HH:2022-03", 150519)]
    assert (await roster(stack, xpcc["household_id"]))["level_fen"] == 150519

    # Shangrao county 361104 (fixtures): 800 yuan, 850 from 2023-01-01; 30 % of the place of work's standard
    # deducted per working member (seed 001). Households of 3, 1500 yuan of income, the head employed:
    # at home:  old 80000 x 3 - (150000 - 24000) = 114000; new 85000 x 3 - (150000 - 25500) = 130500
    # in 信州区 (800 yuan, not raised): old 114000; new 85000 x 3 - (150000 - 24000) = 129000
    home = family(150000, region=SHANGRAO_RAISED)
    home["members"][0]["flags"] = ["employed"]
    away = family(150000, region=SHANGRAO_RAISED)
    away["members"][0] |= {"flags": ["employed"], "work_region_code": XINZHOU}
    for hh in (home, away):
        await import_line(client, hh, "2022-10", "2023-02")
        assert (await roster(stack, hh["household_id"]))["level_fen"] == 114000
    mar = await run_cycle(client, stack, SHANGRAO_RAISED, "2023-03")
    # back-pay 2023-01..02: (130500 - 114000) x 2 = 33000 and (129000 - 114000) x 2 = 30000
    assert (mar["repriced"], mar["back_pay_rows"], mar["back_pay_fen"]) == (2, 2, 63000)
    assert mar["roll_fen"] == 130500 + 129000 + 63000
    assert await keys(client, home["household_id"]) == [
        ("dibao-topup:HH:2023-01:" + SHANGRAO_RAISE, 33000), ("dibao:HH:2023-03", 130500)]
    assert await keys(client, away["household_id"]) == [
        ("dibao-topup:HH:2023-01:" + SHANGRAO_RAISE, 30000), ("dibao:HH:2023-03", 129000)]
    r = await client.http.get(f"/api/enrolments/{away['household_id']}",
                              headers=bearer("auditor", region=SHANGRAO_RAISED))
    assert [(b["old_level_fen"], b["new_level_fen"], b["months"]) for b in r.json()["back_pay"]] == [
        (114000, 129000, 2)]
    # the next month pays the exact levels only
    apr = await run_cycle(client, stack, SHANGRAO_RAISED, "2023-04")
    assert (apr["repriced"], apr["back_pay_rows"], apr["roll_fen"]) == (0, 0, 130500 + 129000)


async def test_a_household_its_review_case_carries_is_back_paid_by_the_case_for_months_the_cycle_paid(
        client: StackClient, stack: EmbeddedStack):
    # XPCC company 660106 (fixtures): 600.05 yuan, 650.05 from 2022-01-01. Paid through 2022-02 at the old
    # level, (60005 x 3 - 90000) + 12001 x 3 + 6001 = 132019; an employment income reported before the cycle
    # reprices it opens its review case, which the cycle no longer reprices: the case does (item 2)
    hh = family(90000, region=XPCC_CASE) | {"remote": True}
    await import_line(client, hh, "2021-10", "2022-02")
    await client.publish_event("household.income_changed", {
        "household_id": hh["household_id"], "monthly_income_fen": 300000, "reason": "employment",
        "effective_on": "2022-02-20"})

    async def paid_by_case() -> dict[str, Any] | None:
        e = await roster(stack, hh["household_id"])
        if e is None or e["review_case_id"] is None:
            return None
        c = await client.case_once_visible(e["review_case_id"])
        return c if c is not None and any(t["stage"] == "period_paid" for t in c.get("timeline", [])) else None

    case = await wait_for(paid_by_case, timeout=60)
    stages = [t["stage"] for t in case["timeline"] if t["stage"]]
    assert stages.index("review_repriced") < stages.index("review_gradual_exit"), stages
    # the months the cycle paid at 132019 under the new entry (2022-01, 2022-02), at the exact level of the
    # facts they were paid for: (65005 x 3 - 90000) + 13001 x 3 + 6501 = 150519; (150519 - 132019) x 2 = 37000;
    # then 300000 > 65005 x 3: gradual exit at the repriced level (XPCC: local-practice 6 months)
    assert await keys(client, hh["household_id"]) == [
        ("dibao-topup:HH:2022-01:" + XPCC_CASE_RAISE, 37000), ("dibao:HH:2022-03", 150519)]
    # the cycle leaves the household to its case: nothing repriced, nothing paid twice
    mar = await run_cycle(client, stack, XPCC_CASE, "2022-03")
    assert (mar["repriced"], mar["back_pay_rows"], mar["on_roll"]) == (0, 0, 0)
    assert len(await keys(client, hh["household_id"])) == 2
