"""Operations console, administration: stalled cases, retry and reset, dead letters, jurisdiction."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
import pytest

from deploy.embedded import EmbeddedStack
from shared.auth import issue_token
from tests.support import StackClient, household, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

YINCHUAN = "640104"


def bearer(role: str, region: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(f'ops-{role}-{uuid.uuid4().hex[:4]}', role, region=region)}"}


ADMIN = bearer("admin")


async def quarantined(client: StackClient) -> str:
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=["dibao"]))
    await client.publish("health.quarantined", {"person_id": pid, "region_code": YINCHUAN,
                                                "quarantined_on": "2022-08-10"})
    return pid


async def case_of(client: StackClient, pid: str, stage: str, timeout: float = 90) -> dict:
    async def probe():
        items = await client.cases(person_id=pid)
        return items[0] if items and items[0]["stage"] == stage else None
    return await wait_for(probe, timeout=timeout, interval=0.5)


async def audit_actions(stack: EmbeddedStack, case_id: str) -> list[str]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return [r["action"] for r in await conn.fetch(
            "SELECT action FROM operations.audit_log WHERE case_id = $1 ORDER BY seq", case_id)]
    finally:
        await conn.close()


async def test_a_payment_provider_down_beyond_its_retries_is_stalled_and_an_admin_retry_pays_once(
        client: StackClient, stack: EmbeddedStack, faults: Path):
    (faults / "payment.provider_down").touch()
    try:
        pid = await quarantined(client)
        case = await case_of(client, pid, "payment_failed")  # after the bounded retries (~30 s)
        assert "payment_failed" in case["flags"] and case["payments"] == []
        swept = (await client.http.post("/api/admin/sweep", headers=ADMIN)).json()
        assert case["case_id"] in swept["stalled"]
        stalled = (await client.http.get("/api/admin/stalled", headers=bearer("auditor"))).json()
        assert any(s["case_id"] == case["case_id"] and "payment" in s["stalled_reason"] for s in stalled)
        assert (await client.cases(person_id=pid, stalled=True))[0]["case_id"] == case["case_id"]
    finally:
        (faults / "payment.provider_down").unlink(missing_ok=True)  # the provider recovers

    r = await client.http.post(f"/api/cases/{case['case_id']}/replay", headers=bearer("clerk"),
                               json={"mode": "retry", "reason": "x"})
    assert r.status_code == 403
    r = await client.http.post(f"/api/cases/{case['case_id']}/replay", headers=ADMIN,
                               json={"mode": "retry", "reason": "bank interface restored"})
    assert r.status_code == 200, r.text
    done = await client.closed_case(pid, timeout=60)
    assert done["outcome"] == "paid" and not done["stalled"]
    assert [r["amount_fen"] for r in await client.ledger(case_id=case["case_id"])] == [195000]
    assert await audit_actions(stack, case["case_id"]) == ["replay.retry"]


async def test_a_reset_after_a_simulated_bug_fix_completes_the_case(client: StackClient, stack: EmbeddedStack,
                                                                   faults: Path):
    (faults / "payment.bug_conflict").touch()  # a deployed bug: the payment step fails the workflow
    try:
        pid = await quarantined(client)
        case = await case_of(client, pid, "approved", timeout=30)

        async def failed():
            desc = await stack_client_temporal(stack).get_workflow_handle(case["case_id"]).describe()
            return desc.status.name == "FAILED" or None
        await wait_for(failed, timeout=30)
    finally:
        (faults / "payment.bug_conflict").unlink(missing_ok=True)  # the fix is deployed
    r = await client.http.post(f"/api/cases/{case['case_id']}/replay", headers=ADMIN,
                               json={"mode": "reset", "reason": "fix for the payment bug deployed"})
    assert r.status_code == 200, r.text
    assert "reset to event" in r.json()["detail"]
    done = await client.closed_case(pid, timeout=60)
    assert done["outcome"] == "paid"
    assert [r["amount_fen"] for r in await client.ledger(case_id=case["case_id"])] == [195000]
    assert "replay.reset" in await audit_actions(stack, case["case_id"])


_temporal_clients: dict[str, object] = {}


def stack_client_temporal(stack: EmbeddedStack):
    return _temporal_clients[stack.temporal_address]


@pytest.fixture(autouse=True)
async def _temporal(stack: EmbeddedStack):
    from shared.infra.temporal import connect_temporal

    if stack.temporal_address not in _temporal_clients:
        _temporal_clients[stack.temporal_address] = await connect_temporal(stack.temporal_address, "doudi")


async def test_an_officer_of_another_township_reaches_no_case_route(client: StackClient):
    pid = await quarantined(client)
    case = await client.closed_case(pid)
    other = bearer("township_approver", region="640105001")
    cid = case["case_id"]
    for method, path, body in (
        ("GET", f"/api/cases/{cid}", None),
        ("POST", f"/api/cases/{cid}/decisions", {"decision": "approve", "amount_fen": 100}),
        ("POST", f"/api/cases/{cid}/documents", {"documents": [{"kind": "explanation", "reference": "x"}]}),
        ("POST", f"/api/cases/{cid}/escalate", {"reason": "x"}),
        ("POST", f"/api/cases/{cid}/replay", {"mode": "retry", "reason": "x"}),
        ("GET", f"/api/cases/{cid}/documents", None),
    ):
        r = await client.http.request(method, path, json=body, headers=other)
        assert r.status_code in (403, 404), (method, path, r.status_code, r.text)


async def test_a_corrected_dead_letter_redelivered_opens_its_case(client: StackClient):
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=["dibao"]))
    bad = pid[:17] + ("0" if pid[17] != "0" else "1")
    event_id = await client.publish("health.quarantined", {"person_id": bad, "region_code": YINCHUAN,
                                                           "quarantined_on": "2022-08-10"})

    async def dead_letter():
        items = (await client.http.get("/api/admin/dlq", headers=ADMIN)).json()
        return next((d for d in items if d["event_id"] == event_id), None)
    letter = await wait_for(dead_letter, timeout=20, interval=0.5)
    assert "check character" in letter["reason"] and not letter["redelivered"]

    corrected = json.loads(letter["body"])
    corrected["data"]["person_id"] = pid
    # four eyes by registered person: both administrators are in the officials registry
    asker = {"Authorization": f"Bearer {official_token(f'ops-admin-a-{uuid.uuid4().hex[:4]}', 'admin')}"}
    r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/redeliver", headers=asker,
                               json={"reason": "ID corrected with the health commission", "corrected": corrected})
    assert r.status_code == 200 and r.json()["status"] == "awaiting_second_official", r.text
    # the person changed: a second official approves (four eyes) before it is published
    second = official_token(f"ops-admin-b-{uuid.uuid4().hex[:4]}", "admin")
    r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/approve", headers={
                               "Authorization": f"Bearer {second}"},
                               json={"reason": "checked with the health commission"})
    assert r.status_code == 200, r.text
    done = await client.closed_case(pid)
    assert done["outcome"] == "paid" and done["cause_event_id"] == event_id
    again = (await client.http.get("/api/admin/dlq", headers=ADMIN)).json()
    assert next(d for d in again if d["seq"] == letter["seq"])["redelivered"]


async def test_the_sweep_is_one_long_lived_workflow_not_a_schedule_run_a_minute(stack: EmbeddedStack):
    from temporalio.client import WorkflowExecutionStatus
    from temporalio.service import RPCError

    from workflows.stalled_sweep import StalledCaseSweepLoopWorkflow

    client = stack_client_temporal(stack)
    loop = client.get_workflow_handle("doudi-stalled-sweep-loop")
    desc = await loop.describe()
    assert desc.workflow_type == "StalledCaseSweepLoop" and desc.status == WorkflowExecutionStatus.RUNNING

    async def swept() -> bool:
        return await loop.query(StalledCaseSweepLoopWorkflow.last_sweep) is not None
    await wait_for(swept, timeout=60)
    with pytest.raises(RPCError):  # the per-minute Schedule is gone
        await client.get_schedule_handle("doudi-stalled-sweep").describe()


async def test_the_admin_cli_lists_stalled_cases_and_dead_letters(stack: EmbeddedStack):
    import asyncio
    import os
    import sys

    env = {**os.environ, "DOUDI_API_URL": stack.api_url, "DOUDI_ENV": "test", "COLUMNS": "200"}
    for args in (["admin", "list-stalled", "--sweep"], ["admin", "dlq", "list"]):
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "deploy.cli", *args, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()
        assert ("stalled case(s)" in out.decode()) or ("dead letter(s)" in out.decode())
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "deploy.cli", "admin", "replay", "em-nope",
                                                "--retry", "--reason", "x", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 1 and "404" in out.decode()


async def test_the_front_door_documents_its_api_and_its_bus_offline(stack: EmbeddedStack):
    import re

    import httpx

    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
        page = await http.get("/docs")
        assert page.status_code == 200 and not re.search(r"https?://", page.text)
        for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
            assert asset in page.text and (await http.get(asset)).status_code == 200
        assert (await http.get("/openapi.json")).status_code == 200
        bus = await http.get("/asyncapi")
        assert bus.status_code == 200 and "doudi.events." in bus.text and "<script" not in bus.text
        assert (await http.get("/asyncapi.json")).json()["asyncapi"].startswith("3.")
