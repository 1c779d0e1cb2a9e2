"""The operations service process: the read model, the case API and the HTTP front door (port 8000)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.operations import dashboard, frontdoor, routes, subscribers
from shared.infra.process import Runtime, ServiceParts, run

MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> ServiceParts:
    s = rt.settings
    door = frontdoor.FrontDoor({
        "/api/households": s.intake_url,
        "/api/applications": s.intake_url,
        "/api/cases/{id}/decisions": s.approval_url,
        "/api/cases/{id}/escalate": s.approval_url,
        "/api/tasks": s.approval_url,
        "/api/committees": s.approval_url,
        "/api/cases/{id}/documents": s.verification_url,
        "/api/reference-data": s.verification_url,
        "/api/reserves": s.payment_url,
    })
    app = FastAPI(title="doudi", version="1", openapi_url=None,
                  description="兜底 doudi: basic-living relief for people in hardship")
    app.include_router(routes.router)
    dashboard.install(app)  # the dashboard page at /, its files at /static, GET /api/stats[/attention]
    frontdoor.install(app, door)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict:
        from fastapi.openapi.utils import get_openapi

        own = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        return await door.merged_openapi(own)

    subscribers.register(rt.broker, rt.pool)
    return ServiceParts(app=app)


def main() -> None:
    run("operations", schema="operations", migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
