"""The payment service process: the immutable ledger and disbursements."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.payment.activities import PaymentActivities
from services.payment.ledger import SCHEMA
from shared.config import TASK_QUEUE_PAYMENT
from shared.infra.process import Runtime, ServiceParts, run

MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> ServiceParts:
    app = FastAPI(title="doudi payment", version="1")
    activities = PaymentActivities(rt.pool)
    return ServiceParts(app=app, task_queue=TASK_QUEUE_PAYMENT, activities=[activities.disburse])


def main() -> None:
    run("payment", schema=SCHEMA, migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
