"""Is the process alive, is it ready (存活与就绪): ``GET /healthz`` and ``GET /readyz`` on every service.

``/healthz`` answers 200 without touching anything: the process runs and serves HTTP (a liveness probe
must not restart a service because its database is away). ``/readyz`` checks what the service needs to
do its work (the database, NATS, Temporal), each with a bound, and answers 200 with every check's result,
or 503 naming what is down. Neither asks for a token: probes and load balancers carry none, and neither
says more than "ok" or the kind of error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

Check = Callable[[], Awaitable[object]]  # raises (or answers False) when what it checks is down
CHECK_TIMEOUT_S = 3.0


class Alive(BaseModel):
    service: str
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    service: str
    status: Literal["ready", "not ready"]
    checks: dict[str, str]          # check -> "ok" or the kind of failure
    down: list[str]                 # the checks that failed, in order


async def run_check(check: Check, timeout_s: float) -> str:
    try:
        answer = await asyncio.wait_for(check(), timeout_s)
    except TimeoutError:
        return f"down: no answer within {timeout_s:g} s"
    except Exception as exc:  # what is down is reported, never raised: the probe wants an answer
        return f"down: {type(exc).__name__}"
    return "down: refused" if answer is False else "ok"


async def readiness(service: str, checks: Mapping[str, Check],
                    timeout_s: float = CHECK_TIMEOUT_S) -> Readiness:
    results = await asyncio.gather(*(run_check(c, timeout_s) for c in checks.values()))
    answers = dict(zip(checks, results, strict=True))
    down = [name for name, result in answers.items() if result != "ok"]
    return Readiness(service=service, status="not ready" if down else "ready", checks=answers, down=down)


def add_health_routes(app: FastAPI, service: str, checks: Mapping[str, Check]) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Alive:
        return Alive(service=service)

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        answer = await readiness(service, checks)
        return JSONResponse(answer.model_dump(), status_code=503 if answer.down else 200)
