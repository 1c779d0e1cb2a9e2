"""The office's records on the front door (家庭档案 and exports), registered in one place: their routers
and the client they read intake, payment and approval through."""

from __future__ import annotations

from fastapi import FastAPI

from services.operations import exports, household_files
from services.operations.records_client import RecordsClient
from shared.config import Settings


def install(app: FastAPI, settings: Settings) -> None:
    app.state.records = RecordsClient(intake_url=settings.intake_url, payment_url=settings.payment_url,
                                      approval_url=settings.approval_url)
    app.include_router(household_files.router)  # GET /api/household-files[?q=|/{household_id}]
    app.include_router(exports.router)          # GET /api/exports/{kind}.{xlsx|csv}
