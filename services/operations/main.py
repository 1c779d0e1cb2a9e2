"""The operations service process: the read model, the case API and the HTTP front door (port 8000)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.operations import admin, bus_health, codec, dashboard, frontdoor, routes, subscribers
from services.operations.activities import OperationsActivities, ensure_sweep_schedule
from shared.infra.process import Runtime, ServiceParts, run
from workflows.stalled_sweep import TASK_QUEUE_OPERATIONS

MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> ServiceParts:
    s = rt.settings
    door = frontdoor.FrontDoor({
        "/api/households": s.intake_url,
        "/api/applications": s.intake_url,
        "/api/enrolments": s.intake_url,
        "/api/cases/{id}/assessment": s.intake_url,
        "/api/cases/{id}/decisions": s.approval_url,
        "/api/cases/{id}/escalate": s.approval_url,
        "/api/tasks": s.approval_url,
        "/api/committees": s.approval_url,
        "/api/officials": s.approval_url,
        "/api/cases/{id}/documents": s.verification_url,
        "/api/reference-data": s.verification_url,
        "/api/reserves": s.payment_url,
        "/api/batches": s.payment_url,
    }, case_region=lambda case_id: _case_region(rt, case_id))
    app = FastAPI(title="doudi", version="1", openapi_url=None,
                  description="兜底 doudi: basic-living relief for people in hardship")
    app.include_router(routes.router)
    app.include_router(admin.router)
    app.include_router(bus_health.router)  # streams, consumers' lag and redeliveries, bus alerts
    app.include_router(codec.router)  # the Temporal UI's remote codec (admin, audited)
    dashboard.install(app)  # the dashboard page at /, its files at /static, GET /api/stats[/attention]
    frontdoor.install(app, door)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict:
        from fastapi.openapi.utils import get_openapi

        own = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        return await door.merged_openapi(own)

    subscribers.register(rt.broker, rt.pool)
    ops = OperationsActivities(rt.pool, rt.temporal, timedelta(seconds=s.stuck_step_seconds))

    async def schedule_sweep() -> None:
        await ensure_sweep_schedule(rt.temporal, timedelta(seconds=s.stall_sweep_seconds))

    async def watch_streams() -> None:
        await bus_health.watch_streams(rt.pool, s.nats_url)

    return ServiceParts(app=app, task_queue=TASK_QUEUE_OPERATIONS, activities=[ops.sweep_stalled],
                        background=[schedule_sweep, watch_streams])


async def _case_region(rt: Runtime, case_id: str) -> str | None:
    async with rt.pool.acquire() as conn:
        return await conn.fetchval("SELECT region_code FROM cases WHERE case_id = $1", case_id)


def main() -> None:
    run("operations", schema="operations", migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
