"""Enrolled households on the real stack (issue 6): a dibao application enrols a household (check, the
county's confirmation, the first month paid by its case, then handed to the monthly cycle); an import of
existing recipients; the region's cycle reviews them as a set (only changed households become review
cases) and pays the period once per household; reported changes open an off-cycle review case."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from deploy.embedded import EmbeddedStack
from shared.auth import issue_token
from tests.support import StackClient, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

XIXIA = "640105"  # 银川市西夏区: this module's own county, so its cycles see only its households


def bearer(role: str, region: str = "", subject: str | None = None) -> dict[str, str]:
    token = official_token(subject or f"test-{role}-{uuid.uuid4().hex[:6]}", role, region=region)
    return {"Authorization": f"Bearer {token}"}


def family(income_fen: int, *, size: int = 3, region: str = XIXIA, urban: bool = True,
           births: list[str] | None = None) -> dict[str, Any]:
    """Head 1980 (working age), spouse 1982, child 2010: a household of ``size`` (head first)."""
    births = births or ["1980-01-01", "1982-01-01", "2010-01-01", "1950-05-05"]
    members = [{"person_id": national_id(region, born=births[i]), "name": f"成员{i}",
                "relation": "head" if i == 0 else "member",
                "birth_date": births[i], "flags": []} for i in range(size)]
    return {"household_id": f"hh-{uuid.uuid4().hex[:12]}", "region_code": region, "urban": urban,
            "categories": ["dibao"], "monthly_income_fen": income_fen, "members": members}


async def db(stack: EmbeddedStack, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def roster(stack: EmbeddedStack, household_id: str) -> asyncpg.Record | None:
    rows = await db(stack, "SELECT * FROM intake.enrolments WHERE household_id = $1", household_id)
    return rows[0] if rows else None


async def run_cycle(client: StackClient, stack: EmbeddedStack, period: str, region: str = XIXIA) -> dict[str, Any]:
    r = await client.http.post("/api/enrolments/cycles", headers=bearer("county_approver", region=region[:6]),
                               json={"region_prefix": region, "period": period})
    assert r.status_code == 202, r.text
    cycle_id = r.json()["cycle_id"]

    async def finished() -> asyncpg.Record | None:
        rows = await db(stack, "SELECT * FROM payment.period_cycles WHERE cycle_id = $1 AND finished_at IS NOT NULL",
                        cycle_id)
        return rows[0] if rows else None

    await wait_for(finished, timeout=60)
    r = await client.http.get(f"/api/enrolments/cycles/{cycle_id}", headers=bearer("auditor", region=region[:4]))
    assert r.status_code == 200, r.text
    return r.json()


async def enrol_by_application(client: StackClient, stack: EmbeddedStack, hh: dict[str, Any],
                               period_day: str, level_fen: int = 105000) -> dict[str, Any]:
    await client.register(hh)
    head = hh["members"][0]["person_id"]
    r = await client.http.post("/api/applications", headers=bearer("clerk", region=XIXIA), json={
        "person_id": head, "region_code": XIXIA, "kind": "dibao", "consent": True,
        "details": {"incident_date": period_day}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    await client.through_enrolment_duties(case_id, period_day)

    async def awaiting() -> dict[str, Any] | None:
        r = await client.http.get(f"/api/cases/{case_id}", headers=client.clerk)
        if r.status_code == 404:  # the read model has not projected doudi.case.opened yet (a busy machine)
            return None
        assert r.status_code == 200, r.text
        return r.json() if r.json()["stage"] == "awaiting_approval" else None

    await wait_for(awaiting, timeout=60)
    wrong = await client.http.post(f"/api/cases/{case_id}/decisions", json={"decision": "approve", "amount_fen": 1},
                                   headers=bearer("county_approver", region="6401", subject="county-li"))
    assert wrong.status_code == 409 and "the level is the policy's" in wrong.text
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json={"decision": "approve", "amount_fen": level_fen},
                               headers=bearer("county_approver", region="6401", subject="county-li"))
    assert r.status_code == 200, r.text
    try:
        return await client.closed_case(head, timeout=40)
    except AssertionError:
        raise AssertionError(json.dumps(await client.case(case_id), default=str, ensure_ascii=False)) from None


async def test_a_dibao_application_is_checked_confirmed_paid_and_handed_to_the_monthly_cycle(
        client: StackClient, stack: EmbeddedStack):
    hh = family(90000)  # 3 persons, 300 yuan per person per month
    done = await enrol_by_application(client, stack, hh, "2022-09-05")
    assert done["outcome"] == "handed_back", done
    # Ningxia urban standard 650 yuan (seed 002): (65000 - 30000) x 3 = 105000 fen
    assert [p["amount_fen"] for p in done["payments"]] == [105000]
    [row] = await client.ledger(idempotency_key=f"dibao:{hh['household_id']}:2022-09")
    assert row["amount_fen"] == 105000 and row["case_id"] == done["case_id"]
    e = await roster(stack, hh["household_id"])
    assert e is not None and (e["managed_by"], e["status"], e["level_fen"]) == ("cycle", "active", 105000)
    assert e["paid_through"] == "2022-09" and e["cadence"] == "unstable"  # a working-age member
    assert e["next_review"] is None  # the Ningxia notice sets no review interval: reviews on reported changes
    [check] = await db(stack, "SELECT outcome FROM verification.checks WHERE case_id = $1", done["case_id"])
    assert check["outcome"] == "eligible"

    # the next month: paid by the cycle, once (a second start of the same cycle is the same cycle)
    figures = await run_cycle(client, stack, "2022-10")
    assert figures["cases_opened"] == 0
    again = await client.http.post("/api/enrolments/cycles", headers=bearer("county_approver", region=XIXIA),
                                   json={"region_prefix": XIXIA, "period": "2022-10"})
    assert again.status_code == 202
    rows = await client.ledger(household_id=hh["household_id"])
    assert [(r["idempotency_key"].rsplit(":", 1)[1], r["amount_fen"]) for r in rows] == [
        ("2022-09", 105000), ("2022-10", 105000)]

    # a second application for an enrolled household is refused
    r = await client.http.post("/api/applications", headers=bearer("clerk", region=XIXIA), json={
        "person_id": hh["members"][1]["person_id"], "region_code": XIXIA, "kind": "dibao", "consent": True,
        "details": {"incident_date": "2022-10-10"}})
    assert r.status_code == 409 and "already enrolled" in r.text


async def test_the_cycle_reviews_the_cohort_as_a_set_and_opens_cases_only_for_changed_households(
        client: StackClient, stack: EmbeddedStack):
    # XPCC first division: the XPCC plan's review cadence (seed 004) and a test-fixture standard of
    # 60005 fen (tests/fixtures/policy). Three working-age adults: half-yearly reviews.
    region = "660102"
    adults = ["1980-01-01", "1982-01-01", "1985-06-01"]
    households = [family(90000, region=region, births=adults) for _ in range(6)]
    single = family(0, size=1, region=region, births=["1950-05-05"])  # elderly: yearly, the 10% add-on
    lines = [json.dumps({"household": h, "kind": "dibao", "enrolled_from": "2022-06", "paid_through": "2022-10",
                         "next_review": "2022-11"}) for h in households]
    lines.append(json.dumps({"household": single, "enrolled_from": "2022-06", "paid_through": "2022-10"}))
    # refused as a whole when one line is wrong, naming the line and the field
    bad = [*lines, json.dumps({"household": family(0, region=region), "enrolled_from": "2022-13"})]
    r = await client.http.post("/api/enrolments/import", content="\n".join(bad).encode(),
                               headers=bearer("county_approver", region=region))
    assert r.status_code == 422 and r.json()["detail"]["lines"][0]["line"] == 8, r.text
    assert await roster(stack, households[0]["household_id"]) is None  # nothing half-imported
    r = await client.http.post("/api/enrolments/import", content="\n".join(lines).encode(),
                               headers=bearer("county_approver", region=region))
    assert r.status_code == 200 and r.json()["enrolled"] == 7, r.text
    e = await roster(stack, single["household_id"])
    # 60005 + 0.10 x 60005 (half up: 6001); yearly from the pack: first review 2023-06
    assert (e["level_fen"], e["cadence"], e["next_review"]) == (66006, "stable", "2023-06")
    assert (await roster(stack, households[0]["household_id"]))["level_fen"] == 3 * 60005 - 90000

    # a death is reported: an off-cycle review case at once, which adjusts the level for 2022-11 and
    # hands the household back: 2 x 60005 - 90000
    await client.publish_event("household.member_deceased", {
        "person_id": households[1]["members"][2]["person_id"], "died_on": "2022-10-20"})
    await wait_for(lambda: settled(stack, households[1]["household_id"], 30010), timeout=40)
    # the registry changes for another: re-registered with a higher income (no event)
    await client.register({**households[0], "monthly_income_fen": 120000})

    figures = await run_cycle(client, stack, "2022-11", region=region)
    # 5 families due; the changed one is reviewed by the cycle as a set (the policy decides it, issue 18:
    # no case of its own), 4 continue at their level; the death's household (reviewed by its case, next
    # review 2023-05) and the single person are not due
    assert (figures["enrolled"], figures["due"], figures["reviewed"], figures["cases_opened"],
            figures["continued"]) == (7, 5, 1, 0, 4), figures
    # 2022-11 already paid for hh1; the changed one on the roll at its new level 3 x 60005 - 120000
    assert figures["on_roll"] == 6 and figures["roll_fen"] == 4 * 90015 + 66006 + 60015, figures

    await wait_for(lambda: settled(stack, households[0]["household_id"], 3 * 60005 - 120000), timeout=40)
    for h, level in ((households[0], 60015), (households[1], 30010), (households[2], 90015), (single, 66006)):
        rows = await client.ledger(idempotency_key=f"dibao:{h['household_id']}:2022-11")
        assert [r["amount_fen"] for r in rows] == [level], (h["household_id"], rows)
    outcomes = await db(stack, "SELECT outcome FROM intake.enrolment_reviews WHERE period = '2022-11'"
                        " AND household_id = ANY($1::text[])", [h["household_id"] for h in households[2:]])
    assert [o["outcome"] for o in outcomes] == ["continue"] * 4
    for h in households[2:]:
        assert (await roster(stack, h["household_id"]))["next_review"] == "2023-05"

    # a second run of the same period's cycle pays nobody twice
    again = await client.http.post("/api/enrolments/cycles", headers=bearer("county_approver", region=region),
                                   json={"region_prefix": region, "period": "2022-11"})
    assert again.status_code == 202
    ids = [h["household_id"] for h in [*households, single]]
    twice = await db(stack, "SELECT idempotency_key FROM payment.ledger WHERE household_id = ANY($1::text[])"
                     " GROUP BY 1 HAVING count(*) > 1", ids)
    assert twice == []
    assert len(await db(stack, "SELECT 1 FROM payment.ledger WHERE household_id = ANY($1::text[])", ids)) == 7


async def settled(stack: EmbeddedStack, hid: str, level: int) -> asyncpg.Record | None:
    e = await roster(stack, hid)
    return e if e is not None and e["managed_by"] == "cycle" and e["level_fen"] == level else None


async def test_an_employment_income_change_opens_an_off_cycle_review_and_the_gradual_exit(
        client: StackClient, stack: EmbeddedStack):
    hh = family(90000)
    done = await enrol_by_application(client, stack, hh, "2022-09-05")
    assert done["outcome"] == "handed_back"
    await client.publish_event("household.income_changed", {
        "household_id": hh["household_id"], "monthly_income_fen": 300000, "reason": "employment",
        "effective_on": "2022-09-20"})

    async def paid_by_case() -> dict[str, Any] | None:
        e = await roster(stack, hh["household_id"])
        if e is None or e["review_case_id"] is None:
            return None
        c = await client.case_once_visible(e["review_case_id"])
        return c if c is not None and any(t["stage"] == "period_paid" for t in c.get("timeline", [])) else None

    case = await wait_for(paid_by_case, timeout=40)
    stages = [t["stage"] for t in case["timeline"] if t["stage"]]  # (payments have no stage)
    assert stages[:4] == ["opened", "review_opened", "review_gradual_exit", "period_paid"], stages
    gradual = next(t for t in case["timeline"] if t["stage"] == "review_gradual_exit")
    # Ningxia 「不少于6个月、不超过18个月」 (seed 002) by the household's situation; the national pack's
    # local-practice step: 6 months + 6 per special member; the 2010 child is a minor: 6 + 6 x 1 = 12
    assert "12 months of gradual exit at 105000 fen/month" in gradual["note"]
    # paid for 2022-10 at the level by its case (the months of the gradual exit; the exit itself then
    # waits while Ningxia's epidemic flag is in force, seed 002: time-skipping tests show the rest)
    rows = await client.ledger(idempotency_key=f"dibao:{hh['household_id']}:2022-10")
    assert [r["amount_fen"] for r in rows] == [105000] and rows[0]["case_id"] == case["case_id"]
    e = await roster(stack, hh["household_id"])
    assert e["managed_by"] == "case" and e["status"] == "active"  # its case carries it while the exit waits


async def test_a_severely_disabled_member_of_a_low_income_household_is_enrolled_alone(
        client: StackClient, stack: EmbeddedStack):
    hh = family(400000)  # 4,000 yuan for 3: above Ningxia's 1,950, so the household is not on dibao
    hh["members"][1]["flags"] = ["severely_disabled"]
    # seed 002 「对低保边缘家庭中的重残人员……参照“单人户”纳入低保」: a recognised 低保边缘 household (above the
    # 1.5x low-income line, so only its recognition makes it marginal)
    hh["categories"] = ["marginal"]
    await client.register(hh)
    applicant = hh["members"][1]["person_id"]
    r = await client.http.post("/api/applications", headers=bearer("clerk", region=XIXIA), json={
        "person_id": applicant, "region_code": XIXIA, "kind": "dibao", "consent": True,
        "details": {"incident_date": "2022-09-05", "single_person": True}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    await client.through_enrolment_duties(case_id, "2022-09-05")

    async def awaiting() -> dict[str, Any] | None:
        c = await client.case_once_visible(case_id)
        return c if c is not None and c["stage"] == "awaiting_approval" else None

    case = await wait_for(awaiting, timeout=40)
    assert "single-person inclusion" in case["timeline"][-1]["note"]
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json={"decision": "approve", "amount_fen": 65000},
                               headers=bearer("county_approver", region="6401", subject="county-li"))
    assert r.status_code == 200, r.text
    done = await client.closed_case(applicant, timeout=40)
    assert done["outcome"] == "handed_back" and [p["amount_fen"] for p in done["payments"]] == [65000]
    e = await roster(stack, hh["household_id"])
    assert e["single_person"] and e["level_fen"] == 65000


async def test_rural_dibao_paid_quarterly_is_paid_in_the_first_month_of_the_quarter(
        client: StackClient, stack: EmbeddedStack):
    region = "640121"  # 永宁县: this test's own cycle
    hh = family(30000, size=2, region=region, urban=False)
    line = {"household": hh, "enrolled_from": "2022-07", "paid_through": "2022-09", "next_review": "2023-01",
            "rural_quarterly": True}
    r = await client.http.post("/api/enrolments/import", content=json.dumps(line).encode(),
                               headers=bearer("county_approver", region=region))
    assert r.status_code == 200, r.text
    level = 2 * 46000 - 30000  # Ningxia rural standard 5,520 yuan a year = 460 yuan a month (seed 002)
    assert (await roster(stack, hh["household_id"]))["level_fen"] == level
    oct_ = await run_cycle(client, stack, "2022-10", region=region)  # the quarter's first month (seed 003)
    assert oct_["on_roll"] == 1 and oct_["roll_fen"] == 3 * level
    nov = await run_cycle(client, stack, "2022-11", region=region)
    assert nov["on_roll"] == 0
    rows = await client.ledger(household_id=hh["household_id"])
    assert [(r["idempotency_key"], r["amount_fen"]) for r in rows] == [(f"dibao:{hh['household_id']}:2022-10",
                                                                        3 * level)]
    assert (await roster(stack, hh["household_id"]))["paid_through"] == "2022-12"


async def test_doudi_import_and_doudi_cycle_from_the_command_line(client: StackClient, stack: EmbeddedStack,
                                                                 tmp_path):
    import asyncio
    import os
    import sys

    region = "640122"  # 贺兰县: this test's own cycle
    good = [family(90000, region=region) for _ in range(3)]
    path = tmp_path / "households.ndjson"
    path.write_text("\n".join(json.dumps({"household": h, "enrolled_from": "2022-07", "paid_through": "2022-10"})
                              for h in good) + "\n", encoding="utf-8")
    env = {**os.environ, "DOUDI_API_URL": stack.api_url,
           "DOUDI_TOKEN": issue_token("cli-county", "county_approver", region=region)}
    doudi = str(Path(sys.executable).parent / "doudi")

    async def cli(*argv: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(doudi, *argv, env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    code, out = await cli("import", str(path))
    assert code == 0 and "3 households: 3 enrolled" in out, out
    code, out = await cli("import", str(path))  # again: nothing new
    assert code == 0 and "0 enrolled, 3 already enrolled" in out, out
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps({"household": {**good[0], "region_code": "640199"}, "enrolled_from": "2022-7"}) + "\n")
    code, out = await cli("import", str(bad))
    assert code == 1 and "line 1: enrolled_from" in out, out
    code, out = await cli("cycle", "start", region, "2022-11")
    assert code == 0 and "cycle-640122-2022-11" in out and "on_roll" in out, out
    rows = await db(stack, "SELECT count(*) AS n FROM payment.ledger WHERE household_id = ANY($1::text[])"
                    " AND idempotency_key LIKE '%:2022-11'", [h["household_id"] for h in good])
    assert rows[0]["n"] == 3


async def test_a_household_whose_benefit_ended_can_be_enrolled_again(client: StackClient, stack: EmbeddedStack):
    hh = family(90000)
    first = await enrol_by_application(client, stack, hh, "2022-09-05")
    await db(stack, "UPDATE intake.enrolments SET status = 'terminated' WHERE household_id = $1", hh["household_id"])
    r = await client.http.post("/api/applications", headers=bearer("clerk", region=XIXIA), json={
        "person_id": hh["members"][0]["person_id"], "region_code": XIXIA, "kind": "dibao", "consent": True,
        "details": {"incident_date": "2022-12-01"}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    assert case_id != first["case_id"]
    await client.through_enrolment_duties(case_id, "2022-12-01")

    async def awaiting() -> dict[str, Any] | None:
        c = await client.case_once_visible(case_id)
        return c if c is not None and c["stage"] == "awaiting_approval" else None

    await wait_for(awaiting, timeout=40)
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json={"decision": "approve", "amount_fen": 105000},
                               headers=bearer("county_approver", region="6401", subject="county-li"))
    assert r.status_code == 200, r.text

    async def re_enrolled() -> asyncpg.Record | None:
        e = await roster(stack, hh["household_id"])
        return e if e["enrolment_id"] == case_id and e["managed_by"] == "cycle" else None

    e = await wait_for(re_enrolled, timeout=40)
    assert (e["status"], e["enrolled_from"], e["paid_through"]) == ("active", "2022-12", "2022-12")
    rows = await client.ledger(idempotency_key=f"dibao:{hh['household_id']}:2022-12")
    assert [(r["amount_fen"], r["case_id"]) for r in rows] == [(105000, case_id)]
