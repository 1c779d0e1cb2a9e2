"""Recovery claims (追回): aid paid to someone later found not entitled to it is claimed back.

One claim per case (idempotency key ``recovery:<case_id>``). Opening it writes, in one transaction,
the ``recovery_claims`` row, a ledger row of kind ``recovery_claim`` (a receivable owed back to the
account the original payment came from: it moves no balance) and the outbox event
``doudi.payment.recovery_opened``.
"""

from __future__ import annotations

import hashlib

import asyncpg
from opentelemetry import trace
from temporalio.exceptions import ApplicationError

from services.payment.ledger import SCHEMA, SOURCE
from services.payment.models import RecoveryOpenedData
from services.payment.store import ledger as ledger_store
from services.payment.store import recovery as store
from shared.contracts.activities import RecoveryClaim, RecoveryRequest
from shared.contracts.domain_events import PAYMENT_RECOVERY_OPENED, domain_cloudevent
from shared.infra.db import unit_of_work
from shared.infra.outbox import add_to_outbox

tracer = trace.get_tracer("doudi.payment")


def recovery_key(case_id: str) -> str:
    return f"recovery:{case_id}"


def claim_id_for(case_id: str) -> str:
    return "rc-" + hashlib.sha256(recovery_key(case_id).encode()).hexdigest()[:24]


class RecoveryRejected(ApplicationError):
    """A claim that cannot be opened as asked (unknown payment, another case's payment, more than was
    paid, a different claim already open for the case): a bug in the caller, never retried."""

    def __init__(self, message: str):
        super().__init__(message, type="RecoveryRejected", non_retryable=True)


async def open_recovery(pool: asyncpg.Pool, req: RecoveryRequest) -> RecoveryClaim:
    """Open the case's one claim, or answer the one it has (a different claim for the case is refused)."""
    claim_id = claim_id_for(req.case_id)
    with tracer.start_as_current_span("recovery.open", attributes={
        "doudi.case_id": req.case_id, "doudi.claim_id": claim_id, "doudi.amount_fen": req.amount_fen,
    }):
        async with unit_of_work(pool) as conn:
            existing = await store.claim_of(conn, req.case_id)
            if existing is not None:
                return _same_claim(existing, req)
            paid = await _payment_to_recover(conn, req)
            claim = await store.insert_claim(conn, claim_id, req, account=paid["account"])
            if claim is None:  # opened concurrently by another attempt
                raced = await store.claim_of(conn, req.case_id)
                assert raced is not None
                return _same_claim(raced, req)
            await store.insert_ledger_claim(conn, claim=claim, key=recovery_key(req.case_id), req=req, paid=paid)
            await _stage_opened(conn, req, claim, paid)
    return RecoveryClaim(claim_id=claim_id, case_id=req.case_id, amount_fen=req.amount_fen,
                         opened_at=claim["opened_at"])


async def _payment_to_recover(conn: asyncpg.Connection, req: RecoveryRequest) -> asyncpg.Record:
    """The case's own payment to this person, paid at least the amount claimed back."""
    paid = await ledger_store.disbursement(conn, req.original_payment_id)
    if paid is None:
        raise RecoveryRejected(f"payment {req.original_payment_id} is not in the ledger")
    if paid["case_id"] != req.case_id or paid["person_id"] != req.person_id:
        raise RecoveryRejected(
            f"payment {req.original_payment_id} was made for another case or person")
    if req.amount_fen > paid["amount_fen"]:
        raise RecoveryRejected(
            f"cannot claim back {req.amount_fen} fen of a payment of {paid['amount_fen']} fen")
    return paid


async def _stage_opened(conn: asyncpg.Connection, req: RecoveryRequest, claim: asyncpg.Record,
                        paid: asyncpg.Record) -> None:
    """``doudi.payment.recovery_opened`` into the outbox, in the claim's transaction."""
    claim_id = claim["claim_id"]
    event_id = f"{claim_id}:recovery_opened"
    data = RecoveryOpenedData(
        case_id=req.case_id, pathway=req.pathway, payment_id=req.original_payment_id,
        claim_id=claim_id, amount_fen=req.amount_fen, person_id=req.person_id,
        region_code=req.region_code, source_account=paid["account"], reason=req.reason,
        decided_by=req.decided_by, cause_event_id=paid["cause_event_id"], opened_at=claim["opened_at"])
    await add_to_outbox(conn, schema=SCHEMA, event_id=event_id, subject=PAYMENT_RECOVERY_OPENED,
                        payload=domain_cloudevent(PAYMENT_RECOVERY_OPENED, event_id, data, source=SOURCE,
                                                  time=claim["opened_at"]))


def _same_claim(existing: asyncpg.Record, req: RecoveryRequest) -> RecoveryClaim:
    if (existing["amount_fen"], existing["original_payment_id"]) != (req.amount_fen, req.original_payment_id):
        raise RecoveryRejected(
            f"case {req.case_id} already has claim {existing['claim_id']} for {existing['amount_fen']} fen "
            f"of payment {existing['original_payment_id']}")
    return RecoveryClaim(claim_id=existing["claim_id"], case_id=existing["case_id"],
                         amount_fen=existing["amount_fen"], opened_at=existing["opened_at"], duplicate=True)
