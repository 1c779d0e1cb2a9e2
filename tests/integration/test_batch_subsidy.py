"""Batch subsidies against the real embedded stack (PostgreSQL, NATS JetStream, Temporal, every service).

* 10,000 recipients (Xinjiang one-time living subsidy, at least 300 yuan, seed 000): the payment service
  dies mid-load and twice mid-batch (SIGKILL, and a crash right after a chunk's commit); the supervisor
  restarts it, and every recipient is paid exactly once.
* A price-linkage event for a prefecture pays every recipient of its counties and no one outside, at the
  pack's minimum where the event's amount is below it (Xinjiang: 20 yuan).
* Ningxia's one-time subsidy: 3 installments of 200 yuan; a recipient who dies between two installments
  gets no later one.

The registry is seeded with COPY straight into intake's tables (set-up only); everything else goes
through the front door, the bus and Temporal like in production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from deploy.embedded import EmbeddedStack
from shared.auth import issue_token
from shared.infra.temporal import data_converter
from tests.bench.cohort_seed import seed_cohort
from tests.support import StackClient, register_official, wait_for
from workflows.batch_subsidy.inputs import batch_id_for, price_linkage_occasion

pytestmark = pytest.mark.stack

TACHENG = ["654201", "654202", "654221", "654223", "654224", "654225", "654226"]  # 塔城地区 (Xinjiang)
CHANGJI = ["652301", "652302", "652323", "652324", "652301001"]                  # 昌吉州, a township too
OUTSIDE_CHANGJI = ["652701", "652801", "650106"]                                  # 博州, 巴州, 乌鲁木齐
ZHONGWEI = ["640502", "640521", "640522"]                                          # 中卫市 (Ningxia)


def bearer(role: str, region: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(f'test-{role}-{region}', role, region=region)}"}


FINANCE = bearer("finance")


async def _seed(stack: EmbeddedStack, **kw: Any):
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await seed_cohort(conn, **kw)
    finally:
        await conn.close()


async def _batch(client: StackClient, batch_id: str, headers: dict[str, str] = FINANCE) -> dict[str, Any]:
    r = await client.http.get(f"/api/batches/{batch_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _no_activity_pending(temporal: Client, workflow_id: str) -> bool:
    description = await temporal.get_workflow_handle(workflow_id).describe()
    return not description.raw_description.pending_activities


async def _until(client: StackClient, batch_id: str, predicate, timeout: float = 180.0) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await client.http.get(f"/api/batches/{batch_id}", headers=FINANCE)
        if r.status_code != 200:
            return None  # not registered yet (an event's batch), or the payment service is restarting
        b = r.json()
        return b if predicate(b) else None

    return await wait_for(probe, timeout=timeout, interval=0.05)


async def _ledger(stack: EmbeddedStack, batch_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch("SELECT * FROM payment.ledger WHERE case_id = $1", batch_id)
    finally:
        await conn.close()


async def test_a_batch_of_10000_killed_midway_pays_each_recipient_exactly_once(
        stack: EmbeddedStack, client: StackClient, faults: Path):
    seeded = await _seed(stack, regions=TACHENG, recipients=10_000, first_serial=1_000_000, tag="tacheng",
                         marginal=150, deceased=100, died_on=date(2022, 6, 1))
    payment = stack.procs["payment"]
    restarts = payment.restarts
    (faults / "payment.batch_load_midway").touch()     # dies half-way through the cohort's COPY
    (faults / "payment.batch_slow_chunks").touch()     # widen the window a kill lands in
    try:
        r = await client.http.post("/api/batches", headers=FINANCE, json={
            "measure": "one_time_living_subsidy", "region_prefix": "6542", "snapshot_on": "2022-07-01",
            "chunk_size": 250})
        assert r.status_code == 202, r.text
        batch_id = r.json()["batch_id"]
        again = await client.http.post("/api/batches", headers=FINANCE, json={
            "measure": "one_time_living_subsidy", "region_prefix": "6542", "snapshot_on": "2022-07-01",
            "chunk_size": 250})
        assert again.status_code == 202 and again.json()["batch_id"] == batch_id and not again.json()["created"]

        # the load crashed and was retried from scratch; then chunks are paid: kill the process mid-batch
        await _until(client, batch_id, lambda b: 0 < b["paid_count"] < 5_000, timeout=120)
        assert payment.restarts > restarts
        payment.signal(signal.SIGKILL)
        killed_at = (await _until(client, batch_id, lambda b: b["paid_count"] > 0, timeout=60))["paid_count"]
        # and once more, right after a chunk's commit, before Temporal hears of it
        (faults / "payment.batch_chunk_after_commit").touch()
        await _until(client, batch_id, lambda b: b["paid_count"] > killed_at + 500, timeout=120)
        (faults / "payment.batch_slow_chunks").unlink()
        done = await _until(client, batch_id, lambda b: b["status"] == "completed", timeout=180)
    finally:
        for name in ("payment.batch_load_midway", "payment.batch_slow_chunks", "payment.batch_chunk_after_commit"):
            (faults / name).unlink(missing_ok=True)
    assert payment.restarts >= restarts + 3

    rows = await _ledger(stack, batch_id)
    keys = [r["idempotency_key"] for r in rows]
    assert len(rows) == 10_000 == len(set(keys)) == len({r["person_id"] for r in rows})
    assert {r["person_id"] for r in rows} == set(seeded.eligible)
    assert not {r["person_id"] for r in rows} & set(seeded.ineligible)
    assert {r["amount_fen"] for r in rows} == {30000} and {r["installment"] for r in rows} == {1}
    assert all(r["account"] == f"county-fund:{r['region_code'][:6]}" and r["pathway"] == "batch_subsidy"
               and r["idempotency_key"] == f"batch:{batch_id}:{r['person_id']}:1" for r in rows)

    assert done["total"] == 10_000 and done["payable"] == 10_000 and done["expected_payments"] == 10_000
    assert done["paid_count"] == 10_000 and done["paid_fen"] == 10_000 * 30000 and done["percent"] == 100.0
    assert done["chunks_done"] == done["chunk_count"] == 40
    assert done["policy"]["pack_id"] == "xinjiang-2022-basic-living"
    assert done["installments"][0]["status"] == "paid"

    # progress events: one per chunk through the outbox; then every payment's own event by the bulk path
    conn = await asyncpg.connect(stack.database_url)
    try:
        progress = await conn.fetchval(
            "SELECT count(*) FROM payment.outbox WHERE subject = 'doudi.payment.batch_progress'"
            " AND payload->'data'->>'batch_id' = $1 AND payload->'data'->>'kind' = 'chunk'", batch_id)
    finally:
        await conn.close()
    assert progress == 40
    published = await _until(client, batch_id, lambda b: b["payment_events_published"] == 10_000, timeout=120)
    assert published["paid_count"] == 10_000


async def test_a_price_linkage_event_pays_the_prefectures_recipients_and_no_one_else(
        stack: EmbeddedStack, client: StackClient):
    inside = await _seed(stack, regions=CHANGJI, recipients=400, first_serial=2_000_000, tag="changji",
                         marginal=20, deceased=15, died_on=date(2022, 6, 20), rng_seed=1)
    outside = await _seed(stack, regions=OUTSIDE_CHANGJI, recipients=90, first_serial=2_100_000, tag="notchangji",
                          rng_seed=2)
    event_id = await client.publish("price.linkage_triggered",
                                    {"region_code": "6523", "month": "2022-07", "subsidy_fen_per_person": 1500})
    batch_id = batch_id_for("price_linkage", "6523", price_linkage_occasion("2022-07"))
    done = await _until(client, batch_id, lambda b: b["status"] == "completed", timeout=120)

    rows = await _ledger(stack, batch_id)
    paid = {r["person_id"] for r in rows}
    assert paid == set(inside.eligible) and len(rows) == 400
    assert not paid & set(outside.eligible) and not paid & set(inside.ineligible)
    assert all(r["region_code"].startswith("6523") for r in rows)
    assert {r["amount_fen"] for r in rows} == {2000} and {r["cause_event_id"] for r in rows} == {event_id}
    # 2,000 fen and not the event's 1,500: doudi computes the amount (no index in the event, so the pack's
    # minimum, seed 000 「最低标准…提高至 20元」); an amount carried by an event is never paid
    assert done["requested_amount_fen"] == 2000
    assert [a["amount_fen"] for a in done["amounts"]] == [2000]
    assert done["cause_event_id"] == event_id and done["month"] == "2022-07"

    # a second event for the same prefecture and month, and the same request by HTTP, are the same batch
    await client.publish("price.linkage_triggered",
                         {"region_code": "6523", "month": "2022-07", "subsidy_fen_per_person": 1500})
    body = {"measure": "price_linkage", "region_prefix": "6523", "snapshot_on": "2022-07-01",
            "amount_fen_per_person": 2000}
    r = await client.http.post("/api/batches", headers=FINANCE, json=body)
    assert r.status_code == 202 and r.json()["batch_id"] == batch_id and not r.json()["created"]
    r = await client.http.post("/api/batches", headers=FINANCE, json={**body, "amount_fen_per_person": 1800})
    assert r.status_code == 409 and "other parameters" in r.json()["detail"]
    r = await client.http.post("/api/batches", headers=FINANCE, json={**body, "region_prefix": "652301"})
    assert r.status_code == 409 and "paid twice" in r.json()["detail"]
    await client.settled("intake-price")  # the second event handled: it started nothing new
    assert len(await _ledger(stack, batch_id)) == 400

    # the CLI follows the batch with a progress bar (done already: it prints and exits)
    cli = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "deploy.cli", "batch", "status", batch_id],
        env={**os.environ, "DOUDI_API_URL": stack.api_url, "DOUDI_TOKEN": issue_token("cli", "finance"),
             "COLUMNS": "200"}, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "completed" in cli.stdout and "400 of 400 payments" in cli.stdout


async def test_ningxia_pays_three_installments_and_stops_who_died_in_between(
        stack: EmbeddedStack, client: StackClient):
    alive = await _seed(stack, regions=ZHONGWEI, recipients=120, first_serial=3_000_000, tag="zhongwei", rng_seed=3)
    died = await _seed(stack, regions=ZHONGWEI, recipients=0, first_serial=3_100_000, tag="zhongwei-d",
                       deceased=10, died_on=date(2022, 7, 15), rng_seed=4)
    r = await client.http.post("/api/batches", headers=FINANCE, json={
        "measure": "one_time_living_subsidy", "region_prefix": "6405", "snapshot_on": "2022-06-07"})
    assert r.status_code == 202, r.text
    batch_id = r.json()["batch_id"]
    done = await _until(client, batch_id, lambda b: b["status"] == "completed", timeout=120)

    rows = await _ledger(stack, batch_id)
    by_person: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        by_person.setdefault(row["person_id"], []).append((row["installment"], row["amount_fen"]))
    assert {p: sorted(v) for p, v in by_person.items() if p in alive.eligible} == {
        p: [(1, 20000), (2, 20000), (3, 20000)] for p in alive.eligible}
    # died 2022-07-15: paid June and July, stopped by the re-check for August
    assert {p: sorted(v) for p, v in by_person.items() if p in died.ineligible} == {
        p: [(1, 20000), (2, 20000)] for p in died.ineligible}
    assert [(i["sequence"], i["month"], i["due_at"][:10], i["paid_count"], i["stopped"])
            for i in done["installments"]] == [
        (1, "2022-06", "2022-06-01", 130, 0), (2, "2022-07", "2022-07-01", 130, 0),
        (3, "2022-08", "2022-08-01", 120, 10)]
    assert done["paid_fen"] == (130 + 130 + 120) * 20000 == done["expected_fen"]
    assert done["policy"]["pack_id"] == "ningxia-2022-20-measures"


async def test_batch_routes_authorise(client: StackClient):
    body = {"measure": "one_time_living_subsidy", "region_prefix": "6405", "snapshot_on": "2022-06-07"}
    r = await client.http.post("/api/batches", headers=bearer("clerk"), json=body)
    assert r.status_code == 403
    r = await client.http.post("/api/batches", headers=bearer("finance", "6401"), json=body)
    assert r.status_code == 403
    r = await client.http.post("/api/batches", headers=FINANCE, json={**body, "amount_fen_per_person": 50000})
    assert r.status_code == 422 and "fixes the amount" in r.json()["detail"]
    r = await client.http.post("/api/batches", headers=FINANCE, json={**body, "region_prefix": "6"})
    assert r.status_code == 422
    r = await client.http.get("/api/batches/batch-00000000000000000000", headers=FINANCE)
    assert r.status_code == 404
    r = await client.http.get("/api/batches", headers=bearer("auditor"))
    assert r.status_code == 200


async def test_pause_then_cancel_keeps_what_was_paid_and_pays_nothing_more(
        stack: EmbeddedStack, client: StackClient, faults: Path):
    await _seed(stack, regions=["654002", "654003", "654021"], recipients=3_000, first_serial=4_000_000, tag="ili",
                rng_seed=5)
    (faults / "payment.batch_slow_chunks").touch()
    try:
        r = await client.http.post("/api/batches", headers=FINANCE, json={
            "measure": "price_linkage", "region_prefix": "6540", "snapshot_on": "2022-09-01",
            "amount_fen_per_person": 2500, "chunk_size": 100})
        assert r.status_code == 202, r.text
        batch_id = r.json()["batch_id"]
        # a person set the amount: nothing pays until a second official approves (four eyes)
        assert r.json()["status"] == "awaiting_second_approval"
        r = await client.http.post(f"/api/batches/{batch_id}/approve", headers=FINANCE, json={"reason": "me again"})
        assert r.status_code == 409, r.text
        # four eyes by registered person: both finance officials are in the officials registry
        register_official("test-finance-", "finance")
        register_official("test-finance-65", "finance", "65")
        r = await client.http.post(f"/api/batches/{batch_id}/approve", headers=bearer("finance", "65"),
                                   json={"reason": "price authority notice checked"})
        assert r.status_code == 200, r.text
        await _until(client, batch_id, lambda b: b["paid_count"] > 0, timeout=60)
        r = await client.http.post(f"/api/batches/{batch_id}/pause", headers=bearer("auditor"), json={"reason": "x"})
        assert r.status_code == 403
        r = await client.http.post(f"/api/batches/{batch_id}/pause", headers=FINANCE,
                                   json={"reason": "county fund transfer pending"})
        assert r.status_code == 200, r.text
        paused = await _until(client, batch_id, lambda b: b["status"] == "paused", timeout=30)
        direct = await Client.connect(stack.temporal_address, namespace="doudi", data_converter=data_converter())
        # the chunks in flight have finished (the paused workflow has no activity left): nothing pays now
        await wait_for(lambda: _no_activity_pending(direct, batch_id), timeout=60)
        held = await _batch(client, batch_id)
        assert held["status"] == "paused" and held["paid_count"] < 3_000
        assert "county fund transfer pending" in paused["note"]
        # straight to Temporal with role admin in the payload and no signed principal: refused, still paused
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await direct.get_workflow_handle(batch_id).execute_update("control", {
                "action": "resume", "official": "mallory", "role": "admin", "region": "", "reason": "x"})
        assert "unsigned" in str(refused.value.cause), refused.value.cause
        assert (await _batch(client, batch_id))["status"] == "paused"
        r = await client.http.post(f"/api/batches/{batch_id}/cancel", headers=FINANCE,
                                   json={"reason": "the linkage notice was withdrawn"})
        assert r.status_code == 200, r.text
        done = await _until(client, batch_id, lambda b: b["status"] == "cancelled", timeout=30)
    finally:
        (faults / "payment.batch_slow_chunks").unlink(missing_ok=True)
    rows = await _ledger(stack, batch_id)
    assert len(rows) == done["paid_count"] == held["paid_count"] < 3_000
    assert "the linkage notice was withdrawn" in done["note"] and done["finished_at"]
    r = await client.http.post(f"/api/batches/{batch_id}/cancel", headers=FINANCE, json={"reason": "again"})
    assert r.status_code == 409
    listed = (await client.http.get("/api/batches", params={"status": "cancelled"}, headers=FINANCE)).json()
    assert batch_id in [b["batch_id"] for b in listed["items"]]
