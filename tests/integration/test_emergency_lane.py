"""The straight-through lane on the real stack (docs/adr/0021): quarantine reports that arrive together are paid
and closed by one lane, each once, and each case then has its own workflow, the record every per-case tool
reads (its decision record, its timeline); a duplicate of every report pays nothing more."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from deploy.embedded import EmbeddedStack
from shared.infra.temporal import data_converter
from tests.support import StackClient, household, national_id, wait_for

pytestmark = pytest.mark.stack

YINCHUAN = "640104"
# seed 002 (宁夏): 「对低保对象…因家庭成员被隔离收治等原因导致基本生活出现暂时困难的家庭，
# 按照当地城市低保月标准3倍，直接给予一次性临时救助金」, 城市低保 「每人每月650元」:
# 3 × 650 yuan a household = 195,000 fen
QUARANTINE_AID_FEN = 3 * 650 * 100
REPORTS = 12


def quarantine(pid: str) -> dict[str, str]:
    return {"person_id": pid, "region_code": YINCHUAN, "quarantined_on": "2022-08-10"}


async def ledger_by_person(stack: EmbeddedStack, people: list[str]) -> dict[str, list[int]]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch("SELECT person_id, amount_fen FROM payment.ledger WHERE person_id = ANY($1::text[])",
                                people)
    finally:
        await conn.close()
    paid: dict[str, list[int]] = {p: [] for p in people}
    for r in rows:
        paid[r["person_id"]].append(r["amount_fen"])
    return paid


async def case_ids(stack: EmbeddedStack, people: list[str]) -> dict[str, str]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch("SELECT person_id, case_id FROM intake.cases WHERE person_id = ANY($1::text[])",
                                people)
    finally:
        await conn.close()
    return {r["person_id"]: r["case_id"] for r in rows}


async def closed_workflow(temporal: Client, case_id: str) -> tuple[str, Any]:
    handle = temporal.get_workflow_handle(case_id)

    async def done() -> tuple[str, Any] | None:
        try:
            d = await handle.describe()
        except Exception:  # not started yet: the lane starts each case's own workflow when it has settled them
            return None
        if d.status != WorkflowExecutionStatus.COMPLETED:
            return None
        return d.workflow_type, await handle.result()

    return await wait_for(done, timeout=60, interval=0.3)


async def test_reports_that_arrive_together_are_paid_by_a_lane_once_each_and_each_case_keeps_its_record(
        stack: EmbeddedStack, client: StackClient) -> None:
    people = [national_id(YINCHUAN) for _ in range(REPORTS)]
    for pid in people:
        await client.register(household(pid, region=YINCHUAN, categories=["dibao"]))
    event_ids = await asyncio.gather(*(client.publish("health.quarantined", quarantine(p)) for p in people))

    async def all_paid() -> dict[str, list[int]] | None:
        paid = await ledger_by_person(stack, people)
        return paid if all(paid.values()) else None

    paid = await wait_for(all_paid, timeout=90, interval=0.5)
    assert paid == {p: [QUARANTINE_AID_FEN] for p in people}

    temporal = await Client.connect(stack.temporal_address, namespace="doudi", data_converter=data_converter())
    ids = await case_ids(stack, people)
    kinds: dict[str, int] = {}
    for pid in people:
        workflow_type, result = await closed_workflow(temporal, ids[pid])
        kinds[workflow_type] = kinds.get(workflow_type, 0) + 1
        assert result["outcome"] == "paid" and result["amount_fen"] == QUARANTINE_AID_FEN, result
    # twelve reports at once fill at least one lane; a report alone in its moment still runs on its own
    assert kinds.get("EmergencyReliefSettled", 0) >= 2, kinds
    lanes = [w async for w in temporal.list_workflows("WorkflowType = 'EmergencyReliefLane'")]
    assert lanes

    # each case's timeline and decision record read as any paid emergency case's
    laned = [ids[p] for p in people]
    for case_id in laned:
        async def closed(case_id: str = case_id) -> dict[str, Any] | None:
            r = await client.http.get(f"/api/cases/{case_id}", headers=client.clerk)
            case = r.json() if r.status_code == 200 else None
            return case if case and case["status"] == "closed" and case["payments"] else None

        case = await wait_for(closed, timeout=60, interval=0.3)
        stages = [t["stage"] for t in case["timeline"]]
        assert stages[-4:] == ["assessed", "approved", "paid", "closed"], stages
        r = await client.http.get(f"/api/cases/{case_id}/decision", headers=client.clerk)
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "approved" and r.json()["amount_fen"] == QUARANTINE_AID_FEN, r.json()

    # every report again, the same ids (an agency's retry): nothing more is paid
    await asyncio.gather(*(client.publish("health.quarantined", quarantine(p), event_id=e, msg_id=False)
                           for p, e in zip(people, event_ids, strict=True)))
    for family in ("health",):
        await client.settled(f"intake-{family}")
    assert await ledger_by_person(stack, people) == {p: [QUARANTINE_AID_FEN] for p in people}
