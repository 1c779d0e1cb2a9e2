"""The shape every doudi service process shares: migrations, a pool, the bus, a Temporal worker on
the service's own task queue, its outbox relay and its HTTP routes, with a clean shutdown on SIGTERM.

A service's ``main`` only says what its parts are (``ServiceParts``); this module runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from temporalio.client import Client
from temporalio.worker import Worker

from shared.auth import MaskIdsMiddleware
from shared.config import Settings, get_settings
from shared.infra import loop as event_loop
from shared.infra import metrics
from shared.infra.api_docs import document_refusals, install_swagger_ui
from shared.infra.asgi import HttpMiddleware
from shared.infra.bus import ensure_streams, make_broker
from shared.infra.db import create_pool, migrate
from shared.infra.errors import DomainError
from shared.infra.health import CHECK_TIMEOUT_S, Check, add_health_routes
from shared.infra.i18n import prefers_chinese, zh_message
from shared.infra.outbox import OutboxRelay, outbox_backlog
from shared.infra.temporal import connect_temporal
from shared.infra.text_guard import RefuseNulMiddleware
from shared.telemetry import setup_telemetry

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What a service's parts are built from; nothing here opens at import time."""

    name: str
    settings: Settings
    pool: asyncpg.Pool
    broker: NatsBroker
    temporal: Client


@dataclass
class ServiceParts:
    app: FastAPI
    task_queue: str | None = None
    activities: Sequence[Callable[..., Any]] = ()
    workflows: Sequence[type] = ()
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    max_concurrent_activities: int = 100


def configure_logging(name: str) -> None:
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    logging.getLogger("temporalio").setLevel(logging.WARNING)


def add_validation_handler(app: FastAPI) -> None:
    """422 with the field for every invalid body, whatever it contains: FastAPI's default answer echoes
    the input and cannot encode a lone surrogate (a 500); here the echoed input is made printable. Each
    ``msg`` is Chinese when ``Accept-Language`` prefers Chinese (``shared.infra.i18n``)."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        chinese = prefers_chinese(request.headers.get("accept-language"))  # msg in Chinese, same shape
        errors = [{**{k: v for k, v in e.items() if k not in ("input", "ctx", "url")},
                   **({"msg": zh_message(e)} if chinese else {}),
                   "input": _printable(e.get("input"))} for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors, custom_encoder={str: _printable})},
                            status_code=422)


def add_domain_error_handler(app: FastAPI) -> None:
    """Every ``shared.infra.errors.DomainError`` an inner layer raises answered with its status code and
    ``{"detail": ...}``, the body an ``HTTPException`` gives (so moving a raise below the HTTP layer changes
    nothing on the wire)."""

    @app.exception_handler(DomainError)
    async def refused(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder(exc.detail, custom_encoder={str: _printable})},
                            status_code=exc.status, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """The error answers every service gives, registered once here (``serve``; route tests call it too)."""
    add_validation_handler(app)
    add_domain_error_handler(app)


def _printable(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


class BodyTooLarge(HTTPException):
    """A request body beyond its route's limit (raised while it streams in; answered 413)."""

    def __init__(self, limit: int):
        super().__init__(413, body_too_large_message(limit), headers={"connection": "close"})


def body_too_large_message(limit: int) -> str:
    return f"请求体过大：超过 {limit} 字节的上限 (request body larger than {limit} bytes)"


class BodyLimitMiddleware(HttpMiddleware):
    """Every request body capped, before anything buffers it (ASGI, outermost).

    A ``Content-Length`` above the route's limit is answered 413 at once, without reading a byte of the
    body, and the connection is closed; a body without one (chunked) is counted as it streams in and
    the read that passes the limit raises ``BodyTooLarge`` (413). ``limits``: path prefix -> bytes, the
    first match wins (streamed imports have their own, larger cap); every other path has ``default``.
    """

    def __init__(self, app: Any, *, default: int, limits: Sequence[tuple[str, int]] = ()):
        super().__init__(app)
        self.default = default
        self.limits = list(limits)

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.limits if path.startswith(prefix)), self.default)

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        limit = self.limit_for(scope.get("path", ""))
        declared = next((v for k, v in scope.get("headers") or [] if k.lower() == b"content-length"), None)
        if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
            await _refuse_body(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _refuse_body(send, limit)


async def _refuse_body(send: Any, limit: int) -> None:
    """413, and close the connection: the rest of the body is never read."""
    import json

    body = json.dumps({"detail": body_too_large_message(limit)}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def install_body_limits(app: FastAPI, settings: Settings) -> None:
    """The JSON limit everywhere; streamed NDJSON imports and the Temporal codec (its payloads reach
    Temporal's own 2 MB per payload) have theirs. The front door applies the same table before it
    forwards, so a body is refused where it first arrives."""
    app.add_middleware(BodyLimitMiddleware, default=settings.max_body_bytes, limits=[
        ("/api/enrolments/import", settings.max_import_bytes),
        ("/codec/", settings.max_codec_body_bytes),
    ])


def readiness_checks(runtime: Runtime) -> dict[str, Check]:
    """What a service needs to work: ``/readyz`` answers 503 naming the one that is down."""

    async def database() -> object:
        async with runtime.pool.acquire() as conn:
            return await conn.fetchval("SELECT 1")

    async def nats() -> bool:
        return await runtime.broker.ping(timeout=CHECK_TIMEOUT_S)

    async def temporal() -> bool:
        return await runtime.temporal.service_client.check_health()

    return {"database": database, "nats": nats, "temporal": temporal}


def install_metrics(app: FastAPI, runtime: Runtime) -> None:
    """``/metrics`` with every service's own outbox backlog beside the sources its ``build`` added."""

    async def outbox() -> None:
        async with runtime.pool.acquire() as conn:
            backlog = await outbox_backlog(conn)
        metrics.OUTBOX_BACKLOG.set(backlog.rows)
        metrics.OUTBOX_OLDEST_S.set(backlog.oldest_s)

    metrics.add_sources(app, [outbox])
    metrics.add_metrics_route(app)


def finish_app(app: FastAPI, runtime: Runtime) -> FastAPI:
    """What every service's app gets beside its routes (the app factory's half that ``serve`` and the route
    tests share): ``/healthz``, ``/readyz``, ``/metrics``, the error answers, masking, body limits, the
    runtime in its state."""
    add_health_routes(app, runtime.name, readiness_checks(runtime))
    install_metrics(app, runtime)
    install_error_handlers(app)
    install_swagger_ui(app)  # /docs with its assets served here, not from a CDN
    document_refusals(app)  # 401/403 with their bodies in the OpenAPI document
    app.add_middleware(MaskIdsMiddleware)  # roles that need no full national ID see it masked
    install_body_limits(app, runtime.settings)  # nothing reads a body before its size is checked
    app.add_middleware(RefuseNulMiddleware)  # a %00 in a query parameter never reaches PostgreSQL
    app.add_middleware(metrics.MetricsMiddleware)  # outermost: a 413 is counted too
    app.state.runtime = runtime
    return app


async def serve(
    name: str,
    *,
    schema: str | None,
    migrations: Path | None,
    build: Callable[[Runtime], ServiceParts],
) -> None:
    configure_logging(name)
    settings = get_settings()
    setup_telemetry(name)
    schema = schema or name
    if migrations is not None:
        await migrate(settings.database_url, schema, migrations)
    await ensure_streams(settings.nats_url, replicas=settings.nats_stream_replicas)
    pool = await create_pool(settings.database_url, schema=schema)
    broker = make_broker(settings.nats_url, name)
    temporal = await connect_temporal(settings.temporal_address, settings.temporal_namespace)
    runtime = Runtime(name=name, settings=settings, pool=pool, broker=broker, temporal=temporal)
    parts = build(runtime)
    finish_app(parts.app, runtime)

    await broker.start()
    tasks: list[asyncio.Task[Any]] = []
    worker: Worker | None = None
    if parts.task_queue:
        worker = Worker(temporal, task_queue=parts.task_queue, activities=list(parts.activities),
                        workflows=list(parts.workflows),
                        max_concurrent_activities=parts.max_concurrent_activities)
        tasks.append(asyncio.create_task(worker.run(), name=f"{name}-worker"))
    relay = OutboxRelay(pool, settings.database_url, schema, broker)
    tasks.append(asyncio.create_task(relay.run(), name=f"{name}-outbox"))
    # Background jobs (one-off start-up chores or loops) run beside the service; their end is not its end.
    background = [asyncio.create_task(job(), name=f"{name}-bg") for job in parts.background]
    for job in background:
        job.add_done_callback(_log_background_failure)

    server = _Server(uvicorn.Config(parts.app, host=settings.http_host, port=settings.http_port,
                                    log_level="warning", access_log=False))
    tasks.append(asyncio.create_task(server.serve(), name=f"{name}-http"))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("%s ready on http://%s:%s", name, settings.http_host, settings.http_port)

    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopper and t.exception() is not None]
    for t in failed:
        log.error("%s: %s stopped: %r", name, t.get_name(), t.exception())

    log.info("%s shutting down", name)
    server.should_exit = True
    http_task = next(t for t in tasks if t.get_name() == f"{name}-http")
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(http_task), timeout=5)
    if worker is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(worker.shutdown(), timeout=15)
    for t in [*tasks, *background]:
        if not t.done():
            t.cancel()
    await asyncio.gather(*tasks, *background, return_exceptions=True)
    with contextlib.suppress(Exception):
        await broker.stop()
    await pool.close()
    if failed:
        raise SystemExit(1)


class _Server(uvicorn.Server):
    """We own SIGTERM: the service's stop event shuts the parts down in order (HTTP, worker, relay), so
    uvicorn must not take the signal handlers for itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _log_background_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background job %s failed: %r", task.get_name(), task.exception())


def run(name: str, **kwargs: Any) -> None:
    event_loop.run(serve(name, **kwargs))
