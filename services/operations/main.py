"""The operations service process: the read model, the case API and the HTTP front door (port 8000)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from services.operations import bus_health, frontdoor, metrics, records_routes, routes, session, store, subscribers
from services.operations.activities import OperationsActivities, ensure_sweep_loop
from services.operations.dead_letters import DeadLetterDesk
from services.operations.store import OperationsStore
from shared.infra.api_docs import install_asyncapi
from shared.infra.metrics import add_sources
from shared.infra.process import Runtime, ServiceParts, run
from workflows.stalled_sweep import TASK_QUEUE_OPERATIONS

MIGRATIONS = Path(__file__).parent / "migrations"


def front_door(rt: Runtime, ops: OperationsStore) -> frontdoor.FrontDoor:
    """The routes other services own, by path, and the case region the front door checks first."""
    s = rt.settings

    async def case_region(case_id: str) -> str | None:
        async with ops.read() as conn:
            return await store.case_region(conn, case_id)

    return frontdoor.FrontDoor({
        "/api/households": s.intake_url,
        "/api/applications": s.intake_url,
        "/api/registration-notices": s.intake_url,
        "/api/enrolments": s.intake_url,
        "/api/cases/{id}/assessment": s.intake_url,
        "/api/cases/{id}/home-visit": s.intake_url,
        "/api/cases/{id}/appraisal": s.intake_url,
        "/api/cases/{id}/objections": s.intake_url,
        "/api/public-notices": s.intake_url,
        "/api/public-notices.csv": s.intake_url,
        "/api/public-notices.xlsx": s.intake_url,
        "/api/cases/{id}/decisions": s.approval_url,
        "/api/cases/{id}/escalate": s.approval_url,
        "/api/cases/{id}/decision": s.approval_url,  # the decision record, its letters, reconsideration
        "/api/cases/{id}/decision-letter.pdf": s.approval_url,
        "/api/cases/{id}/approval-form.pdf": s.approval_url,
        "/api/cases/{id}/appeals": s.approval_url,
        "/api/complaints": s.approval_url,
        "/api/tasks": s.approval_url,
        "/api/committees": s.approval_url,
        "/api/officials": s.approval_url,
        "/api/cases/{id}/documents": s.verification_url,
        "/api/reference-data": s.verification_url,
        "/api/reserves": s.payment_url,
        "/api/batches": s.payment_url,
    }, case_region=case_region)


def build(rt: Runtime) -> ServiceParts:
    s = rt.settings
    ops = OperationsStore(rt.pool)
    door = front_door(rt, ops)
    # a session cookie stands in for a bearer token (services/operations/session.py, FrontDoorApp)
    app = session.FrontDoorApp(title="doudi", version="1", openapi_url=None,
                               description="兜底 doudi: basic-living relief for people in hardship")
    app.state.ops = ops
    app.state.dead_letters = DeadLetterDesk(ops, nats_url=s.nats_url, approval_url=s.approval_url,
                                            codec=rt.temporal.data_converter.payload_codec)
    records_routes.install(app, s)  # 家庭档案 and exports
    routes.install(app, door)
    add_sources(app, metrics.sources(ops, s.nats_url))  # /metrics: the front door answers its own
    install_asyncapi(app)  # the bus's contract beside the HTTP one (/docs comes with finish_app)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        from fastapi.openapi.utils import get_openapi

        own = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)
        return await door.merged_openapi(own)

    subscribers.register(rt.broker, rt.pool)
    activities = OperationsActivities(ops, rt.temporal, timedelta(seconds=s.stuck_step_seconds))

    async def schedule_sweep() -> None:
        await ensure_sweep_loop(rt.temporal, timedelta(seconds=s.stall_sweep_seconds))

    async def watch_streams() -> None:
        await bus_health.watch_streams(ops, s.nats_url)

    return ServiceParts(app=app, task_queue=TASK_QUEUE_OPERATIONS, activities=activities.all(),
                        background=[schedule_sweep, watch_streams])


def main() -> None:
    run("operations", schema=store.SCHEMA, migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
