"""The walking skeleton's "Must show", against the real embedded PostgreSQL, NATS and Temporal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from deploy.embedded import EmbeddedStack
from tests.support import StackClient, household, national_id, wait_for

pytestmark = pytest.mark.stack

YINCHUAN_URBAN = "640104"   # 银川市兴庆区
YINCHUAN_RURAL = "640122"   # 贺兰县


async def test_quarantined_urban_dibao_recipient_is_paid_three_times_city_standard(client: StackClient):
    # seed 002: 3 x the city monthly dibao standard (650 yuan) = 1,950 yuan, paid directly
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    event_id = await client.publish("health.quarantined", {
        "person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"})

    case = await client.closed_case(pid)
    assert case["outcome"] == "paid"
    assert case["pathway"] == "emergency_relief"
    assert case["cause_event_id"] == event_id
    assert case["approved_amount_fen"] == 195000
    assert [p["amount_fen"] for p in case["payments"]] == [195000]
    assert case["policy"]["pack_id"] and case["policy"]["measure"] == "quarantine"

    rows = await client.ledger(case_id=case["case_id"])
    assert [(r["amount_fen"], r["person_id"], r["cause_event_id"]) for r in rows] == [(195000, pid, event_id)]

    disbursed = [json.loads(m.data) for m in await client.fetch_stream("doudi.payment.disbursed")]
    mine = [e["data"] for e in disbursed if e["data"]["case_id"] == case["case_id"]]
    assert len(mine) == 1
    assert mine[0]["amount_fen"] == 195000
    assert mine[0]["cause_event_id"] == event_id
    assert mine[0]["payment_id"] == rows[0]["payment_id"]

    detail = await client.case(case["case_id"])
    stages = [t["stage"] for t in detail["timeline"] if t["stage"]]
    assert stages[0] == "opened" and "approved" in stages and stages[-1] == "closed"


@pytest.mark.parametrize(("region", "urban", "expected"), [
    (YINCHUAN_URBAN, True, 300000),   # seed 002: urban at least 3,000 yuan
    (YINCHUAN_RURAL, False, 200000),  # seed 002: rural at least 2,000 yuan
])
async def test_covid_diagnosis_of_a_recipient_pays_the_lump_sum(client: StackClient, region: str, urban: bool,
                                                                expected: int):
    pid = national_id(region)
    await client.register(household(pid, region=region, urban=urban, categories=["extreme_poverty"]))
    await client.publish("health.covid_diagnosed", {
        "person_id": pid, "region_code": region, "diagnosed_on": "2022-08-12"})

    case = await client.closed_case(pid)
    assert case["outcome"] == "paid"
    assert [p["amount_fen"] for p in case["payments"]] == [expected]
    assert [r["amount_fen"] for r in await client.ledger(case_id=case["case_id"])] == [expected]


async def test_diagnosis_after_the_measures_expired_pays_nothing_and_says_why(client: StackClient):
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    await client.publish("health.covid_diagnosed", {
        "person_id": pid, "region_code": YINCHUAN_URBAN, "diagnosed_on": "2024-03-01"})

    case = await client.closed_case(pid)
    assert case["outcome"] == "not_payable"
    assert case["payments"] == []
    assert "not in force" in case["reason"] and "2023-12-31" in case["reason"]
    assert await client.ledger(case_id=case["case_id"]) == []


async def test_a_quarantined_non_recipient_waits_for_a_decision_and_is_not_paid(client: StackClient):
    # seed 002 also covers other households in temporary hardship, but only after a check: no direct payment
    pid = national_id(YINCHUAN_URBAN)
    await client.publish("health.quarantined", {
        "person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"})

    async def waiting():
        items = await client.cases(person_id=pid)
        return items if items and items[0]["stage"] == "awaiting_county_decision" else None

    [case] = await wait_for(waiting)
    assert case["status"] == "awaiting_decision" and case["payments"] == []
    assert await client.ledger(person_id=pid) == []


async def test_the_same_event_three_times_is_one_case_and_one_payment(client: StackClient):
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    data = {"person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"}
    event_id = await client.publish("health.quarantined", data)
    await client.publish("health.quarantined", data, event_id=event_id)                # JetStream dedupes
    await client.publish("health.quarantined", data, event_id=event_id, msg_id=False)  # the inbox dedupes
    await client.publish("health.quarantined", data, event_id=event_id, msg_id=False)

    case = await client.closed_case(pid)
    await client.settled("intake-health")  # every delivery handled: a duplicate that slipped through is here
    assert [r["case_id"] for r in await client.intake_cases(pid)] == [case["case_id"]]
    assert len(await client.cases(person_id=pid)) == 1
    rows = await client.ledger(person_id=pid)
    assert [(r["case_id"], r["amount_fen"]) for r in rows] == [(case["case_id"], 195000)]


async def test_the_same_incident_reported_twice_under_different_ids_is_one_case(client: StackClient):
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    data = {"person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"}
    await client.publish("health.quarantined", data)
    await client.publish("health.quarantined", data)
    case = await client.closed_case(pid)
    await client.settled("intake-health")  # both reports handled
    assert [r["case_id"] for r in await client.intake_cases(pid)] == [case["case_id"]]
    assert len(await client.cases(person_id=pid)) == 1
    assert len(await client.ledger(person_id=pid)) == 1


async def test_invalid_events_are_dead_lettered_and_the_consumer_goes_on(client: StackClient):
    pid = national_id(YINCHUAN_URBAN)
    bad_id = pid[:17] + ("0" if pid[17] != "0" else "1")
    wrong = await client.publish("health.quarantined", {
        "person_id": bad_id, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"})
    not_json = b"{this is not json"
    await client.publish("health.covid_diagnosed", {}, event_id="evt-not-json", raw=not_json)

    # a valid event behind them is still consumed
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    await client.publish("health.quarantined", {
        "person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"})
    await client.closed_case(pid)

    async def dead_letters():
        msgs = await client.fetch_stream("doudi.dlq.events", timeout=0.5)
        by_reason = {}
        for m in msgs:
            if m.headers.get("Doudi-Event-Id") == wrong:
                by_reason["wrong"] = m
            if m.data == not_json:
                by_reason["not_json"] = m
        return by_reason if len(by_reason) == 2 else None

    found = await wait_for(dead_letters, timeout=15)
    assert "check character" in found["wrong"].headers["Doudi-Dlq-Reason"]
    assert found["wrong"].headers["Doudi-Original-Subject"] == "doudi.events.health.quarantined"
    assert json.loads(found["wrong"].data)["data"]["person_id"] == bad_id  # the original bytes
    assert "not JSON" in found["not_json"].headers["Doudi-Dlq-Reason"]
    assert found["not_json"].data == not_json
    assert await client.cases(person_id=bad_id) == []


@pytest.mark.parametrize("point", ["payment.before_ledger_write", "payment.after_ledger_commit"])
async def test_payment_service_killed_mid_payment_pays_exactly_once(client: StackClient, stack: EmbeddedStack,
                                                                     faults: Path, point: str):
    """The payment process dies (as with SIGKILL) once the workflow's payment activity reached it: before
    the ledger write, or after the commit and before Temporal heard of it. The supervisor restarts it;
    Temporal retries the activity; the idempotency key keeps it to one ledger row."""
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    before = stack.procs["payment"].pid
    (faults / point).touch()
    await client.publish("health.quarantined", {
        "person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"})

    case = await client.closed_case(pid, timeout=90)
    assert not (faults / point).exists(), "the crash point never fired"
    assert stack.procs["payment"].pid != before, "the payment process was not killed and restarted"
    rows = await client.ledger(person_id=pid)
    assert [(r["case_id"], r["amount_fen"]) for r in rows] == [(case["case_id"], 195000)]
    assert [p["amount_fen"] for p in case["payments"]] == [195000]


async def test_supervisor_restarts_a_killed_service(client: StackClient, stack: EmbeddedStack):
    before = stack.procs["intake"].pid
    os.killpg(before, signal.SIGKILL)
    await wait_for(lambda: asyncio.sleep(0, stack.procs["intake"].alive and stack.procs["intake"].pid != before),
                   timeout=20)
    await stack.wait_services()
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    await client.publish("health.quarantined", {
        "person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"})
    case = await client.closed_case(pid, timeout=60)
    assert case["outcome"] == "paid"


async def test_one_trace_from_the_consumed_event_to_the_ledger_write(client: StackClient, stack: EmbeddedStack):
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    await client.publish("health.quarantined", {
        "person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"})
    case = await client.closed_case(pid)

    def spans() -> list[dict]:
        out = []
        for f in (stack.data_dir / "traces").glob("*.jsonl"):
            for line in f.read_text().splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # the exporter is appending this line right now: read again on the next poll
        return out

    async def ledger_span():
        hits = [s for s in spans() if s["name"] == "ledger.write"
                and s["attributes"].get("doudi.case_id") == case["case_id"]]
        return hits[0] if hits else None

    ledger = await wait_for(ledger_span, timeout=10)
    trace = [s for s in spans() if s["trace_id"] == ledger["trace_id"]]
    services = {s["service"] for s in trace}
    names = {s["name"] for s in trace}
    assert {"doudi-intake", "doudi-workflows", "doudi-payment", "doudi-approval"} <= services, services
    assert any(n.startswith("StartWorkflow:EmergencyRelief") for n in names), names
    assert any(n.startswith("RunActivity:payment.disburse") for n in names), names
    assert any("doudi.events.health.quarantined" in n for n in names), names  # the consumed event
