"""The intake service process: one-window intake, household registry, inbound events, case starts."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake import (
    cohort,
    duties,
    enrolment_routes,
    records_routes,
    residence_routes,
    review_decisions,
    routes,
    subscribers,
)
from services.intake.activities import IntakeActivities
from services.intake.notice_activities import NoticeActivities
from services.intake.roster_service import RosterService
from services.intake.service import IntakeService
from services.intake.store import SCHEMA
from services.intake.store.notices import NoticeBoard
from services.intake.store.records import RecordReads
from shared.config import TASK_QUEUE_INTAKE
from shared.infra.process import Runtime, ServiceParts, run

MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> ServiceParts:
    service = IntakeService(rt.pool, rt.temporal)
    app = FastAPI(title="doudi intake", version="1")
    app.state.intake = service
    app.state.roster = RosterService(rt.pool)  # the roster's reads, exports and import
    app.include_router(routes.router)
    # every family, price included
    subscribers.register(rt.broker, service, pool=rt.pool, temporal=rt.temporal)
    app.include_router(enrolment_routes.router)  # import, monthly cycles, rolls (service accounts)
    app.include_router(review_decisions.router)  # 减发/停发 decided by a review: records and 决定书
    app.include_router(cohort.router)  # the cohort export for batch subsidies (service accounts)
    app.state.records = RecordReads(rt.pool)
    app.include_router(records_routes.router)  # search, roster, recipients for the office's records
    app.include_router(residence_routes.router)  # the registration office's notices (applying where you live)
    app.state.notice_board = board = NoticeBoard(rt.pool)
    app.include_router(duties.router)  # home visit, appraisal, objections, the public notice list
    return ServiceParts(app=app, task_queue=TASK_QUEUE_INTAKE,
                        activities=IntakeActivities(rt.pool, service).all() + NoticeActivities(board).all())


def main() -> None:
    run("intake", schema=SCHEMA, migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
