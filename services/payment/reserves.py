"""Township reserve funds (乡镇临时救助备用金) and their replenishment by the county.

Seed 000 (Xinjiang): temporary assistance a township approves on the county's behalf is paid first
from the township's reserve; when the reserve runs short the township applies and the county
civil-affairs and finance departments replenish it. Jiangxi (seed 001) asks for higher reserves.

Rules (one place; the ledger's ``disburse``, the HTTP routes and the tests all go through these):

* A reserve is keyed by its township's region code (9 digits; or a county code, 6 digits, for a
  county-level reserve) and holds ``balance_fen >= 0`` (a CHECK and a row lock). Every change of a
  balance is a ledger row in the same transaction: ``reserve_credit`` in, ``disbursement`` out, so
  ``balance = sum(reserve_credit) - sum(disbursement)`` on the account ``township-reserve:<code>``.
* A payment the balance cannot cover waits (``reserve_waits``): nothing reaches the ledger, and the
  township's one open replenishment request asks for what it needs (``replenishment_need``).
* Every credit stands on an approved amount: a direct funding by finance only up to the reserve's
  configured ``target_fen`` (the county's approved size of the reserve, bounded by the contract's
  ``MAX_RESERVE_TARGET_FEN``), anything more through a replenishment request the county approves (never
  above what the township asked for).
* A credit (finance funding, or the county approving a request) signals ``reserve_available`` to every
  waiting case's workflow once it has committed; the workflow retries ``payment.disburse`` with the
  same idempotency key.
"""

from __future__ import annotations

import logging
import uuid
from typing import Literal

import asyncpg

from services.payment.models import (
    MovementView,
    ReplenishmentDecisionIn,
    ReplenishmentDecisionOut,
    ReplenishmentView,
    ReserveConfigIn,
    ReserveConfigOut,
    ReserveCreditIn,
    ReserveCreditOut,
    ReserveDetail,
    ReserveList,
    ReserveView,
    WaitingPaymentView,
)
from services.payment.reserve_rules import (
    CreditAboveTarget,
    CreditConflict,
    InvalidAccount,
    ReplenishmentNotFound,
    ReplenishmentNotOpen,
    Reserve,
    ReserveNotFound,
    county_of,
    credit_entry_id,
    funding_key,
    replenishment_key,
    replenishment_need,
    reserve_code,
    within_target,
)
from services.payment.reserve_signals import WaitSignaller
from services.payment.store import Conn
from services.payment.store import ledger as ledger_store
from services.payment.store import reserves as store
from shared.auth import Principal
from shared.contracts.activities import TOWNSHIP_RESERVE, account
from shared.infra.db import unit_of_work

__all__ = [  # the rules, importable from here as before the split
    "CreditAboveTarget", "CreditConflict", "InvalidAccount", "ReplenishmentNotFound",
    "ReplenishmentNotOpen", "Reserve", "ReserveNotFound", "ReserveService", "county_of", "credit", "credit_entry_id",
    "credited_before", "debit", "drop_wait", "funding_key", "lock_reserve", "record_wait",
    "replenishment_key", "replenishment_need", "reserve_code", "reserve_view", "sync_replenishment", "waiting_fen",
    "within_target",
]

log = logging.getLogger(__name__)

MOVEMENTS_SHOWN = 50


# -- operations inside the caller's transaction ----------------------------------------------------

async def lock_reserve(conn: Conn, code: str, *, create: bool) -> tuple[Reserve, bool] | None:
    """Lock the reserve's row for the rest of the transaction (``SELECT ... FOR UPDATE``): every change
    to a reserve's balance, waits and requests happens under this lock, so concurrent payments are
    serialised per reserve. With ``create`` a missing reserve is created empty (threshold and target 0).
    Returns the reserve and whether it was created, or None when it does not exist."""
    row = await store.lock(conn, code)
    if row is not None:
        return Reserve.of(row), False
    if not create:
        return None
    created = await store.create(conn, code, county_of(code))
    row = await store.lock(conn, code)
    assert row is not None
    return Reserve.of(row), created


async def waiting_fen(conn: Conn, code: str) -> int:
    return await store.waiting_fen(conn, code)


async def sync_replenishment(conn: Conn, reserve: Reserve) -> str | None:
    """Open, or bring up to date, the township's one open replenishment request so that it asks for
    ``replenishment_need``; returns the open request's id (None when there is none). A request that is
    no longer needed is left open as it is: the county may still decide it. Call under the lock."""
    need = replenishment_need(balance_fen=reserve.balance_fen, threshold_fen=reserve.threshold_fen,
                              target_fen=reserve.target_fen,
                              waiting_fen=await waiting_fen(conn, reserve.township_code))
    current = await store.open_request(conn, reserve.township_code, for_update=True)
    if need <= 0:
        return current["request_id"] if current else None
    if current is None:
        request_id = f"rr-{uuid.uuid4().hex[:24]}"
        await store.insert_request(conn, request_id, reserve.township_code, need)
        log.info("reserve %s: replenishment %s opened for %s fen", reserve.township_code, request_id, need)
    else:
        request_id = current["request_id"]
        if current["amount_fen"] != need:
            await store.set_request_amount(conn, request_id, need)
    await store.attach_waits(conn, reserve.township_code, request_id)
    return request_id


async def record_wait(conn: Conn, reserve: Reserve, *, idempotency_key: str, case_id: str,
                      amount_fen: int) -> tuple[str, asyncpg.Record]:
    """The payment cannot be covered: keep (or refresh) its wait row and the replenishment request.
    A wait that was signalled and came back still short is un-signalled, so the next credit tells it
    again. Returns the open request's id and the wait row."""
    wait = await store.upsert_wait(conn, idempotency_key=idempotency_key, case_id=case_id,
                                   code=reserve.township_code, amount_fen=amount_fen)
    request_id = await sync_replenishment(conn, reserve)
    assert request_id is not None, "a payment the reserve cannot cover always needs a replenishment"
    return request_id, wait


async def drop_wait(conn: Conn, idempotency_key: str) -> None:
    await store.drop_wait(conn, idempotency_key)


async def debit(conn: Conn, reserve: Reserve, *, idempotency_key: str, amount_fen: int) -> str | None:
    """Take a payment out of the locked reserve (its ledger row is the caller's), and ask the county for
    more if that leaves it below its threshold. Returns the open request's id, if any."""
    reserve.balance_fen = await store.add_to_balance(conn, reserve.township_code, -amount_fen)
    await drop_wait(conn, idempotency_key)
    return await sync_replenishment(conn, reserve)


async def credited_before(conn: Conn, idempotency_key: str) -> bool:
    return await ledger_store.has_key(conn, idempotency_key)


async def credit(conn: Conn, reserve: Reserve, *, idempotency_key: str, amount_fen: int,
                 reference: str | None, note: str, recorded_by: str) -> tuple[asyncpg.Record, bool]:
    """Put money into the locked reserve: a ``reserve_credit`` ledger row and the balance, together.
    Idempotent by key; returns the ledger row and whether it was there before."""
    existing = await ledger_store.by_key(conn, idempotency_key)
    if existing is not None:
        if (existing["kind"], existing["account"], existing["amount_fen"]) != (
                "reserve_credit", reserve.account, amount_fen):
            raise CreditConflict(
                f"idempotency key {idempotency_key} was already used for {existing['kind']} of "
                f"{existing['amount_fen']} fen on {existing['account']}")
        return existing, True
    row = await ledger_store.insert_credit(
        conn, entry_id=credit_entry_id(idempotency_key), idempotency_key=idempotency_key,
        region_code=reserve.township_code, account=reserve.account, amount_fen=amount_fen, reference=reference,
        note=note, recorded_by=recorded_by)
    reserve.balance_fen = await store.add_to_balance(conn, reserve.township_code, amount_fen)
    return row, False


# -- views -----------------------------------------------------------------------------------------

def _movement(row: asyncpg.Record) -> MovementView:
    direction: Literal["in", "out", "claim"] = (
        "out" if row["kind"] == "disbursement" else "in" if row["kind"] == "reserve_credit" else "claim")
    return MovementView(entry_seq=row["entry_seq"], entry_id=row["payment_id"], kind=row["kind"],
                        direction=direction, amount_fen=row["amount_fen"],
                        idempotency_key=row["idempotency_key"], case_id=row["case_id"],
                        person_id=row["person_id"], reference=row["reference"], note=row["note"],
                        recorded_by=row["recorded_by"], created_at=row["created_at"])


def _request(row: asyncpg.Record) -> ReplenishmentView:
    return ReplenishmentView(**{k: row[k] for k in ReplenishmentView.model_fields})


def _reserve(row: asyncpg.Record, open_request: asyncpg.Record | None) -> ReserveView:
    return ReserveView(
        township_code=row["township_code"], county_code=row["county_code"],
        account=account(TOWNSHIP_RESERVE, row["township_code"]), balance_fen=row["balance_fen"],
        threshold_fen=row["threshold_fen"], target_fen=row["target_fen"],
        waiting_count=row["waiting_count"], waiting_fen=row["waiting_fen"],
        open_request=_request(open_request) if open_request else None, updated_at=row["updated_at"])


async def reserve_view(conn: Conn, code: str) -> ReserveView | None:
    row = await store.with_waits(conn, code)
    if row is None:
        return None
    return _reserve(row, await store.open_request(conn, code))


# -- the service layer the HTTP routes call ---------------------------------------------------------

class ReserveService(WaitSignaller):
    """Reads and changes of reserves for the routes; after a credit, the waiting cases are told
    (``WaitSignaller``)."""

    # reads

    async def overview(self, jurisdiction: str) -> ReserveList:
        async with self._pool.acquire() as conn:
            rows = await store.in_region(conn, jurisdiction)
            requests = {r["township_code"]: r for r in await store.open_requests(conn, jurisdiction)}
        return ReserveList(items=[_reserve(r, requests.get(r["township_code"])) for r in rows])

    async def detail(self, code: str) -> ReserveDetail:
        async with self._pool.acquire() as conn:
            view = await reserve_view(conn, code)
            if view is None:
                raise ReserveNotFound(code)
            movements = await ledger_store.movements(conn, view.account, MOVEMENTS_SHOWN)
            waiting = await store.waits(conn, code)
            requests = await store.recent_requests(conn, code)
        return ReserveDetail(
            **view.model_dump(), movements=[_movement(m) for m in movements],
            waiting=[WaitingPaymentView(**{k: w[k] for k in WaitingPaymentView.model_fields}) for w in waiting],
            requests=[_request(r) for r in requests])

    async def _current(self, code: str) -> ReserveView:
        """The reserve as it stands after a change committed."""
        async with self._pool.acquire() as conn:
            view = await reserve_view(conn, code)
        assert view is not None
        return view

    # writes

    async def configure(self, code: str, body: ReserveConfigIn) -> ReserveConfigOut:
        """Create the reserve or set its threshold and target (idempotent); a threshold above the balance
        opens a replenishment request at once."""
        async with unit_of_work(self._pool) as conn:
            locked = await lock_reserve(conn, code, create=True)
            assert locked is not None
            reserve, created = locked
            if (reserve.threshold_fen, reserve.target_fen) != (body.threshold_fen, body.target_fen):
                await store.configure(conn, code, threshold_fen=body.threshold_fen, target_fen=body.target_fen)
                reserve.threshold_fen, reserve.target_fen = body.threshold_fen, body.target_fen
            await sync_replenishment(conn, reserve)
            view = await reserve_view(conn, code)
        assert view is not None
        return ReserveConfigOut(created=created, reserve=view)

    async def fund(self, code: str, body: ReserveCreditIn, principal: Principal) -> ReserveCreditOut:
        """Finance puts money into the reserve (idempotent by the caller's key), up to the reserve's
        approved size (``CreditAboveTarget`` beyond it), then every waiting case is told."""
        key = funding_key(body.idempotency_key)
        async with unit_of_work(self._pool) as conn:
            locked = await lock_reserve(conn, code, create=False)
            if locked is None:
                raise ReserveNotFound(code)
            reserve, _ = locked
            # a repeat of a credit already made is answered as before (``credit`` checks it is the same)
            if not await credited_before(conn, key) and not within_target(
                    balance_fen=reserve.balance_fen, amount_fen=body.amount_fen, target_fen=reserve.target_fen):
                raise CreditAboveTarget(reserve, body.amount_fen)
            row, duplicate = await credit(conn, reserve, idempotency_key=key,
                                          amount_fen=body.amount_fen, reference=None, note=body.reason,
                                          recorded_by=principal.subject)
            if not duplicate:
                await sync_replenishment(conn, reserve)
        signalled = await self.signal_waiting(code)
        return ReserveCreditOut(duplicate=duplicate, movement=_movement(row), reserve=await self._current(code),
                                signalled=signalled)

    async def decide(self, code: str, request_id: str, body: ReplenishmentDecisionIn,
                     principal: Principal) -> ReplenishmentDecisionOut:
        """The county decides a replenishment request. Approving credits the reserve (a ledger row) in
        the same transaction as the request's status; only an open request can be decided."""
        movement: asyncpg.Record | None = None
        async with unit_of_work(self._pool) as conn:
            reserve, request = await self._lock_open_request(conn, code, request_id)
            if body.approve:
                movement = await self._grant(conn, reserve, request, body, principal)
            request = await store.decide_request(
                conn, request_id, status="approved" if body.approve else "rejected",
                approved_amount_fen=movement["amount_fen"] if movement else None, decided_by=principal.subject,
                decided_role=str(principal.role), reason=body.reason)
            if body.approve:
                # granted less than needed: the township asks again at once for the rest
                await sync_replenishment(conn, reserve)
        signalled = await self.signal_waiting(code) if body.approve else 0
        return ReplenishmentDecisionOut(request=_request(request),
                                        movement=_movement(movement) if movement else None,
                                        reserve=await self._current(code), signalled=signalled)

    @staticmethod
    async def _lock_open_request(conn: Conn, code: str, request_id: str) -> tuple[Reserve, asyncpg.Record]:
        """The reserve first, then the request, both locked; only the township's own open request."""
        if await store.request_owner(conn, request_id) != code:
            raise ReplenishmentNotFound(request_id)
        locked = await lock_reserve(conn, code, create=False)
        assert locked is not None
        request = await store.lock_request(conn, request_id)
        assert request is not None
        if request["status"] != "open":
            raise ReplenishmentNotOpen(f"replenishment {request_id} is already {request['status']}")
        return locked[0], request

    @staticmethod
    async def _grant(conn: Conn, reserve: Reserve, request: asyncpg.Record, body: ReplenishmentDecisionIn,
                     principal: Principal) -> asyncpg.Record:
        """Credit what the county grants: a credit only against an approved request, never above what
        the township asked for."""
        request_id = request["request_id"]
        granted = body.amount_fen or request["amount_fen"]
        if granted > request["amount_fen"]:
            raise ReplenishmentNotOpen(f"amount_fen: {granted} fen is more than replenishment {request_id} "
                                       f"asks for ({request['amount_fen']} fen)")
        movement, _ = await credit(conn, reserve, idempotency_key=replenishment_key(request_id),
                                   amount_fen=granted, reference=request_id, note=body.reason,
                                   recorded_by=principal.subject)
        return movement
