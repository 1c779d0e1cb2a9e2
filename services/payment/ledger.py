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
from services.payment.store import ledger as store
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
    _faults(req)
    payment_id = payment_id_for(req.idempotency_key)
    township = reserves.reserve_code(req.account)
    with tracer.start_as_current_span("ledger.write", attributes={
        "doudi.case_id": req.case_id, "doudi.payment_id": payment_id, "doudi.amount_fen": req.amount_fen,
        "doudi.account": req.account,
    }) as span:
        async with unit_of_work(pool) as conn:
            if township is None:
                answer = await _pay_from_county_fund(conn, req, payment_id)
            else:
                answer = await _pay_from_reserve(conn, req, payment_id, township)
            if answer.status == "paid" and not answer.duplicate:
                await _stage_disbursed(conn, req, answer)
        if not answer.duplicate:
            span.set_attribute("doudi.payment.status", answer.status)
    if answer.status == "paid" and not answer.duplicate:
        crash_point("payment.after_ledger_commit")
    return answer


def _faults(req: DisbursementRequest) -> None:
    """Fault injection (shared/faults.py): a crash, the bank down, a simulated bug."""
    crash_point("payment.before_ledger_write")
    if fault_active("payment.provider_down"):
        raise ProviderUnavailable("the payment provider (bank interface) is not answering")
    if fault_active("payment.bug_conflict"):  # a simulated bug: fixed by removing it, then a reset
        raise DisbursementConflict(f"simulated bug while paying {req.idempotency_key}")


async def _pay_from_county_fund(conn: asyncpg.Connection, req: DisbursementRequest, payment_id: str) -> Disbursement:
    """No balance limit: the ledger's unique key alone makes it once."""
    row = await store.insert_disbursement(conn, req, payment_id, if_new=True)
    if row is None:
        return await _duplicate(conn, req)
    return _paid(req, payment_id, row, request_id=None)


async def _pay_from_reserve(conn: asyncpg.Connection, req: DisbursementRequest, payment_id: str,
                            township: str) -> Disbursement:
    """Under the reserve's lock: paid before, paid now from the balance, or waiting for a credit."""
    locked = await reserves.lock_reserve(conn, township, create=True)
    assert locked is not None
    reserve, _ = locked
    if await store.has_key(conn, req.idempotency_key):
        await reserves.drop_wait(conn, req.idempotency_key)
        return await _duplicate(conn, req)
    if reserve.balance_fen < req.amount_fen:
        return await _wait_for_reserve(conn, req, payment_id, reserve)
    row = await store.insert_disbursement(conn, req, payment_id, if_new=False)
    assert row is not None
    request_id = await reserves.debit(conn, reserve, idempotency_key=req.idempotency_key, amount_fen=req.amount_fen)
    return _paid(req, payment_id, row, request_id=request_id)


async def _wait_for_reserve(conn: asyncpg.Connection, req: DisbursementRequest, payment_id: str,
                            reserve: reserves.Reserve) -> Disbursement:
    """The balance cannot cover it: nothing on the ledger; the wait and the replenishment request."""
    request_id, wait = await reserves.record_wait(conn, reserve, idempotency_key=req.idempotency_key,
                                                  case_id=req.case_id, amount_fen=req.amount_fen)
    if (wait["case_id"], wait["amount_fen"]) != (req.case_id, req.amount_fen):
        raise DisbursementConflict(
            f"idempotency key {req.idempotency_key} is already waiting to pay "
            f"{wait['amount_fen']} fen for case {wait['case_id']}")
    return Disbursement(payment_id=payment_id, idempotency_key=req.idempotency_key, amount_fen=req.amount_fen,
                        status="waiting_for_reserve", paid_at=None, replenishment_request_id=request_id)


def _paid(req: DisbursementRequest, payment_id: str, row: asyncpg.Record, *, request_id: str | None) -> Disbursement:
    return Disbursement(payment_id=payment_id, idempotency_key=req.idempotency_key, amount_fen=req.amount_fen,
                        paid_at=row["created_at"], replenishment_request_id=request_id)


async def _stage_disbursed(conn: asyncpg.Connection, req: DisbursementRequest, paid: Disbursement) -> None:
    """``doudi.payment.disbursed`` into the outbox, in the payment's transaction."""
    event_id = f"{paid.payment_id}:disbursed"
    assert paid.paid_at is not None
    data = PaymentEventData(case_id=req.case_id, pathway=req.pathway, payment_id=paid.payment_id,
                            amount_fen=req.amount_fen, person_id=req.person_id, installment=req.installment,
                            source_account=req.account, cause_event_id=req.cause_event_id, paid_at=paid.paid_at,
                            region_code=req.region_code, measure=req.measure)
    await add_to_outbox(conn, schema=SCHEMA, event_id=event_id, subject=PAYMENT_DISBURSED,
                        payload=domain_cloudevent(PAYMENT_DISBURSED, event_id, data, source=SOURCE,
                                                  time=paid.paid_at))


async def _duplicate(conn: asyncpg.Connection, req: DisbursementRequest) -> Disbursement:
    """The key was paid before: that payment, if it is the same one (a different one is a bug)."""
    existing = await store.by_key(conn, req.idempotency_key)
    assert existing is not None
    if (existing["kind"], existing["case_id"], existing["amount_fen"]) != (
            "disbursement", req.case_id, req.amount_fen):
        raise DisbursementConflict(
            f"idempotency key {req.idempotency_key} already paid {existing['amount_fen']} fen "
            f"for case {existing['case_id']}")
    return Disbursement(payment_id=existing["payment_id"], idempotency_key=req.idempotency_key,
                        amount_fen=existing["amount_fen"], paid_at=existing["created_at"], duplicate=True)
