"""The operator instruments every service's app gets (shared/infra/metrics.py, shared/infra/health.py):
requests counted by route template and status, ``/metrics`` in Prometheus text with a failing source
counted instead of failing the scrape, ``/healthz`` touching nothing, ``/readyz`` naming what is down."""

from __future__ import annotations

import socket

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from services.operations import frontdoor
from shared.infra import metrics
from shared.infra.health import add_health_routes


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def instrumented() -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise HTTPException(404, "no such thing")
        return {"thing": thing_id}

    metrics.add_metrics_route(app)
    app.add_middleware(metrics.MetricsMiddleware)
    return app


def test_requests_are_counted_by_route_template_and_status() -> None:
    client = TestClient(instrumented())
    ok = dict(method="GET", route="/things/{thing_id}", status="200")
    missing = dict(ok, status="404")
    before_ok = sample("doudi_http_requests_total", **ok)
    before_missing = sample("doudi_http_requests_total", **missing)
    before_unmatched = sample("doudi_http_requests_total", method="GET", route=metrics.UNMATCHED, status="404")
    timed = sample("doudi_http_request_duration_seconds_count", method="GET", route="/things/{thing_id}")

    assert client.get("/things/a").status_code == 200
    assert client.get("/things/b").status_code == 200
    assert client.get("/things/missing").status_code == 404
    assert client.get("/nowhere/at/all").status_code == 404

    assert sample("doudi_http_requests_total", **ok) == before_ok + 2  # one series for both ids
    assert sample("doudi_http_requests_total", **missing) == before_missing + 1
    assert sample("doudi_http_requests_total", method="GET", route=metrics.UNMATCHED,
                  status="404") == before_unmatched + 1
    assert sample("doudi_http_request_duration_seconds_count", method="GET",
                  route="/things/{thing_id}") == timed + 3
    assert sample("doudi_http_requests_total", method="GET", route="/things/a", status="200") == 0  # no raw path


def test_metrics_answers_prometheus_text_and_a_failing_source_is_counted() -> None:
    app = instrumented()

    async def cases() -> None:
        metrics.set_series(metrics.CASES, [(("subsistence_allowance", "approval", "open"), 3)])

    async def broken_store() -> None:
        raise ConnectionError("database away")

    metrics.add_sources(app, [cases, broken_store])
    errors = sample("doudi_metrics_source_errors_total", source="broken_store")
    answer = TestClient(app).get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert 'doudi_cases{pathway="subsistence_allowance",stage="approval",status="open"} 3.0' in answer.text
    assert "doudi_http_requests_total" in answer.text
    assert sample("doudi_metrics_source_errors_total", source="broken_store") == errors + 1


def test_a_vanished_label_set_does_not_linger() -> None:
    metrics.set_series(metrics.CASES_STALLED, [(("staged_aid", "payment"), 1)])
    metrics.set_series(metrics.CASES_STALLED, [])
    assert sample("doudi_cases_stalled", pathway="staged_aid", stage="payment") == 0


def probe_app(nats_up: bool) -> FastAPI:
    touched: list[str] = []

    async def database() -> object:
        touched.append("database")
        return 1

    async def nats() -> bool:
        touched.append("nats")
        if not nats_up:
            raise ConnectionRefusedError("nats away")
        return True

    async def temporal() -> bool:
        touched.append("temporal")
        return True

    app = FastAPI()
    app.state.touched = touched
    add_health_routes(app, "intake", {"database": database, "nats": nats, "temporal": temporal})
    return app


def test_healthz_touches_nothing() -> None:
    app = probe_app(nats_up=False)
    answer = TestClient(app).get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"service": "intake", "status": "ok"}
    assert app.state.touched == []


def test_readyz_is_200_with_every_check_when_all_answer() -> None:
    answer = TestClient(probe_app(nats_up=True)).get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"service": "intake", "status": "ready", "down": [],
                             "checks": {"database": "ok", "nats": "ok", "temporal": "ok"}}


def test_readyz_is_503_naming_what_is_down() -> None:
    answer = TestClient(probe_app(nats_up=False)).get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready" and body["down"] == ["nats"]
    assert body["checks"]["nats"] == "down: ConnectionRefusedError"
    assert body["checks"]["database"] == "ok" and body["checks"]["temporal"] == "ok"


def test_a_check_answering_false_is_down() -> None:
    async def refused() -> bool:
        return False

    app = FastAPI()
    add_health_routes(app, "payment", {"temporal": refused})
    answer = TestClient(app).get("/readyz")
    assert answer.status_code == 503 and answer.json()["checks"] == {"temporal": "down: refused"}


def test_the_front_door_counts_a_forwarded_request_under_its_pattern() -> None:
    """Forwarded paths match no route of the front door's own: they are counted under the routes table's
    pattern (one series per route, not per case), here with the owner away (503)."""
    with socket.socket() as s:  # a port nobody listens on: the owner is away
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    app = FastAPI()
    frontdoor.install(app, frontdoor.FrontDoor({"/api/cases/{id}/decisions": f"http://127.0.0.1:{closed}"}))
    app.add_middleware(metrics.MetricsMiddleware)
    labels = dict(method="POST", route="/api/cases/{id}/decisions (forwarded)", status="503")
    before = sample("doudi_http_requests_total", **labels)

    assert TestClient(app).post("/api/cases/c-1/decisions", json={}).status_code == 503
    assert TestClient(app).post("/api/cases/c-2/decisions", json={}).status_code == 503

    assert sample("doudi_http_requests_total", **labels) == before + 2
