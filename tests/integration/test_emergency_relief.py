"""Emergency relief in full on the real stack: township authority and reserve funds (Xinjiang, seed 000),
the county's decision over HTTP, documents, verification, recovery. Timers are covered on the
time-skipping server in tests/unit/test_emergency_relief_workflow.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from deploy.embedded import EmbeddedStack
from tests.support import StackClient, national_id, official_token, wait_for
from tests.townships import fresh_township

pytestmark = pytest.mark.stack

URUMQI = "650102"  # 乌鲁木齐市天山区


def bearer(role: str, region: str = "", subject: str | None = None, person_id: str | None = None) -> dict[str, str]:
    token = official_token(subject or f"test-{role}-{uuid.uuid4().hex[:6]}", role, region=region, person_id=person_id)
    return {"Authorization": f"Bearer {token}"}


def new_township() -> str:
    """A township code of its own per test, so reserves do not interfere."""
    return fresh_township(URUMQI)


async def fund_reserve(client: StackClient, township: str, amount_fen: int) -> None:
    finance = bearer("finance", region=URUMQI)
    r = await client.http.put(f"/api/reserves/{township}", json={"threshold_fen": 0, "target_fen": amount_fen},
                              headers=finance)   # the approved size the funding stands on
    assert r.status_code in (200, 201), r.text
    r = await client.http.post(f"/api/reserves/{township}/credits", headers=finance, json={
        "amount_fen": amount_fen, "idempotency_key": f"initial-{township}", "reason": "initial allocation"})
    assert r.status_code in (200, 201), r.text


async def reserve(client: StackClient, township: str) -> dict[str, Any]:
    r = await client.http.get(f"/api/reserves/{township}", headers=bearer("auditor"))
    assert r.status_code == 200, r.text
    return r.json()


async def apply_emergency(client: StackClient, pid: str, region: str, amount_fen: int,
                          clerk: dict[str, str] | None = None) -> str:
    r = await client.http.post("/api/applications", headers=clerk or client.clerk, json={
        "person_id": pid, "region_code": region, "kind": "emergency", "consent": True,
        "details": {"incident_date": "2022-08-10", "requested_amount_fen": amount_fen,
                    "household_type": "emergency_household", "reason": "家中失火"}})
    assert r.status_code == 202, r.text
    return r.json()["case_id"]


async def stage_of(client: StackClient, case_id: str, stage: str, timeout: float = 30,
                   paid: bool = False) -> dict[str, Any]:
    """The case once the read model shows it at ``stage`` (and, with ``paid``, its payment: the payment
    service's event and the case's stage reach the read model on their own streams, in either order)."""
    async def probe() -> dict[str, Any] | None:
        r = await client.http.get(f"/api/cases/{case_id}", headers=client.clerk)
        if r.status_code != 200:
            return None
        case = r.json()
        return case if case["stage"] == stage and (case["payments"] or not paid) else None
    return await wait_for(probe, timeout=timeout)


async def decisions(stack: EmbeddedStack, case_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch("SELECT * FROM approval.decisions WHERE case_id = $1 ORDER BY decided_at", case_id)
    finally:
        await conn.close()


async def test_xinjiang_1800_yuan_is_approved_by_the_township_and_paid_from_its_reserve(
        client: StackClient, stack: EmbeddedStack):
    township = new_township()
    await fund_reserve(client, township, 1_000_000)
    pid = national_id(URUMQI)
    case_id = await apply_emergency(client, pid, township, 180000)

    case = await stage_of(client, case_id, "awaiting_documents", paid=True)  # paid first, documents later
    assert [p["amount_fen"] for p in case["payments"]] == [180000]
    assert case["deadlines"] and case["deadlines"][0]["kind"] == "documents"
    [row] = await client.ledger(case_id=case_id)
    assert (row["amount_fen"], row["account"]) == (180000, f"township-reserve:{township}")
    assert (await reserve(client, township))["balance_fen"] == 1_000_000 - 180000
    steps = [(d["step"], d["decision"], d["tier"]) for d in await decisions(stack, case_id)]
    assert steps == [("township", "approved", "township")]  # no county step


async def test_xinjiang_2500_yuan_waits_for_the_county_and_is_paid_after_its_decision(
        client: StackClient, stack: EmbeddedStack):
    township = new_township()
    await fund_reserve(client, township, 1_000_000)
    pid = national_id(URUMQI)
    clerk_name = f"clerk-{uuid.uuid4().hex[:6]}"
    case_id = await apply_emergency(client, pid, township, 250000,
                                    clerk=bearer("clerk", region=URUMQI, subject=clerk_name))
    case = await stage_of(client, case_id, "awaiting_county_decision")
    assert case["payments"] == [] and case["deadlines"][0]["kind"] == "county_decision"
    assert await client.ledger(case_id=case_id) == []

    body = {"decision": "approve", "amount_fen": 250000, "reason": "fire destroyed the home"}
    # the clerk who registered it cannot approve it, even with an approver's role
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json=body,
                               headers=bearer("county_approver", region=URUMQI, subject=clerk_name))
    assert r.status_code == 409 and "separation of duties" in r.json()["detail"]
    # a township approver is not the county
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json=body,
                               headers=bearer("township_approver", region=township))
    assert r.status_code == 409
    # a county approver of another county: the case does not exist for them (the front door answers)
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json=body,
                               headers=bearer("county_approver", region="650103"))
    assert r.status_code == 404
    # a clerk has no right to decide at all
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json=body, headers=client.clerk)
    assert r.status_code == 403
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json={"decision": "approve"},
                               headers=bearer("county_approver", region=URUMQI))
    assert r.status_code == 422

    r = await client.http.post(f"/api/cases/{case_id}/decisions", json=body,
                               headers=bearer("county_approver", region=URUMQI, subject="county-zhang"))
    assert r.status_code == 200, r.text
    case = await stage_of(client, case_id, "awaiting_documents", paid=True)
    assert [p["amount_fen"] for p in case["payments"]] == [250000]
    [row] = await client.ledger(case_id=case_id)
    assert (row["amount_fen"], row["account"]) == (250000, f"county-fund:{URUMQI}")
    steps = [(d["step"], d["decision"], d["decided_by"]) for d in await decisions(stack, case_id)]
    assert steps == [("township", "needs_county", "pending"), ("county", "approved", "county-zhang")]
    r = await client.http.post(f"/api/cases/{case_id}/decisions", json=body,
                               headers=bearer("county_approver", region=URUMQI))
    assert r.status_code == 409  # decided already: nothing changes


async def test_fifty_concurrent_payments_against_a_reserve_that_covers_thirty(client: StackClient,
                                                                             stack: EmbeddedStack):
    township = new_township()
    await fund_reserve(client, township, 30 * 180000)
    people = [national_id(URUMQI) for _ in range(50)]
    case_ids = await asyncio.gather(*(apply_emergency(client, pid, township, 180000) for pid in people))
    assert len(set(case_ids)) == 50

    async def settled() -> dict[str, Any] | None:
        state = await reserve(client, township)
        paid = await client.ledger(account=f"township-reserve:{township}", kind="disbursement")
        waiting = state.get("waiting") or state.get("waiting_payments") or []
        return state if len(paid) == 30 and len(waiting) == 20 else None

    state = await wait_for(settled, timeout=90)
    assert state["balance_fen"] == 0
    request = state["open_request"]
    assert request and request["amount_fen"] >= 20 * 180000

    r = await client.http.post(f"/api/reserves/{township}/replenishments/{request['request_id']}/decision",
                               headers=bearer("finance", region=URUMQI),
                               json={"approve": True, "reason": "county top-up"})
    assert r.status_code == 200, r.text

    async def all_paid() -> bool:
        return len(await client.ledger(account=f"township-reserve:{township}", kind="disbursement")) == 50
    await wait_for(all_paid, timeout=120)

    rows = await client.ledger(account=f"township-reserve:{township}", kind="disbursement")
    assert sorted(r["case_id"] for r in rows) == sorted(case_ids)  # each case exactly once
    credits = await client.ledger(account=f"township-reserve:{township}", kind="reserve_credit")
    after = await reserve(client, township)
    debits = sum(r["amount_fen"] for r in rows)
    assert after["balance_fen"] >= 0
    assert after["balance_fen"] == sum(r["amount_fen"] for r in credits) - debits


async def test_documents_arrive_verification_confirms_and_the_case_closes(client: StackClient):
    township = new_township()
    await fund_reserve(client, township, 1_000_000)
    pid = national_id(URUMQI)
    case_id = await apply_emergency(client, pid, township, 120000)
    await stage_of(client, case_id, "awaiting_documents")

    r = await client.http.post(f"/api/cases/{case_id}/documents", headers=bearer("clerk", region="6501"), json={
        "documents": [{"kind": "explanation", "reference": "说明-1"}], "note": "情况说明"})
    assert r.status_code in (200, 201, 202), r.text
    case = await stage_of(client, case_id, "closed", timeout=60)
    assert case["outcome"] == "confirmed" and "verified eligible" in case["reason"]
    assert [p["amount_fen"] for p in case["payments"]] == [120000]


@pytest.mark.parametrize("action", ["recover", "good_faith_correction"])
async def test_found_ineligible_opens_recovery_or_records_a_good_faith_correction(client: StackClient,
                                                                                 stack: EmbeddedStack, action: str):
    township = new_township()
    await fund_reserve(client, township, 1_000_000)
    pid = national_id(URUMQI)
    # 急难 is verified against the sudden event (seeds 003/004), not income or assets: what fails is a
    # case whose documents attest no event (only the ID card was filed, no explanation 后补齐说明)
    case_id = await apply_emergency(client, pid, township, 150000)
    await stage_of(client, case_id, "awaiting_documents")
    r = await client.http.post(f"/api/cases/{case_id}/documents", headers=bearer("clerk", region="6501"),
                               json={"documents": [{"kind": "id_card", "reference": "x"}]})
    assert r.status_code in (200, 201, 202), r.text
    case = await stage_of(client, case_id, "found_ineligible", timeout=60)
    assert "found_ineligible" in case["flags"]

    r = await client.http.post(f"/api/cases/{case_id}/decisions", headers=bearer("township_approver", region=township,
                                                                                 subject="official-li"),
                               json={"decision": action, "reason": "wages were not declared"})
    assert r.status_code == 200, r.text
    case = await stage_of(client, case_id, "closed", timeout=30)
    if action == "recover":
        assert case["outcome"] == "recovery_opened"
        claims = await client.ledger(case_id=case_id, kind="recovery_claim")
        assert [c["amount_fen"] for c in claims] == [150000]

        async def recovery_event():
            msgs = await client.fetch_stream("doudi.payment.recovery_opened", timeout=0.5)
            mine = [json.loads(m.data)["data"] for m in msgs if json.loads(m.data)["data"]["case_id"] == case_id]
            return mine or None
        [event] = await wait_for(recovery_event, timeout=15)
        assert event["amount_fen"] == 150000 and event["person_id"] == pid
    else:
        assert case["outcome"] == "corrected_in_good_faith"
        assert "official-li" in case["reason"] and "容错纠错" in case["reason"]
        assert await client.ledger(case_id=case_id, kind="recovery_claim") == []
    steps = [(d["step"], d["decision"], d["decided_by"]) for d in await decisions(stack, case_id)]
    assert ("after_verification", action, "official-li") in steps


async def test_application_without_consent_is_refused_naming_the_field(client: StackClient):
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": national_id(URUMQI), "region_code": URUMQI, "kind": "emergency", "consent": False})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "consent"]
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": national_id(URUMQI), "region_code": URUMQI, "kind": "emergency"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "consent"]


async def test_the_same_application_twice_is_one_case(client: StackClient):
    pid = national_id(URUMQI)
    body = {"application_id": f"app-{uuid.uuid4().hex[:10]}", "person_id": pid, "region_code": URUMQI,
            "kind": "emergency", "consent": True, "details": {"requested_amount_fen": 50000}}
    first = await client.http.post("/api/applications", headers=client.clerk, json=body)
    second = await client.http.post("/api/applications", headers=client.clerk, json=body)
    assert first.status_code == second.status_code == 202
    assert first.json()["case_id"] == second.json()["case_id"]
