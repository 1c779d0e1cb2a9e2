"""The approval service process: tiered authority, decisions, separation of duties."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.approval import appeals, officials, routes
from services.approval.activities import ApprovalActivities
from services.approval.store import SCHEMA, ApprovalStore
from services.approval.store_decisions import DecisionsStore
from shared.config import TASK_QUEUE_APPROVAL
from shared.infra.process import Runtime, ServiceParts, run

MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> ServiceParts:
    app = FastAPI(title="doudi approval", version="1")
    app.include_router(routes.router)
    app.include_router(officials.router)
    app.include_router(appeals.router)  # decision records, letters, reconsideration, complaints
    app.state.decisions = DecisionsStore(rt.pool)
    app.state.store = store = ApprovalStore(rt.pool)
    return ServiceParts(app=app, task_queue=TASK_QUEUE_APPROVAL, activities=ApprovalActivities(store).all())


def main() -> None:
    run("approval", schema=SCHEMA, migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
