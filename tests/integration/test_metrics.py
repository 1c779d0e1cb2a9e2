"""The operator instruments on the real embedded stack (issue 16, "Must show": ``/metrics`` and
``/readyz`` answer on the front door): Prometheus text naming the HTTP counter and the domain gauges,
readiness with the database, NATS and Temporal checked, and the same on every service's own port."""

from __future__ import annotations

import re
import socket

import httpx
import pytest

from deploy.embedded import EmbeddedStack
from shared.infra.temporal import connect_temporal, metrics_runtime
from shared.services import HTTP_BACKENDS
from tests.support import StackClient, household, national_id, wait_for

pytestmark = pytest.mark.stack

YINCHUAN_URBAN = "640104"   # 银川市兴庆区


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample ``name{labels...}`` in Prometheus text (labels in any order, others allowed)."""
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match is None:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(match.group(2))
    return None


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(url)


async def test_front_door_metrics_name_requests_cases_and_the_bus(stack: EmbeddedStack, client: StackClient):
    # a paid case: seed 002, 3 x the city's monthly dibao standard (650 yuan) = 1,950 yuan
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    await client.publish("health.quarantined", {
        "person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"})
    case = await client.closed_case(pid)
    assert case["approved_amount_fen"] == 195000

    answer = await get(stack.api_url + "/metrics")  # no token: Prometheus carries none
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert "# TYPE doudi_http_requests_total counter" in text
    assert (value(text, "doudi_cases", pathway="emergency_relief", status="closed") or 0) >= 1
    assert value(text, "doudi_dead_letters_unresolved") is not None
    assert value(text, "doudi_outbox_backlog") is not None
    assert value(text, "doudi_stream_messages", stream="DOUDI_EVENTS") is not None
    assert value(text, "doudi_consumer_pending") is not None  # every consumer's lag, read from JetStream
    assert "doudi_metrics_source_errors_total{" not in text  # every source answered

    # the scrape itself is counted by its route template on the next one (the front door answered it)
    again = (await get(stack.api_url + "/metrics")).text
    assert (value(again, "doudi_http_requests_total", method="GET", route="/metrics", status="200") or 0) >= 1
    # the household was registered through the front door: counted under the routes table's pattern
    assert (value(again, "doudi_http_requests_total", method="POST", route="/api/households (forwarded)") or 0) >= 1

    # the payment service's own port: the ledger in fen holds the disbursement
    payment = next(s for s in HTTP_BACKENDS if s.name == "payment")
    money = (await get(f"http://127.0.0.1:{stack.ports.http_port(payment)}/metrics")).text
    assert (value(money, "doudi_ledger_entries", kind="disbursement") or 0) >= 1
    assert (value(money, "doudi_ledger_amount_fen", kind="disbursement") or 0) >= 195000


async def test_front_door_is_alive_and_ready(stack: EmbeddedStack):
    alive = await get(stack.api_url + "/healthz")
    assert alive.status_code == 200 and alive.json() == {"service": "operations", "status": "ok"}
    ready = await get(stack.api_url + "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "nats": "ok", "temporal": "ok"}
    assert ready.json()["down"] == []


@pytest.mark.parametrize("service", HTTP_BACKENDS, ids=lambda s: s.name)
async def test_every_service_port_answers_metrics_and_readyz(stack: EmbeddedStack, service):
    base = f"http://127.0.0.1:{stack.ports.http_port(service)}"

    async def scraped() -> str | None:
        answer = await get(base + "/metrics")
        return answer.text if answer.status_code == 200 else None

    text = await wait_for(scraped)
    assert "# TYPE doudi_http_requests_total counter" in text
    assert value(text, "doudi_outbox_backlog") is not None
    ready = await get(base + "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"service": service.name, "status": "ready", "down": [],
                            "checks": {"database": "ok", "nats": "ok", "temporal": "ok"}}
    assert (await get(base + "/healthz")).status_code == 200


async def test_the_workflow_workers_temporal_metrics_answer_prometheus(stack: EmbeddedStack):
    """The worker serves no HTTP: its Temporal client's runtime exports the SDK's metrics on the port set
    (workflows/worker.py with DOUDI_METRICS_PORT); here the same runtime on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = await connect_temporal(stack.temporal_address, "doudi",
                                    runtime=metrics_runtime(f"127.0.0.1:{port}"))
    await client.count_workflows()  # one request through the runtime

    async def scraped() -> str | None:
        answer = await get(f"http://127.0.0.1:{port}/metrics")
        return answer.text if answer.status_code == 200 and "temporal_request" in answer.text else None

    text = await wait_for(scraped)
    assert "# TYPE temporal_request_total counter" in text
