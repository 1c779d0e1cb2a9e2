"""The payment ledger and disbursement (schema ``payment``).

The ledger is append-only (a trigger refuses UPDATE and DELETE); every amount is positive and its
``kind`` gives the direction relative to ``account`` (migration 002): ``disbursement`` out of the
account, ``reserve_credit`` into it, ``recovery_claim`` owed back to it.
"""

from __future__ import annotations

import hashlib

import asyncpg
from opentelemetry import trace
from temporalio.exceptions import ApplicationError

from services.payment import reserves
from shared.contracts.activities import Disbursement, DisbursementRequest
from shared.contracts.domain_events import PAYMENT_DISBURSED, PaymentEventData, domain_cloudevent
from shared.faults import crash_point, fault_active
from shared.infra.db import unit_of_work
from shared.infra.outbox import add_to_outbox

SCHEMA = "payment"
SOURCE = "urn:doudi:payment"
tracer = trace.get_tracer("doudi.payment")


def payment_id_for(idempotency_key: str) -> str:
    return "pay-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


class ProviderUnavailable(Exception):
    """The bank interface is down: the activity fails and Temporal retries it (same key)."""


class DisbursementConflict(ApplicationError):
    """The same idempotency key was used for a different payment: a bug, never retried."""

    def __init__(self, message: str):
        super().__init__(message, type="DisbursementConflict", non_retryable=True)


async def disburse(pool: asyncpg.Pool, req: DisbursementRequest) -> Disbursement:
    """Record the payment and stage ``doudi.payment.disbursed`` in one transaction; a second call with
    the same idempotency key returns the first payment and writes nothing.

    From a township reserve (``township-reserve:<code>``) the reserve's row is locked for the whole
    transaction (created empty if missing) and:

    * the key was paid before: that payment, ``duplicate=True`` (and any wait row for it is dropped);
    * the balance covers the amount: debit it, write the ledger row and the outbox event, drop the
      wait row; a balance left below the threshold opens (or tops up) the replenishment request;
    * otherwise: nothing reaches the ledger; the payment is kept in ``reserve_waits``, the township's one
      open replenishment request asks for what it needs, and the answer is
      ``status="waiting_for_reserve"`` with that request's id. A credit later signals
      ``reserve_available`` to the case's workflow, which calls again with the same key.

    The county fund (``county-fund:<county>``) pays without a balance limit.
    """
    crash_point("payment.before_ledger_write")
    if fault_active("payment.provider_down"):
        raise ProviderUnavailable("the payment provider (bank interface) is not answering")
    if fault_active("payment.bug_conflict"):  # a simulated bug: fixed by removing it, then a reset
        raise DisbursementConflict(f"simulated bug while paying {req.idempotency_key}")
    payment_id = payment_id_for(req.idempotency_key)
    township = reserves.reserve_code(req.account)
    with tracer.start_as_current_span("ledger.write", attributes={
        "doudi.case_id": req.case_id, "doudi.payment_id": payment_id, "doudi.amount_fen": req.amount_fen,
        "doudi.account": req.account,
    }) as span:
        request_id: str | None = None
        async with unit_of_work(pool) as conn:
            if township is None:
                row = await _insert_disbursement(conn, req, payment_id, if_new=True)
                if row is None:
                    return await _duplicate(conn, req)
            else:
                locked = await reserves.lock_reserve(conn, township, create=True)
                assert locked is not None
                reserve, _ = locked
                if await conn.fetchval("SELECT 1 FROM ledger WHERE idempotency_key = $1", req.idempotency_key):
                    await reserves.drop_wait(conn, req.idempotency_key)
                    return await _duplicate(conn, req)
                if reserve.balance_fen < req.amount_fen:
                    request_id, wait = await reserves.record_wait(
                        conn, reserve, idempotency_key=req.idempotency_key, case_id=req.case_id,
                        amount_fen=req.amount_fen)
                    if (wait["case_id"], wait["amount_fen"]) != (req.case_id, req.amount_fen):
                        raise DisbursementConflict(
                            f"idempotency key {req.idempotency_key} is already waiting to pay "
                            f"{wait['amount_fen']} fen for case {wait['case_id']}")
                    span.set_attribute("doudi.payment.status", "waiting_for_reserve")
                    return Disbursement(payment_id=payment_id, idempotency_key=req.idempotency_key,
                                        amount_fen=req.amount_fen, status="waiting_for_reserve", paid_at=None,
                                        replenishment_request_id=request_id)
                row = await _insert_disbursement(conn, req, payment_id, if_new=False)
                assert row is not None
                request_id = await reserves.debit(conn, reserve, idempotency_key=req.idempotency_key,
                                                  amount_fen=req.amount_fen)
            event_id = f"{payment_id}:disbursed"
            data = PaymentEventData(case_id=req.case_id, pathway=req.pathway, payment_id=payment_id,
                                    amount_fen=req.amount_fen, person_id=req.person_id,
                                    installment=req.installment, source_account=req.account,
                                    cause_event_id=req.cause_event_id, paid_at=row["created_at"],
                                    region_code=req.region_code, measure=req.measure)
            await add_to_outbox(conn, schema=SCHEMA, event_id=event_id, subject=PAYMENT_DISBURSED,
                                payload=domain_cloudevent(PAYMENT_DISBURSED, event_id, data, source=SOURCE,
                                                          time=row["created_at"]))
        span.set_attribute("doudi.payment.status", "paid")
    crash_point("payment.after_ledger_commit")
    return Disbursement(payment_id=payment_id, idempotency_key=req.idempotency_key,
                        amount_fen=req.amount_fen, paid_at=row["created_at"],
                        replenishment_request_id=request_id)


async def _insert_disbursement(conn: asyncpg.Connection, req: DisbursementRequest, payment_id: str, *,
                               if_new: bool) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        INSERT INTO ledger (payment_id, idempotency_key, kind, case_id, pathway, person_id, household_id,
                            region_code, measure, account, amount_fen, installment, cause_event_id)
        VALUES ($1, $2, 'disbursement', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        """ + ("ON CONFLICT (idempotency_key) DO NOTHING" if if_new else "") + """
        RETURNING payment_id, amount_fen, created_at
        """,
        payment_id, req.idempotency_key, req.case_id, req.pathway, req.person_id, req.household_id,
        req.region_code, req.measure, req.account, req.amount_fen, req.installment, req.cause_event_id,
    )


async def _duplicate(conn: asyncpg.Connection, req: DisbursementRequest) -> Disbursement:
    existing = await conn.fetchrow(
        "SELECT payment_id, kind, case_id, amount_fen, created_at FROM ledger WHERE idempotency_key = $1",
        req.idempotency_key)
    if (existing["kind"], existing["case_id"], existing["amount_fen"]) != (
            "disbursement", req.case_id, req.amount_fen):
        raise DisbursementConflict(
            f"idempotency key {req.idempotency_key} already paid {existing['amount_fen']} fen "
            f"for case {existing['case_id']}")
    return Disbursement(payment_id=existing["payment_id"], idempotency_key=req.idempotency_key,
                        amount_fen=existing["amount_fen"], paid_at=existing["created_at"], duplicate=True)
