"""The payment service process: the immutable ledger, disbursements, township reserve funds and their
replenishment, recovery claims, batch subsidies and monthly rolls."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.payment import batch_routes, ledger_routes, metrics, routes
from services.payment.activities import PaymentActivities
from services.payment.batch.events import PaymentEventPublisher
from services.payment.batch.load import CohortLoader
from services.payment.batch.pay import ChunkPayer
from services.payment.batch.service import BatchService
from services.payment.ledger import SCHEMA
from services.payment.periods import PeriodPayments
from services.payment.reserves import ReserveService
from services.payment.store.ledger_reads import LedgerRecords
from shared.config import TASK_QUEUE_PAYMENT
from shared.infra.metrics import add_sources
from shared.infra.process import Runtime, ServiceParts, run
from shared.policy import load_library

MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> ServiceParts:
    lib = load_library()
    app = FastAPI(title="doudi payment", version="1")
    reserves = ReserveService(rt.pool, rt.temporal)
    batches = BatchService(rt.pool, rt.temporal, lib)
    app.state.reserves = reserves
    app.state.batches = batches
    app.include_router(routes.router)
    app.include_router(batch_routes.router)
    app.state.ledger_records = LedgerRecords(rt.pool)
    app.include_router(ledger_routes.router)  # the ledger for the office's records (service accounts)
    add_sources(app, metrics.sources(rt.pool))
    activities = PaymentActivities(
        rt.pool, batches=batches, cohorts=CohortLoader(rt.pool, lib, intake_url=rt.settings.intake_url),
        chunks=ChunkPayer(rt.pool), periods=PeriodPayments(rt.pool, intake_url=rt.settings.intake_url))
    events = PaymentEventPublisher(rt.pool, nats_url=rt.settings.nats_url)
    return ServiceParts(app=app, task_queue=TASK_QUEUE_PAYMENT, activities=activities.all(),
                        background=[reserves.resignal_loop, events.publish_payment_events])


def main() -> None:
    run("payment", schema=SCHEMA, migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
