"""Township reserve funds (乡镇临时救助备用金) against the real embedded PostgreSQL, NATS and Temporal.

Seed 000 (Xinjiang): temporary assistance a township approves is paid first from its reserve; when the
reserve runs short the township applies and the county's civil-affairs and finance departments
replenish it. The payment service's HTTP routes are called directly (the front door forwards
``/api/reserves`` to them); the activity logic is called through its service layer with a pool of our
own, as a workflow's activity would.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.embedded import EmbeddedStack
from services.payment import ledger, recovery, reserves
from services.payment.ledger import DisbursementConflict
from services.payment.recovery import RecoveryRejected
from shared.contracts.activities import (
    COUNTY_FUND,
    TOWNSHIP_RESERVE,
    Disbursement,
    DisbursementRequest,
    RecoveryRequest,
    account,
)
from shared.infra.db import create_pool, unit_of_work
from shared.infra.temporal import connect_temporal
from tests.support import StackClient, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

URUMQI_TIANSHAN = "650102"      # 乌鲁木齐市天山区 (seed 000: Xinjiang)
URUMQI_SAYBAGH = "650103"       # 沙依巴克区, another county
AMOUNT = 180_000                # 1,800 yuan: under the 2,000-yuan township limit of seed 000


def bearer(role: str, region: str = "", subject: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {official_token(subject or f'test-{role}-{region}', role, region=region)}"}


FINANCE = bearer("finance", URUMQI_TIANSHAN)
COUNTY_APPROVER = bearer("county_approver", URUMQI_TIANSHAN)


@pytest.fixture(scope="module")
async def payment_http(stack: EmbeddedStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.ports.payment}", timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
async def pool(stack: EmbeddedStack) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(stack.database_url, schema="payment", min_size=1, max_size=60)
    yield p
    await p.close()


def payment(township: str, *, amount: int = AMOUNT, case_id: str | None = None) -> DisbursementRequest:
    case_id = case_id or f"em-test-{uuid.uuid4().hex[:16]}"
    return DisbursementRequest(
        idempotency_key=f"{case_id}:1", case_id=case_id, pathway="emergency_relief",
        person_id=national_id(township[:6]), region_code=township, amount_fen=amount,
        account=account(TOWNSHIP_RESERVE, township), measure="temporary_assistance",
        cause_event_id=f"evt-{uuid.uuid4()}")


async def reserve_row(pool: asyncpg.Pool, township: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM reserve_accounts WHERE township_code = $1", township)


async def assert_ledger_matches_balance(pool: asyncpg.Pool, township: str) -> int:
    """balance = sum(reserve credits) - sum(disbursements) on the reserve's account, and never negative."""
    async with pool.acquire() as conn:
        balance = await conn.fetchval("SELECT balance_fen FROM reserve_accounts WHERE township_code = $1", township)
        sums = dict(await conn.fetch(
            "SELECT kind, sum(amount_fen) FROM ledger WHERE account = $1 GROUP BY kind",
            account(TOWNSHIP_RESERVE, township)))
    assert balance >= 0
    assert balance == sums.get("reserve_credit", 0) - sums.get("disbursement", 0), (balance, sums)
    return balance


async def open_requests(pool: asyncpg.Pool, township: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT * FROM replenishment_requests WHERE township_code = $1 AND status = 'open'", township)


async def test_fifty_concurrent_payments_on_a_reserve_for_thirty_then_the_county_replenishes(
        pool: asyncpg.Pool, payment_http: httpx.AsyncClient, client: StackClient):
    township = URUMQI_TIANSHAN + "001"
    # the county approves a reserve of 30 payments for the quarter's allocation (a funding stands on it) ...
    r = await payment_http.put(f"/api/reserves/{township}", headers=FINANCE,
                               json={"threshold_fen": 0, "target_fen": 30 * AMOUNT})
    assert r.status_code == 200, r.text
    assert r.json()["created"] is True
    r = await payment_http.post(f"/api/reserves/{township}/credits", headers=FINANCE, json={
        "amount_fen": 30 * AMOUNT, "idempotency_key": f"alloc-{township}", "reason": "2022 Q3 allocation"})
    assert r.status_code == 200, r.text
    assert r.json()["reserve"]["balance_fen"] == 30 * AMOUNT
    # ... and then when it asks for more, and the size replenishments bring it back to
    r = await payment_http.put(f"/api/reserves/{township}", headers=FINANCE,
                               json={"threshold_fen": 900_000, "target_fen": 1_800_000})
    assert r.status_code == 200 and r.json()["reserve"]["open_request"] is None, r.text

    # 50 payments at once, each on its own connection: the row lock lets exactly 30 through
    requests = [payment(township) for _ in range(50)]
    lowest: list[int] = []
    stop = asyncio.Event()

    async def watch_balance() -> None:
        while not stop.is_set():
            lowest.append((await reserve_row(pool, township))["balance_fen"])
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch_balance())
    results: list[Disbursement] = await asyncio.gather(*(ledger.disburse(pool, q) for q in requests))
    stop.set()
    await watcher
    assert min(lowest) >= 0

    paid = [d for d in results if d.status == "paid"]
    waiting = [d for d in results if d.status == "waiting_for_reserve"]
    assert (len(paid), len(waiting)) == (30, 20)
    assert all(d.paid_at is None and not d.duplicate for d in waiting)
    assert all(d.paid_at is not None for d in paid)
    assert await assert_ledger_matches_balance(pool, township) == 0

    # one open request, asking for the 20 waiting payments and the way back to the target
    [request] = await open_requests(pool, township)
    assert {d.replenishment_request_id for d in waiting} == {request["request_id"]}
    assert request["amount_fen"] >= 20 * AMOUNT
    assert request["amount_fen"] == 1_800_000 + 20 * AMOUNT
    waiting_keys = {d.idempotency_key for d in waiting}
    assert await client.ledger(idempotency_key=next(iter(waiting_keys))) == []   # nothing for a waiting one

    r = await payment_http.get(f"/api/reserves/{township}", headers=bearer("township_approver", township))
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["balance_fen"] == 0 and detail["waiting_count"] == 20 and detail["waiting_fen"] == 20 * AMOUNT
    assert detail["open_request"]["request_id"] == request["request_id"]
    assert {w["idempotency_key"] for w in detail["waiting"]} == waiting_keys
    assert sum(m["amount_fen"] for m in detail["movements"] if m["direction"] == "out") == 30 * AMOUNT

    # the county approves what was asked: credited with a ledger row, in the same transaction
    decision_url = f"/api/reserves/{township}/replenishments/{request['request_id']}/decision"
    # a county approver may refuse a request but not credit money: that is the county finance department's
    r = await payment_http.post(decision_url, headers=COUNTY_APPROVER,
                                json={"approve": True, "reason": "county civil affairs and finance agree"})
    assert r.status_code == 403, r.text
    # more than the township asked for is no approval of its request
    r = await payment_http.post(decision_url, headers=FINANCE, json={
        "approve": True, "amount_fen": request["amount_fen"] + 1, "reason": "more than asked"})
    assert r.status_code == 409 and "amount_fen" in r.text, r.text
    r = await payment_http.post(decision_url, headers=FINANCE,
                                json={"approve": True, "reason": "county civil affairs and finance agree"})
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["request"]["status"] == "approved"
    assert decided["request"]["approved_amount_fen"] == request["amount_fen"]
    assert decided["movement"]["kind"] == "reserve_credit"
    assert decided["movement"]["idempotency_key"] == f"replenish:{request['request_id']}"
    assert decided["reserve"]["balance_fen"] == request["amount_fen"]
    assert decided["reserve"]["open_request"] is None
    assert await assert_ledger_matches_balance(pool, township) == request["amount_fen"]

    # every waiting case's workflow was signalled (these test cases have none: noted, not an error)
    async with pool.acquire() as conn:
        waits = await conn.fetch("SELECT * FROM reserve_waits WHERE township_code = $1", township)
    assert {w["idempotency_key"] for w in waits} == waiting_keys
    assert all(w["signalled_at"] is not None for w in waits)
    assert {w["last_signal_error"] for w in waits} == {"workflow not found"}

    # the workflows retry with the same keys: all 20 pay
    retried = await asyncio.gather(*(ledger.disburse(pool, q) for q in requests
                                     if q.idempotency_key in waiting_keys))
    assert [d.status for d in retried] == ["paid"] * 20
    assert not any(d.duplicate for d in retried)
    assert await assert_ledger_matches_balance(pool, township) == 1_800_000   # back at its target
    assert await open_requests(pool, township) == []
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM reserve_waits WHERE township_code = $1", township) == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM ledger WHERE account = $1 AND kind = 'disbursement'",
            account(TOWNSHIP_RESERVE, township)) == 50

    # deciding it again is a conflict, and changes nothing
    r = await payment_http.post(decision_url, headers=FINANCE, json={"approve": True, "reason": "again"})
    assert r.status_code == 409, r.text
    assert await assert_ledger_matches_balance(pool, township) == 1_800_000

    # the same disbursement again is the same payment, no new row
    again = await ledger.disburse(pool, requests[0])
    assert again.duplicate and again.status == "paid"
    assert again.payment_id == results[0].payment_id
    assert len(await client.ledger(idempotency_key=requests[0].idempotency_key)) == 1
    assert await assert_ledger_matches_balance(pool, township) == 1_800_000

    # each payment was announced once on the bus
    case_ids = {q.case_id for q in requests}

    async def announced() -> int | None:
        events = [json.loads(m.data) for m in await client.fetch_stream("doudi.payment.disbursed", timeout=1.0)]
        mine = [e["data"] for e in events if e["data"]["case_id"] in case_ids]
        return len(mine) if len(mine) >= 50 else None

    assert await wait_for(announced, timeout=30) == 50


async def test_an_unconfigured_reserve_waits_asks_for_the_shortfall_and_a_credit_signals_the_waiting(
        pool: asyncpg.Pool, payment_http: httpx.AsyncClient):
    township = URUMQI_TIANSHAN + "002"
    assert await reserve_row(pool, township) is None
    first, second = payment(township), payment(township, amount=120_000)

    a = await ledger.disburse(pool, first)          # the reserve is created empty on first use
    b = await ledger.disburse(pool, second)
    assert a.status == b.status == "waiting_for_reserve"
    assert a.replenishment_request_id == b.replenishment_request_id
    [request] = await open_requests(pool, township)
    assert request["amount_fen"] == AMOUNT + 120_000   # threshold and target 0: exactly the shortfall
    assert (await ledger.disburse(pool, first)).status == "waiting_for_reserve"   # still one wait, one request
    [same] = await open_requests(pool, township)
    assert same["amount_fen"] == AMOUNT + 120_000

    # a direct funding stands on the reserve's approved size: target 0 admits none
    r = await payment_http.post(f"/api/reserves/{township}/credits", headers=FINANCE, json={
        "amount_fen": 200_000, "idempotency_key": f"fund-{township}", "reason": "emergency top-up"})
    assert r.status_code == 409 and "target_fen" in r.text and "补充申请" in r.text, r.text
    r = await payment_http.put(f"/api/reserves/{township}", headers=FINANCE,
                               json={"threshold_fen": 0, "target_fen": 200_000})
    assert r.status_code == 200, r.text

    # finance funds the reserve directly: the waits are signalled after the commit
    r = await payment_http.post(f"/api/reserves/{township}/credits", headers=FINANCE, json={
        "amount_fen": 200_000, "idempotency_key": f"fund-{township}", "reason": "emergency top-up"})
    assert r.status_code == 200, r.text
    assert r.json()["duplicate"] is False and r.json()["reserve"]["balance_fen"] == 200_000
    r = await payment_http.get(f"/api/reserves/{township}", headers=FINANCE)
    waiting = r.json()["waiting"]
    assert {w["idempotency_key"] for w in waiting} == {first.idempotency_key, second.idempotency_key}
    assert all(w["signalled_at"] for w in waiting)

    # the same credit again is the same credit
    r = await payment_http.post(f"/api/reserves/{township}/credits", headers=FINANCE, json={
        "amount_fen": 200_000, "idempotency_key": f"fund-{township}", "reason": "emergency top-up"})
    assert r.status_code == 200 and r.json()["duplicate"] is True
    assert r.json()["reserve"]["balance_fen"] == 200_000
    r = await payment_http.post(f"/api/reserves/{township}/credits", headers=FINANCE, json={
        "amount_fen": 1, "idempotency_key": f"fund-{township}", "reason": "a different credit"})
    assert r.status_code == 409

    # 200,000 covers the first retry but not the second, which waits again, un-signalled
    assert (await ledger.disburse(pool, first)).status == "paid"
    again = await ledger.disburse(pool, second)
    assert again.status == "waiting_for_reserve"
    async with pool.acquire() as conn:
        wait = await conn.fetchrow("SELECT * FROM reserve_waits WHERE idempotency_key = $1", second.idempotency_key)
    assert wait["signalled_at"] is None
    [request] = await open_requests(pool, township)
    # back to the target and the waiting payment: 200,000 - (200,000 - 180,000) + 120,000
    assert request["amount_fen"] == 200_000 - 20_000 + 120_000
    assert again.replenishment_request_id == request["request_id"]

    # the county grants less than asked: credited, and the township asks again for the rest
    r = await payment_http.post(f"/api/reserves/{township}/replenishments/{request['request_id']}/decision",
                                headers=FINANCE, json={"approve": True, "amount_fen": 50_000, "reason": "part"})
    assert r.status_code == 200, r.text
    assert r.json()["request"]["approved_amount_fen"] == 50_000
    [rest] = await open_requests(pool, township)
    # balance 20,000 + 50,000 = 70,000: 200,000 - 70,000 + 120,000
    assert rest["request_id"] != request["request_id"] and rest["amount_fen"] == 250_000
    r = await payment_http.post(f"/api/reserves/{township}/replenishments/{rest['request_id']}/decision",
                                headers=COUNTY_APPROVER, json={"approve": False, "reason": "budget spent"})
    assert r.status_code == 200 and r.json()["request"]["status"] == "rejected"
    assert r.json()["movement"] is None
    assert await open_requests(pool, township) == []
    assert await assert_ledger_matches_balance(pool, township) == 70_000


async def test_the_county_fund_pays_without_a_balance(pool: asyncpg.Pool, client: StackClient):
    req = payment(URUMQI_TIANSHAN)
    req = req.model_copy(update={"account": account(COUNTY_FUND, URUMQI_TIANSHAN)})
    paid = await ledger.disburse(pool, req)
    assert paid.status == "paid" and paid.replenishment_request_id is None
    assert [r["kind"] for r in await client.ledger(case_id=req.case_id)] == ["disbursement"]
    with pytest.raises(DisbursementConflict):
        await ledger.disburse(pool, req.model_copy(update={"amount_fen": AMOUNT + 1}))


async def test_reserve_routes_check_role_jurisdiction_and_bodies(payment_http: httpx.AsyncClient):
    township = URUMQI_TIANSHAN + "003"
    credit = {"amount_fen": 100_000, "idempotency_key": f"k-{township}", "reason": "allocation"}
    r = await payment_http.put(f"/api/reserves/{township}", headers=FINANCE,
                               json={"threshold_fen": 0, "target_fen": 100_000})
    assert r.status_code == 200 and r.json()["created"] is True
    r = await payment_http.put(f"/api/reserves/{township}", headers=FINANCE,
                               json={"threshold_fen": 0, "target_fen": 100_000})
    assert r.status_code == 200 and r.json()["created"] is False   # idempotent

    r = await payment_http.post(f"/api/reserves/{township}/credits", json=credit)
    assert r.status_code == 401
    r = await payment_http.post(f"/api/reserves/{township}/credits", headers=bearer("auditor"), json=credit)
    assert r.status_code == 403
    r = await payment_http.post(f"/api/reserves/{township}/credits", headers=bearer("finance", URUMQI_SAYBAGH),
                                json=credit)
    assert r.status_code == 403
    r = await payment_http.post(f"/api/reserves/{township}/credits",
                                headers=bearer("finance", township), json=credit)
    assert r.status_code == 403   # a township's own officer does not fund it: the county does
    r = await payment_http.put(f"/api/reserves/{township}", headers=bearer("county_approver", URUMQI_TIANSHAN),
                               json={"threshold_fen": 0, "target_fen": 0})
    assert r.status_code == 403

    r = await payment_http.post(f"/api/reserves/{township}/credits", headers=FINANCE,
                                json={**credit, "amount_fen": 1800.5})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "amount_fen"]
    r = await payment_http.put(f"/api/reserves/{township}", headers=FINANCE,
                               json={"threshold_fen": 10, "target_fen": 5})
    assert r.status_code == 422 and "target_fen" in r.text
    r = await payment_http.get("/api/reserves/65010", headers=FINANCE)
    assert r.status_code == 422

    unknown = URUMQI_TIANSHAN + "999"
    r = await payment_http.get(f"/api/reserves/{unknown}", headers=FINANCE)
    assert r.status_code == 404
    r = await payment_http.post(f"/api/reserves/{unknown}/credits", headers=FINANCE, json=credit)
    assert r.status_code == 404
    r = await payment_http.post(f"/api/reserves/{township}/replenishments/rr-nope/decision",
                                headers=FINANCE, json={"approve": True, "reason": "x"})
    assert r.status_code == 404

    # reads are scoped to the caller's jurisdiction
    r = await payment_http.get(f"/api/reserves/{township}", headers=bearer("auditor", URUMQI_SAYBAGH))
    assert r.status_code == 403
    r = await payment_http.get("/api/reserves", headers=bearer("clerk", URUMQI_TIANSHAN))
    assert r.status_code == 403
    mine = (await payment_http.get("/api/reserves", headers=bearer("auditor", URUMQI_TIANSHAN))).json()["items"]
    assert township in {i["township_code"] for i in mine}
    assert all(i["township_code"].startswith(URUMQI_TIANSHAN) for i in mine)
    theirs = (await payment_http.get("/api/reserves", headers=bearer("finance", URUMQI_SAYBAGH))).json()["items"]
    assert township not in {i["township_code"] for i in theirs}

    r = await payment_http.post(f"/api/reserves/{township}/credits", headers=bearer("admin"), json=credit)
    assert r.status_code == 200 and r.json()["reserve"]["balance_fen"] == 100_000


async def test_a_recovery_claim_opens_once_with_a_ledger_row_and_an_event(pool: asyncpg.Pool, client: StackClient):
    paid_req = payment(URUMQI_TIANSHAN).model_copy(update={"account": account(COUNTY_FUND, URUMQI_TIANSHAN)})
    paid = await ledger.disburse(pool, paid_req)
    claim_req = RecoveryRequest(
        case_id=paid_req.case_id, pathway=paid_req.pathway, person_id=paid_req.person_id,
        region_code=paid_req.region_code, amount_fen=AMOUNT, original_payment_id=paid.payment_id,
        reason="verification found income above the standard", decided_by="test-county-approver")

    claim = await recovery.open_recovery(pool, claim_req)
    assert not claim.duplicate and claim.amount_fen == AMOUNT
    again = await recovery.open_recovery(pool, claim_req)
    assert again.duplicate and again.claim_id == claim.claim_id and again.opened_at == claim.opened_at
    with pytest.raises(RecoveryRejected):
        await recovery.open_recovery(pool, claim_req.model_copy(update={"amount_fen": AMOUNT - 1}))
    with pytest.raises(RecoveryRejected):   # more than was paid, on a case that has no claim yet
        other = payment(URUMQI_TIANSHAN).model_copy(update={"account": account(COUNTY_FUND, URUMQI_TIANSHAN)})
        other_paid = await ledger.disburse(pool, other)
        await recovery.open_recovery(pool, claim_req.model_copy(update={
            "case_id": other.case_id, "person_id": other.person_id, "original_payment_id": other_paid.payment_id,
            "amount_fen": AMOUNT + 1}))

    rows = await client.ledger(case_id=paid_req.case_id)
    assert [(r["kind"], r["amount_fen"]) for r in rows] == [("disbursement", AMOUNT), ("recovery_claim", AMOUNT)]
    assert rows[1]["idempotency_key"] == f"recovery:{paid_req.case_id}"
    assert rows[1]["reference"] == paid.payment_id and rows[1]["account"] == paid_req.account
    async with pool.acquire() as conn:
        claims = await conn.fetch("SELECT * FROM recovery_claims WHERE case_id = $1", paid_req.case_id)
    assert [(c["claim_id"], c["status"], c["amount_fen"]) for c in claims] == [(claim.claim_id, "open", AMOUNT)]

    async def opened() -> list[dict[str, Any]] | None:
        events = [json.loads(m.data) for m in await client.fetch_stream("doudi.payment.recovery_opened",
                                                                        timeout=1.0)]
        mine = [e for e in events if e["data"]["case_id"] == paid_req.case_id]
        return mine or None

    [event] = await wait_for(opened, timeout=30)
    assert event["type"] == "doudi.payment.recovery_opened.v1"
    assert event["data"]["claim_id"] == claim.claim_id
    assert event["data"]["payment_id"] == paid.payment_id
    assert event["data"]["amount_fen"] == AMOUNT
    assert event["data"]["person_id"] == paid_req.person_id
    assert event["data"]["pathway"] == "emergency_relief"
    assert event["data"]["cause_event_id"] == paid_req.cause_event_id


async def test_a_credit_whose_signal_never_went_out_is_signalled_by_the_sweep(pool: asyncpg.Pool,
                                                                               stack: EmbeddedStack):
    township = URUMQI_TIANSHAN + "004"
    req = payment(township)
    waiting = await ledger.disburse(pool, req)
    assert waiting.status == "waiting_for_reserve"
    # the credit commits, then the process stops before it could signal
    async with unit_of_work(pool) as conn:
        locked = await reserves.lock_reserve(conn, township, create=False)
        assert locked is not None
        await reserves.credit(conn, locked[0], idempotency_key=f"fund:crash-{township}", amount_fen=AMOUNT,
                              reference=None, note="allocation", recorded_by="test")
    temporal = await connect_temporal(stack.temporal_address, "doudi")
    sweep = reserves.ReserveService(pool, temporal)

    async def signalled() -> asyncpg.Record | None:
        await sweep.resignal_once()
        async with pool.acquire() as conn:
            wait = await conn.fetchrow("SELECT * FROM reserve_waits WHERE idempotency_key = $1",
                                       waiting.idempotency_key)
        return wait if wait["signalled_at"] is not None else None

    wait = await wait_for(signalled, timeout=30)
    assert wait["last_signal_error"] == "workflow not found"   # this test case has no workflow
    await sweep.resignal_once()                                 # ... so it is not signalled again
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT signal_attempts FROM reserve_waits WHERE idempotency_key = $1",
                                   waiting.idempotency_key) == wait["signal_attempts"]
    assert (await ledger.disburse(pool, req)).status == "paid"
