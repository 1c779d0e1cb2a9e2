"""The payment service process: the immutable ledger, disbursements, township reserve funds and their
replenishment, recovery claims."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.payment import batch_routes, routes
from services.payment.activities import PaymentActivities
from services.payment.batch import BatchActivities, BatchService
from services.payment.ledger import SCHEMA
from services.payment.periods import PeriodPayments
from services.payment.reserves import ReserveService
from shared.config import TASK_QUEUE_PAYMENT
from shared.infra.process import Runtime, ServiceParts, run

MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> ServiceParts:
    app = FastAPI(title="doudi payment", version="1")
    reserves = ReserveService(rt.pool, rt.temporal)
    app.state.reserves = reserves
    app.include_router(routes.router)
    activities = PaymentActivities(rt.pool)
    batches = BatchService(rt.pool, rt.temporal, intake_url=rt.settings.intake_url, nats_url=rt.settings.nats_url)
    app.state.batches = batches
    app.include_router(batch_routes.router)
    periods = PeriodPayments(rt.pool, intake_url=rt.settings.intake_url)  # monthly benefits of a cycle
    return ServiceParts(app=app, task_queue=TASK_QUEUE_PAYMENT,
                        activities=[activities.disburse, activities.open_recovery, *BatchActivities(batches).all(),
                                    periods.pay_period_roll],
                        background=[reserves.resignal_loop, batches.publish_payment_events])


def main() -> None:
    run("payment", schema=SCHEMA, migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
