"""The approval service process: tiered authority, decisions, separation of duties."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.approval import officials, routes
from services.approval.activities import ApprovalActivities
from shared.config import TASK_QUEUE_APPROVAL
from shared.infra.process import Runtime, ServiceParts, run

MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> ServiceParts:
    app = FastAPI(title="doudi approval", version="1")
    app.include_router(routes.router)
    app.include_router(officials.router)
    activities = ApprovalActivities(rt.pool)
    return ServiceParts(app=app, task_queue=TASK_QUEUE_APPROVAL,
                        activities=[activities.decide_within_authority, activities.record_decision,
                                    activities.open_task, activities.close_task, activities.committee_roster,
                                    activities.record_minutes])


def main() -> None:
    run("approval", schema="approval", migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
