"""The payment ledger and disbursement (schema ``payment``)."""

from __future__ import annotations

import hashlib

import asyncpg
from opentelemetry import trace
from temporalio.exceptions import ApplicationError

from shared.contracts.activities import Disbursement, DisbursementRequest
from shared.contracts.domain_events import PAYMENT_DISBURSED, PaymentEventData, domain_cloudevent
from shared.faults import crash_point
from shared.infra.db import unit_of_work
from shared.infra.outbox import add_to_outbox

SCHEMA = "payment"
SOURCE = "urn:doudi:payment"
tracer = trace.get_tracer("doudi.payment")


def payment_id_for(idempotency_key: str) -> str:
    return "pay-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


class DisbursementConflict(ApplicationError):
    """The same idempotency key was used for a different payment: a bug, never retried."""

    def __init__(self, message: str):
        super().__init__(message, type="DisbursementConflict", non_retryable=True)


async def disburse(pool: asyncpg.Pool, req: DisbursementRequest) -> Disbursement:
    """Record the payment and stage ``doudi.payment.disbursed`` in one transaction; a second call with
    the same idempotency key returns the first payment and writes nothing."""
    crash_point("payment.before_ledger_write")
    payment_id = payment_id_for(req.idempotency_key)
    with tracer.start_as_current_span("ledger.write", attributes={
        "doudi.case_id": req.case_id, "doudi.payment_id": payment_id, "doudi.amount_fen": req.amount_fen,
    }):
        async with unit_of_work(pool) as conn:
            row = await conn.fetchrow(
                """
                INSERT INTO ledger (payment_id, idempotency_key, case_id, pathway, person_id, household_id,
                                    region_code, measure, account, amount_fen, installment, cause_event_id)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                ON CONFLICT (idempotency_key) DO NOTHING
                RETURNING payment_id, amount_fen, created_at
                """,
                payment_id, req.idempotency_key, req.case_id, req.pathway, req.person_id, req.household_id,
                req.region_code, req.measure, req.account, req.amount_fen, req.installment, req.cause_event_id,
            )
            if row is None:
                existing = await conn.fetchrow(
                    "SELECT payment_id, case_id, amount_fen, created_at FROM ledger WHERE idempotency_key = $1",
                    req.idempotency_key)
                if existing["case_id"] != req.case_id or existing["amount_fen"] != req.amount_fen:
                    raise DisbursementConflict(
                        f"idempotency key {req.idempotency_key} already paid {existing['amount_fen']} fen "
                        f"for case {existing['case_id']}")
                return Disbursement(payment_id=existing["payment_id"], idempotency_key=req.idempotency_key,
                                    amount_fen=existing["amount_fen"], paid_at=existing["created_at"],
                                    duplicate=True)
            event_id = f"{payment_id}:disbursed"
            data = PaymentEventData(case_id=req.case_id, pathway=req.pathway, payment_id=payment_id,
                                    amount_fen=req.amount_fen, person_id=req.person_id,
                                    installment=req.installment, source_account=req.account,
                                    cause_event_id=req.cause_event_id, paid_at=row["created_at"],
                                    region_code=req.region_code, measure=req.measure)
            await add_to_outbox(conn, schema=SCHEMA, event_id=event_id, subject=PAYMENT_DISBURSED,
                                payload=domain_cloudevent(PAYMENT_DISBURSED, event_id, data, source=SOURCE,
                                                          time=row["created_at"]))
    crash_point("payment.after_ledger_commit")
    return Disbursement(payment_id=payment_id, idempotency_key=req.idempotency_key,
                        amount_fen=req.amount_fen, paid_at=row["created_at"])
