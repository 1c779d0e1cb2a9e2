"""Conformance rows end to end: every row of ``tests/conformance/*.yaml`` with an ``e2e`` block runs
through the front door and the bus on the real embedded stack (register the household, publish the
event or submit the application, let the case or the cycle or the batch run, read the ledger) and the
ledger must hold the row's expected fen, computed by hand from the seed in the row.

The expected amount is never what the case proposes: an approver asked to decide approves the case's own
proposal, and the test compares what reached the ledger with the row. A row whose e2e block is
``pending: "#13 item N"`` runs as a strict expected failure (it flips to XPASS when the fix lands).
"""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest

from deploy.embedded import EmbeddedStack
from shared.auth import issue_token
from tests.conformance.table import Row, params, rows
from tests.support import StackClient, national_id, wait_for
from tests.townships import fresh_township

pytestmark = pytest.mark.stack

E2E = [r for r in rows() if r.e2e is not None]


def bearer(role: str, region: str = "", subject: str | None = None) -> dict[str, str]:
    token = issue_token(subject or f"conf-{role}-{uuid.uuid4().hex[:6]}", role, region=region)
    return {"Authorization": f"Bearer {token}"}


async def county_approver(client: StackClient, region: str) -> dict[str, str]:
    """A county approver registered in the officials registry (a decision on money is signed with the
    registered person id), the way a province-wide administrator registers one."""
    subject = f"conf-county-{region}-{uuid.uuid4().hex[:6]}"
    r = await client.http.put(f"/api/officials/{subject}", headers=bearer("admin"), json={
        "person_id": national_id(region), "name": "审批人", "roles": ["county_approver"], "jurisdiction": region})
    assert r.status_code == 200, r.text
    return bearer("county_approver", region=region, subject=subject)


async def db(stack: EmbeddedStack, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


# ---- the row's household ----------------------------------------------------------------------------------


def household_of(row: Row, region: str, *, births: list[str] | None = None) -> dict[str, Any]:
    """The registry household the row describes: its size, area, categories and income."""
    facts = row.profile or {}
    h = row.household or {}
    size = facts.get("household_size", h.get("size", 1))
    births = births or ["1980-01-01", "1982-01-01", "2010-01-01", "1950-05-05"]
    extra = {"remote": True} if h.get("remote") else {}  # XPCC 边远 (30 km or more, border regiments)
    return {
        **extra,
        "household_id": f"hh-conf-{uuid.uuid4().hex[:10]}",
        "region_code": region,
        "urban": facts.get("urban", h.get("urban", True)),
        "categories": list(facts.get("categories", [])),
        "monthly_income_fen": facts.get("monthly_income_fen", h.get("monthly_income_fen", 0)),
        "members": [{"person_id": national_id(region[:6], born=births[i % len(births)]), "name": f"成员{i}",
                     "relation": "head" if i == 0 else "member",
                     "birth_date": births[i % len(births)], "flags": []} for i in range(size)],
    }


def head(h: dict[str, Any]) -> str:
    return h["members"][0]["person_id"]


async def ledger_amounts(client: StackClient, **where: Any) -> list[int]:
    return sorted(r["amount_fen"] for r in await client.ledger(**where))


def assert_paid(row: Row, amounts: list[int]) -> None:
    want = [row.expected_fen] if row.expected_fen else []
    assert amounts == want, f"{row.id}: the ledger holds {amounts}, the seed says {want} ({row.seed}: 「{row.quote}」)"


# ---- a case to its end ------------------------------------------------------------------------------------


async def settle(client: StackClient, row: Row, case_id: str, region: str) -> dict[str, Any]:
    """Wait for the case to close; where the seed leaves the amount to the county, a caseworker submits
    the row's assessed amount (its ``requested_fen``); where it waits for a human decision, approve the
    case's OWN proposal (never the row's figure) as the county."""
    decided = assessed = tried = False
    seen: dict[str, Any] = {}

    async def probe() -> dict[str, Any] | None:
        nonlocal decided, assessed, tried
        r = await client.http.get(f"/api/cases/{case_id}", headers=client.clerk)
        if r.status_code != 200:
            return None
        case = seen["case"] = r.json()
        if case["status"] == "closed" and (case["outcome"] != "paid" or case["payments"]):
            return case
        if case["payments"] and case["stage"] == "awaiting_documents":
            return case  # 先行救助: paid first, the documents follow
        if case["stage"] == "awaiting_assessment" and not assessed:
            assert row.requested_fen is not None, f"{row.id}: the case needs an assessed amount, the row has none"
            a = await client.http.post(f"/api/cases/{case_id}/assessment", headers=bearer("clerk", region=region[:6]),
                                       json={"amount_fen": row.requested_fen, "reason": "核定: conformance row"})
            assert a.status_code == 200, a.text
            assessed = True
        if case["stage"] in ("awaiting_approval", "awaiting_county_decision") and not decided:
            proposal = case.get("approved_amount_fen")
            assert proposal is not None, f"{row.id}: the case waits for a decision without a proposal: {case}"
            tries = row.e2e.approver_tries_fen if row.e2e else None
            if tries is not None and not tried:
                # an approver deciding an amount the policy does not allow (below a floor, other than a fixed
                # amount) is refused; were it taken, the ledger would show it and the row fail
                d = await client.http.post(f"/api/cases/{case_id}/decisions", json={
                    "decision": "approve", "amount_fen": tries, "reason": "conformance row: not the policy's amount"},
                    headers=await county_approver(client, region[:6]))
                tried = True
                decided = d.status_code == 200
                assert d.status_code in (200, 409, 422), d.text
                return None
            d = await client.http.post(f"/api/cases/{case_id}/decisions", json={
                "decision": "approve", "amount_fen": proposal, "reason": "conformance row"},
                headers=await county_approver(client, region[:6]))
            assert d.status_code == 200, d.text
            decided = True
        return None

    try:
        return await wait_for(probe, timeout=90, interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{row.id}: the case did not close: {json.dumps(seen.get('case'), ensure_ascii=False)}"
                             ) from exc


async def case_of(client: StackClient, person_id: str, timeout: float = 60) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        items = await client.cases(person_id=person_id)
        return items[0] if items else None
    return await wait_for(probe, timeout=timeout)


async def screened(stack: EmbeddedStack, event_id: str) -> asyncpg.Record | None:
    found = await db(stack, "SELECT * FROM intake.screenings WHERE event_id = $1", event_id)
    return found[0] if found else None


# ---- scenarios, one per way a row reaches the ledger ------------------------------------------------------


async def event_quarantine(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    h = household_of(row, row.region)
    await client.register(h)
    await client.publish("health.quarantined", {"person_id": head(h), "region_code": row.region,
                                                "quarantined_on": row.business_date.isoformat()})
    case = await client.closed_case(head(h), timeout=60)
    return await ledger_amounts(client, case_id=case["case_id"])


async def event_covid(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    h = household_of(row, row.region)
    await client.register(h)
    await client.publish("health.covid_diagnosed", {"person_id": head(h), "region_code": row.region,
                                                    "diagnosed_on": row.business_date.isoformat()})
    case = await client.closed_case(head(h), timeout=60)
    if not row.expected_fen:
        assert case["outcome"] != "paid" and case["payments"] == [], case
    return await ledger_amounts(client, case_id=case["case_id"])


async def event_quarantine_two_members(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    """Two members of one household quarantined in the same week: one incident of the household."""
    h = household_of(row, row.region)
    await client.register(h)
    second = row.business_date + timedelta(days=2)
    events = [await client.publish("health.quarantined", {"person_id": m["person_id"], "region_code": row.region,
                                                          "quarantined_on": on.isoformat()})
              for m, on in zip(h["members"][:2], (row.business_date, second), strict=True)]

    async def both_settled() -> bool:
        # each event either pointed at a case or was screened out; every case it opened has closed
        causes = await db(stack, "SELECT c.event_id, k.status FROM intake.case_causes c JOIN intake.cases k"
                                 " USING (case_id) WHERE c.event_id = ANY($1::text[])", events)
        screens = await db(stack, "SELECT event_id FROM intake.screenings WHERE event_id = ANY($1::text[])", events)
        seen = {r["event_id"] for r in causes} | {r["event_id"] for r in screens}
        return seen == set(events) and all(r["status"] == "closed" for r in causes)

    await wait_for(both_settled, timeout=90, interval=0.2)
    return await ledger_amounts(client, household_id=h["household_id"])


async def event_disaster(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    h = household_of(row, row.region)
    await client.register(h)
    await client.publish("disaster.affected", {"person_id": head(h), "region_code": row.region,
                                               "disaster_id": f"conf-{uuid.uuid4().hex[:8]}",
                                               "occurred_on": row.business_date.isoformat()})
    case = await settle(client, row, (await case_of(client, head(h)))["case_id"], row.region)
    return await ledger_amounts(client, case_id=case["case_id"])


async def application_job_loss(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    h = household_of(row, row.region)
    await client.register(h)
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": head(h), "region_code": row.region, "kind": "job_loss", "consent": True,
        "details": {"incident_date": row.business_date.isoformat(),
                    "unemployment_insured": row.profile["unemployment_insured"]}})  # type: ignore[index]
    assert r.status_code == 202, r.text
    case = await settle(client, row, r.json()["case_id"], row.region)
    return await ledger_amounts(client, case_id=case["case_id"])


async def application_temporary_assistance(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    h = household_of(row, row.region)
    await client.register(h)
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": head(h), "region_code": row.region, "kind": "temporary_assistance", "consent": True,
        "details": {"incident_date": row.business_date.isoformat(), "requested_amount_fen": row.requested_fen,
                    "household_type": "expenditure_household", "reason": "大病自付费用高"}})
    assert r.status_code == 202, r.text
    case = await settle(client, row, r.json()["case_id"], row.region)
    return await ledger_amounts(client, case_id=case["case_id"])


async def event_medical_self_pay(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    h = household_of(row, row.region)
    await client.register(h)
    event_id = await client.publish_event("medical.self_pay_reported", {
        "person_id": head(h), "region_code": row.region, "year": row.business_date.year,
        "self_pay_fen": row.profile["annual_medical_self_pay_fen"]},  # type: ignore[index]
        time=None if row.e2e.reported_now else f"{row.business_date.isoformat()}T10:00:00+08:00")  # type: ignore[union-attr]
    if not row.expected_fen:
        found = await wait_for(lambda: screened(stack, event_id), timeout=30)
        assert found is not None and await client.cases(person_id=head(h)) == []
        return await ledger_amounts(client, person_id=head(h))
    case = await case_of(client, head(h))
    if case["stage"] == "outreach":  # 主动发现: invited to apply, then the application joins the case
        r = await client.http.post("/api/applications", headers=client.clerk, json={
            "person_id": head(h), "region_code": row.region, "kind": "medical", "consent": True,
            "details": {"incident_date": row.business_date.isoformat(),
                        "annual_medical_self_pay_fen": row.profile["annual_medical_self_pay_fen"]}})  # type: ignore[index]
        assert r.status_code == 202, r.text
    case = await settle(client, row, case["case_id"], row.region)
    return await ledger_amounts(client, case_id=case["case_id"])


async def event_graduate(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    h = household_of(row, row.region)
    await client.register(h)
    await client.publish_event("education.graduate_unemployed", {
        "person_id": head(h), "region_code": row.region, "graduated_on": "2022-07-01"},
        time=f"{row.business_date.isoformat()}T10:00:00+08:00")
    case = await case_of(client, head(h))
    r = await client.http.post("/api/applications", headers=bearer("clerk", region=row.region[:4]), json={
        "person_id": head(h), "region_code": row.region, "kind": "graduate", "consent": True, "details": {}})
    assert r.status_code == 202, r.text
    assert r.json()["case_id"] == case["case_id"]  # the application joins the outreach case
    case = await settle(client, row, case["case_id"], row.region)
    return await ledger_amounts(client, case_id=case["case_id"])


async def application_emergency_township(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    """Under the township's limit the township approves and pays at once from its reserve (先行救助)."""
    township = fresh_township(row.region)
    finance = bearer("finance", region=row.region)
    r = await client.http.put(f"/api/reserves/{township}", json={"threshold_fen": 0, "target_fen": 1_000_000},
                              headers=finance)   # the approved size the funding below stands on
    assert r.status_code in (200, 201), r.text
    r = await client.http.post(f"/api/reserves/{township}/credits", headers=finance, json={
        "amount_fen": 1_000_000, "idempotency_key": f"conf-{township}", "reason": "initial allocation"})
    assert r.status_code in (200, 201), r.text
    h = household_of(row, row.region)
    await client.register(h)
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": head(h), "region_code": township, "kind": "emergency", "consent": True,
        "details": {"incident_date": row.business_date.isoformat(), "requested_amount_fen": row.requested_fen,
                    "household_type": "emergency_household", "reason": "家中失火"}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]

    async def decided_or_paid() -> dict[str, Any] | None:
        r = await client.http.get(f"/api/cases/{case_id}", headers=client.clerk)
        if r.status_code != 200:
            return None  # not in the read model yet
        case = r.json()
        return case if case["payments"] or case["stage"] == "awaiting_county_decision" else None

    case = await wait_for(decided_or_paid, timeout=60)
    assert case["stage"] != "awaiting_county_decision", f"{row.id}: sent to the county, the seed says the township"
    rows_ = await client.ledger(case_id=case_id)
    assert {r["account"] for r in rows_} == {f"township-reserve:{township}"}, rows_
    return sorted(r["amount_fen"] for r in rows_)


async def batch_one_time_subsidy(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    """A region-wide batch (per person, 每人) over a county of the row's own."""
    region = row.e2e.region  # type: ignore[union-attr]
    h = household_of(row, region)
    await client.register(h)
    finance = bearer("finance")
    r = await client.http.post("/api/batches", headers=finance, json={
        "measure": "one_time_living_subsidy", "region_prefix": region,
        "snapshot_on": (row.e2e.snapshot_on or row.business_date).isoformat(),  # type: ignore[union-attr]
        "chunk_size": 100})
    assert r.status_code == 202, r.text
    batch_id = r.json()["batch_id"]

    async def completed() -> dict[str, Any] | None:
        b = await client.http.get(f"/api/batches/{batch_id}", headers=finance)
        return b.json() if b.status_code == 200 and b.json()["status"] == "completed" else None

    await wait_for(completed, timeout=120, interval=0.2)
    persons = {m["person_id"] for m in h["members"]}
    paid = [r for r in await client.ledger(case_id=batch_id) if r["person_id"] in persons]
    assert {r["person_id"] for r in paid} == persons  # every member, once each
    return [sum(r["amount_fen"] for r in paid)]  # the household's total, as the row computes it


async def dibao_application(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    """A dibao application: the economic check, the county's confirmation of the policy's level, the
    first month paid under ``dibao:<household>:<period>``."""
    region = row.e2e.region or row.region  # type: ignore[union-attr]
    h = household_of(row, region)
    await client.register(h)
    r = await client.http.post("/api/applications", headers=bearer("clerk", region=region), json={
        "person_id": head(h), "region_code": region, "kind": "dibao", "consent": True,
        "details": {"incident_date": row.business_date.isoformat()}})
    assert r.status_code == 202, r.text
    await client.through_enrolment_duties(r.json()["case_id"], row.business_date.isoformat())
    await settle(client, row, r.json()["case_id"], region)
    period = row.business_date.strftime("%Y-%m")
    return await ledger_amounts(client, idempotency_key=f"dibao:{h['household_id']}:{period}")


async def import_and_cycle(row: Row, client: StackClient, stack: EmbeddedStack) -> list[int]:
    """An existing recipient household imported to the roster, then its region's monthly cycle pays it."""
    e2e = row.e2e
    assert e2e is not None and e2e.region and e2e.period
    h = household_of(row, e2e.region, births=["1950-05-05"] if e2e.elderly else None)
    before = (date.fromisoformat(f"{e2e.period}-01") - timedelta(days=1)).strftime("%Y-%m")
    line = {"household": h, "enrolled_from": "2022-06", "paid_through": before}
    county = bearer("county_approver", region=e2e.region)
    r = await client.http.post("/api/enrolments/import", content=json.dumps(line).encode(), headers=county)
    assert r.status_code == 200, r.text
    r = await client.http.post("/api/enrolments/cycles", headers=county,
                               json={"region_prefix": e2e.region, "period": e2e.period})
    assert r.status_code == 202, r.text
    cycle_id = r.json()["cycle_id"]
    await wait_for(lambda: db(stack, "SELECT 1 FROM payment.period_cycles WHERE cycle_id = $1"
                                     " AND finished_at IS NOT NULL", cycle_id), timeout=90, interval=0.2)
    return await ledger_amounts(client, idempotency_key=f"dibao:{h['household_id']}:{e2e.period}")


SCENARIOS = {f.__name__: f for f in (
    event_quarantine, event_covid, event_quarantine_two_members, event_disaster, application_job_loss,
    application_temporary_assistance, event_medical_self_pay, event_graduate, application_emergency_township,
    batch_one_time_subsidy, dibao_application, import_and_cycle)}


def test_at_least_12_rows_run_end_to_end_and_every_scenario_exists() -> None:
    assert len([r for r in E2E if not (r.e2e and r.e2e.pending)]) >= 12
    assert {r.e2e.scenario for r in E2E} <= set(SCENARIOS)  # type: ignore[union-attr]
    # a cycle or a batch is one per region and occasion: two rows sharing one would see one run
    regional = [(r.e2e.region, r.e2e.period) for r in E2E  # type: ignore[union-attr]
                if r.e2e.scenario in ("import_and_cycle", "batch_one_time_subsidy")]  # type: ignore[union-attr]
    assert len(regional) == len(set(regional)), regional


@pytest.mark.parametrize("row", params(E2E, pending_of=lambda r: r.e2e.pending))
async def test_row_end_to_end(row: Row, client: StackClient, stack: EmbeddedStack) -> None:
    scenario = SCENARIOS[row.e2e.scenario]  # type: ignore[union-attr]
    assert_paid(row, await scenario(row, client, stack))
