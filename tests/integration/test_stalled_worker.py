"""A hung payment worker (its process SIGSTOPped) leaves a case "approved" while Temporal times its payment
out attempt after attempt: the stalled-case sweep reads the case's pending activities and puts it on the
attention list within 5 minutes, with "payment attempt N/6" (「支付第 N/6 次尝试」), the activity type and
the last failure; once the worker runs again (SIGCONT) the case is paid exactly once and leaves the list.

A private embedded stack (a test may stop one of its processes; the session's stack is everyone's), its
sweep every 5 seconds instead of every minute so that the test waits for Temporal's timeouts, not the
sweep's period.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from deploy.embedded import EmbeddedStack, Ports
from shared.contracts.sources import SOURCE_USERS
from tests.support import StackClient, household, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

YINCHUAN_URBAN = "640104"  # 银川市兴庆区 (a private stack: no other test's cases here)
ATTEMPT = re.compile(r"payment attempt (\d)/6 \(payment\.disburse\)")
ATTEMPT_ZH = re.compile(r"支付第 (\d)/6 次尝试（payment\.disburse）")
ON_THE_LIST_WITHIN = 300.0  # the bound: on the attention list within 5 minutes


@pytest.fixture
async def private_stack(tmp_path: Path) -> AsyncIterator[EmbeddedStack]:
    s = EmbeddedStack(tmp_path / "stack", Ports.free(), extra_env={
        "DOUDI_ENV": "test",
        "DOUDI_STALL_SWEEP_SECONDS": "5",
        "DOUDI_POLICY_LOCAL_DIR": str(Path(__file__).parents[1] / "fixtures" / "policy"),
    })
    stop = asyncio.Event()
    supervisor: asyncio.Task[None] | None = None
    try:
        await s.start()
        supervisor = asyncio.create_task(s.supervise(stop))  # restarts what dies, like `doudi up` (a stopped
        yield s                                                # process is alive: it stays stopped)
    finally:
        stop.set()
        if supervisor is not None:
            await supervisor
        if "payment" in s.procs:
            s.procs["payment"].signal(signal.SIGCONT)  # never leave a stopped process behind
        s.stop()


def auditor() -> dict[str, str]:
    return {"Authorization": f"Bearer {official_token('test-stall-auditor', 'auditor')}"}


async def attention_item(client: StackClient, case_id: str) -> dict[str, Any] | None:
    r = await client.http.get("/api/stats/attention", params={"limit": 500}, headers=auditor())
    assert r.status_code == 200, r.text
    return next((i for i in r.json()["items"] if i["case_id"] == case_id), None)


async def test_a_stopped_payment_worker_puts_the_case_on_the_attention_list_with_its_attempt_then_pays_once(
        private_stack: EmbeddedStack):
    stack = private_stack
    client = StackClient(stack.api_url, stack.admin_nats_url, stack.database_url,
                         sources={user: stack.nats_url_for(user) for user in SOURCE_USERS})
    try:
        pid = national_id(YINCHUAN_URBAN)
        body = household(pid, region=YINCHUAN_URBAN, categories=["dibao"])
        body["members"][0]["birth_date"] = f"{pid[6:10]}-{pid[10:12]}-{pid[12:14]}"  # the ID's own birth date
        await client.register(body)

        stack.procs["payment"].signal(signal.SIGSTOP)  # the payment service (and its worker) hangs
        published = time.monotonic()
        await client.publish("health.quarantined", {
            "person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"})

        async def opened() -> dict[str, Any] | None:
            cases = await client.cases(person_id=pid)
            return cases[0] if cases else None
        case_id = (await wait_for(opened, timeout=120))["case_id"]

        async def stalled_with_attempt() -> dict[str, Any] | None:
            item = await attention_item(client, case_id)
            return item if item and item["stalled_reason"] and ATTEMPT.search(item["stalled_reason"]) else None
        item = await wait_for(stalled_with_attempt, timeout=ON_THE_LIST_WITHIN, interval=2.0)
        on_the_list_s = time.monotonic() - published
        print(f"\non the attention list {on_the_list_s:.0f}s after the event: {item['stalled_reason']}")

        assert item["stalled"] and "stalled" in item["reasons"]
        assert item["status"] != "closed" and item["stage"] == "approved"  # what the read model alone shows
        assert ATTEMPT_ZH.search(item["stalled_reason_zh"]), item["stalled_reason_zh"]
        assert "last failure: activity StartToClose timeout" in item["stalled_reason"], item["stalled_reason"]
        # the admin list and the CLI say the same
        r = await client.http.get("/api/admin/stalled", headers=auditor())
        [listed] = [s for s in r.json() if s["case_id"] == case_id]
        assert ATTEMPT.search(listed["stalled_reason"]) and ATTEMPT_ZH.search(listed["stalled_reason_zh"])
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "deploy.cli", "admin", "list-stalled", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env={**os.environ, "DOUDI_API_URL": stack.api_url, "COLUMNS": "400"})
        out, err = await asyncio.wait_for(cli.communicate(), timeout=60)
        text = out.decode()
        assert cli.returncode == 0, err.decode()
        assert case_id in text and ATTEMPT.search(text) and ATTEMPT_ZH.search(text), text

        stack.procs["payment"].signal(signal.SIGCONT)  # the worker runs again: the stale attempts and the live one
        case = await client.closed_case(pid, timeout=120)
        assert case["outcome"] == "paid" and not case["stalled"]
        # seed 002: 3 x Yinchuan's urban dibao standard of 650 yuan = 1,950 yuan = 195,000 fen, paid once
        assert [p["amount_fen"] for p in case["payments"]] == [195000]
        assert [r["amount_fen"] for r in await client.ledger(case_id=case_id)] == [195000]

        async def off_the_list() -> bool | None:
            return True if await attention_item(client, case_id) is None else None
        await wait_for(off_the_list, timeout=60, interval=1.0)
    finally:
        await client.close()
