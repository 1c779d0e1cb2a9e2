"""What operators measure (运行指标): Prometheus metrics every doudi process exposes on ``GET /metrics``.

Two kinds. HTTP requests, counted and timed by the ``MetricsMiddleware`` every service's app gets in
``shared.infra.process.finish_app``, labelled by route *template* (``/api/cases/{case_id}``, never the
raw path: one series per route, not per case). And domain gauges read from the stores at scrape time:
each service registers its ``MetricSource``s on its app (``add_sources``); ``/metrics`` runs them, each
with a bound, and a source that fails is counted (``doudi_metrics_source_errors_total``) instead of
failing the scrape. The definitions live here, so every name is declared once; the services' numbers come
from their stores (services/<service>/metrics.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

from shared.infra.asgi import HttpMiddleware

log = logging.getLogger(__name__)

MetricSource = Callable[[], Awaitable[None]]  # reads its store, sets its gauges
SOURCE_TIMEOUT_S = 5.0
UNMATCHED = "(unmatched)"  # a path no route serves (a 404)
ROUTE_KEY = "doudi.route"  # a route template set by what answers without a route (the front door forwarding)

# -- HTTP ------------------------------------------------------------------------------------------------

HTTP_REQUESTS = Counter("doudi_http_requests", "HTTP requests answered, by route template and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("doudi_http_request_duration_seconds", "HTTP request latency by route template",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
SOURCE_ERRORS = Counter("doudi_metrics_source_errors", "Scrape-time metric sources that failed", ["source"])

# -- the read model (operations) -------------------------------------------------------------------------

CASES = Gauge("doudi_cases", "Cases in the read model by pathway, stage and status", ["pathway", "stage", "status"])
CASES_STALLED = Gauge("doudi_cases_stalled", "Cases whose step cannot make progress (停滞)", ["pathway", "stage"])
DEAD_LETTERS_UNRESOLVED = Gauge("doudi_dead_letters_unresolved",
                                "Dead letters not yet redelivered by an operator (DLQ depth to act on)")
BUS_ALERTS_OPEN = Gauge("doudi_bus_alerts_open", "Open bus alerts by kind", ["kind"])

# -- the bus (operations reads JetStream) ----------------------------------------------------------------

STREAM_MESSAGES = Gauge("doudi_stream_messages", "Messages held by a JetStream stream", ["stream"])
STREAM_USED = Gauge("doudi_stream_used_ratio", "A stream's bytes over its byte limit", ["stream"])
CONSUMER_PENDING = Gauge("doudi_consumer_pending", "Consumer lag: messages not yet delivered (num_pending)",
                         ["stream", "consumer"])
CONSUMER_ACK_PENDING = Gauge("doudi_consumer_ack_pending", "Delivered, not yet acknowledged (num_ack_pending)",
                             ["stream", "consumer"])
CONSUMER_REDELIVERED = Gauge("doudi_consumer_redelivered", "Delivered more than once, not yet acknowledged",
                             ["stream", "consumer"])

# -- money (payment) -------------------------------------------------------------------------------------

LEDGER_ENTRIES = Gauge("doudi_ledger_entries", "Payment ledger entries by kind", ["kind"])
LEDGER_AMOUNT_FEN = Gauge("doudi_ledger_amount_fen", "Payment ledger amounts by kind, in fen (分)", ["kind"])
RESERVE_BALANCE_FEN = Gauge("doudi_reserve_balance_fen", "A reserve fund's balance in fen (备用金余额)",
                            ["account"])
RESERVE_THRESHOLD_FEN = Gauge("doudi_reserve_threshold_fen",
                              "The balance below which a reserve asks the county to replenish it", ["account"])

# -- every service ---------------------------------------------------------------------------------------

OUTBOX_BACKLOG = Gauge("doudi_outbox_backlog", "Outbox rows committed but not yet published")
OUTBOX_OLDEST_S = Gauge("doudi_outbox_oldest_seconds", "Age of the oldest unpublished outbox row (0: none)")


def set_series(gauge: Gauge, values: Iterable[tuple[Sequence[str], float]]) -> None:
    """Replace every series of a labelled gauge: a label set that disappeared from the store (a stage no
    case is in any more) must not linger with its last value."""
    gauge.clear()
    for labels, value in values:
        gauge.labels(*labels).set(value)


def add_sources(app: FastAPI, sources: Iterable[MetricSource]) -> None:
    """A service's scrape-time sources (its ``build`` calls this; ``/metrics`` runs them)."""
    app.state.metric_sources = [*getattr(app.state, "metric_sources", []), *sources]


async def refresh(sources: Sequence[MetricSource], timeout_s: float = SOURCE_TIMEOUT_S) -> None:
    async def one(source: MetricSource) -> None:
        try:
            await asyncio.wait_for(source(), timeout_s)
        except Exception as exc:  # a store or the bus away: the rest of the scrape still answers
            name = getattr(source, "__name__", repr(source))
            log.warning("metric source %s failed: %r", name, exc)
            SOURCE_ERRORS.labels(name).inc()

    await asyncio.gather(*(one(s) for s in sources))


def add_metrics_route(app: FastAPI) -> None:
    """``GET /metrics``: Prometheus text, no authentication (Prometheus scrapes the service's own port)."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        await refresh(getattr(app.state, "metric_sources", []))
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: dict[str, Any]) -> str:
    if scope.get(ROUTE_KEY):
        return str(scope[ROUTE_KEY])
    route = scope.get("route")
    return str(getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED)


class MetricsMiddleware(HttpMiddleware):
    """Counts and times every HTTP request by method, route template and status (ASGI, outermost: a
    413 from the body limit and a 500 are counted too)."""

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        status = 500  # an exception before the answer started is answered 500 by the server
        started = time.perf_counter()

        async def recording_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = route_template(scope)
            HTTP_REQUESTS.labels(scope.get("method", ""), route, str(status)).inc()
            HTTP_LATENCY.labels(scope.get("method", ""), route).observe(time.perf_counter() - started)
