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

import asyncio
import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

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
from shared.auth import Principal
from shared.contracts.activities import SIGNAL_RESERVE_AVAILABLE, TOWNSHIP_RESERVE, account
from shared.infra.db import unit_of_work

log = logging.getLogger(__name__)

RESERVE_PREFIX = f"{TOWNSHIP_RESERVE}:"
_CODE = re.compile(r"[0-9]{6}(?:[0-9]{3})?")
MOVEMENTS_SHOWN = 50
SIGNAL_CONCURRENCY = 16
RESIGNAL_INTERVAL_S = 5.0      # how often the sweep looks for waits to signal again
RESIGNAL_AFTER_S = 10.0        # x attempts so far: how long a signalled wait may sit before the next signal
NOT_RUNNING = "workflow not found"


# -- errors ----------------------------------------------------------------------------------------

class InvalidAccount(ApplicationError):
    """A disbursement names a reserve account that cannot exist: a bug in the caller, never retried."""

    def __init__(self, message: str):
        super().__init__(message, type="InvalidAccount", non_retryable=True)


class ReserveNotFound(LookupError):
    pass


class ReplenishmentNotFound(LookupError):
    pass


class ReplenishmentNotOpen(Exception):
    pass


class CreditConflict(Exception):
    """The same credit key was used for a different credit."""


class CreditAboveTarget(Exception):
    """A direct funding would take the balance above the reserve's approved size (its target): money
    beyond it goes in only through a replenishment request the county approves."""

    def __init__(self, reserve: Reserve, amount_fen: int):
        room = max(reserve.target_fen - reserve.balance_fen, 0)
        super().__init__(
            f"直接拨付后余额 {reserve.balance_fen + amount_fen} 分将超过备用金核定额度 {reserve.target_fen} 分"
            f"（最多可拨 {room} 分）；超出部分请通过补充申请，由县级财政部门审批 / amount_fen: a direct funding "
            f"of {amount_fen} fen would take the balance of reserve {reserve.township_code} to "
            f"{reserve.balance_fen + amount_fen} fen, above its approved size (target_fen {reserve.target_fen} "
            f"fen; at most {room} fen now): use a replenishment request, which the county approves")


# -- pure rules ------------------------------------------------------------------------------------

def is_reserve_code(code: str) -> bool:
    return _CODE.fullmatch(code) is not None


def reserve_code(account_name: str) -> str | None:
    """The region code of a ``township-reserve:<code>`` account; None for any other account (the county
    fund pays without a balance limit)."""
    if not account_name.startswith(RESERVE_PREFIX):
        return None
    code = account_name[len(RESERVE_PREFIX):]
    if not is_reserve_code(code):
        raise InvalidAccount(f"{account_name!r}: a reserve is keyed by a 9-digit township or 6-digit county code")
    return code


def county_of(code: str) -> str:
    return code[:6]


def replenishment_need(*, balance_fen: int, threshold_fen: int, target_fen: int, waiting_fen: int) -> int:
    """What the township asks the county for; 0 when it need not ask.

    It asks when the balance is below its threshold or cannot cover the payments waiting for it, and
    then for enough to pay every waiting payment and be back at its target afterwards:
    ``target - balance + waiting``, never less than the shortfall ``waiting - balance``.
    """
    shortfall = waiting_fen - balance_fen
    if balance_fen >= threshold_fen and shortfall <= 0:
        return 0
    return max(target_fen - balance_fen + waiting_fen, shortfall, 0)


def within_target(*, balance_fen: int, amount_fen: int, target_fen: int) -> bool:
    """A direct funding stands on the reserve's approved size: it may bring the balance up to the target
    the county configured, never above (more is a replenishment request, approved by the county)."""
    return balance_fen + amount_fen <= target_fen


def credit_entry_id(idempotency_key: str) -> str:
    return "cr-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


def funding_key(caller_key: str) -> str:
    return f"fund:{caller_key}"


def replenishment_key(request_id: str) -> str:
    return f"replenish:{request_id}"


# -- store operations inside the caller's transaction ---------------------------------------------

@dataclass
class Reserve:
    township_code: str
    county_code: str
    balance_fen: int
    threshold_fen: int
    target_fen: int
    updated_at: datetime

    @property
    def account(self) -> str:
        return account(TOWNSHIP_RESERVE, self.township_code)

    @classmethod
    def of(cls, row: asyncpg.Record) -> Reserve:
        return cls(township_code=row["township_code"], county_code=row["county_code"],
                   balance_fen=row["balance_fen"], threshold_fen=row["threshold_fen"],
                   target_fen=row["target_fen"], updated_at=row["updated_at"])


async def lock_reserve(conn: asyncpg.Connection, code: str, *, create: bool) -> tuple[Reserve, bool] | None:
    """Lock the reserve's row for the rest of the transaction (``SELECT ... FOR UPDATE``): every change
    to a reserve's balance, waits and requests happens under this lock, so concurrent payments are
    serialised per reserve. With ``create`` a missing reserve is created empty (threshold and target 0).
    Returns the reserve and whether it was created, or None when it does not exist."""
    row = await conn.fetchrow("SELECT * FROM reserve_accounts WHERE township_code = $1 FOR UPDATE", code)
    if row is not None:
        return Reserve.of(row), False
    if not create:
        return None
    created = await conn.fetchrow(
        "INSERT INTO reserve_accounts (township_code, county_code) VALUES ($1, $2)"
        " ON CONFLICT (township_code) DO NOTHING RETURNING township_code", code, county_of(code))
    row = await conn.fetchrow("SELECT * FROM reserve_accounts WHERE township_code = $1 FOR UPDATE", code)
    return Reserve.of(row), created is not None


async def waiting_fen(conn: asyncpg.Connection, code: str) -> int:
    return await conn.fetchval(
        "SELECT coalesce(sum(amount_fen), 0) FROM reserve_waits WHERE township_code = $1", code)


async def sync_replenishment(conn: asyncpg.Connection, reserve: Reserve) -> str | None:
    """Open, or bring up to date, the township's one open replenishment request so that it asks for
    ``replenishment_need``; returns the open request's id (None when there is none). A request that is
    no longer needed is left open as it is: the county may still decide it. Call under the lock."""
    need = replenishment_need(balance_fen=reserve.balance_fen, threshold_fen=reserve.threshold_fen,
                              target_fen=reserve.target_fen,
                              waiting_fen=await waiting_fen(conn, reserve.township_code))
    current = await conn.fetchrow(
        "SELECT request_id, amount_fen FROM replenishment_requests"
        " WHERE township_code = $1 AND status = 'open' FOR UPDATE", reserve.township_code)
    if need <= 0:
        return current["request_id"] if current else None
    if current is None:
        request_id = f"rr-{uuid.uuid4().hex[:24]}"
        await conn.execute(
            "INSERT INTO replenishment_requests (request_id, township_code, amount_fen) VALUES ($1, $2, $3)",
            request_id, reserve.township_code, need)
        log.info("reserve %s: replenishment %s opened for %s fen", reserve.township_code, request_id, need)
    else:
        request_id = current["request_id"]
        if current["amount_fen"] != need:
            await conn.execute(
                "UPDATE replenishment_requests SET amount_fen = $2, updated_at = now() WHERE request_id = $1",
                request_id, need)
    await conn.execute(
        "UPDATE reserve_waits SET replenishment_request_id = $2"
        " WHERE township_code = $1 AND replenishment_request_id IS DISTINCT FROM $2",
        reserve.township_code, request_id)
    return request_id


async def record_wait(conn: asyncpg.Connection, reserve: Reserve, *, idempotency_key: str, case_id: str,
                      amount_fen: int) -> tuple[str, asyncpg.Record]:
    """The payment cannot be covered: keep (or refresh) its wait row and the replenishment request.
    A wait that was signalled and came back still short is un-signalled, so the next credit tells it
    again. Returns the open request's id and the wait row."""
    wait = await conn.fetchrow(
        """
        INSERT INTO reserve_waits (idempotency_key, case_id, township_code, amount_fen)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (idempotency_key) DO UPDATE
            SET last_attempt_at = clock_timestamp(), signalled_at = NULL
        RETURNING *
        """,
        idempotency_key, case_id, reserve.township_code, amount_fen)
    request_id = await sync_replenishment(conn, reserve)
    assert request_id is not None, "a payment the reserve cannot cover always needs a replenishment"
    return request_id, wait


async def drop_wait(conn: asyncpg.Connection, idempotency_key: str) -> None:
    await conn.execute("DELETE FROM reserve_waits WHERE idempotency_key = $1", idempotency_key)


async def debit(conn: asyncpg.Connection, reserve: Reserve, *, idempotency_key: str, amount_fen: int) -> str | None:
    """Take a payment out of the locked reserve (its ledger row is the caller's), and ask the county for
    more if that leaves it below its threshold. Returns the open request's id, if any."""
    reserve.balance_fen = await conn.fetchval(
        "UPDATE reserve_accounts SET balance_fen = balance_fen - $2, updated_at = now()"
        " WHERE township_code = $1 RETURNING balance_fen", reserve.township_code, amount_fen)
    await drop_wait(conn, idempotency_key)
    return await sync_replenishment(conn, reserve)


async def credited_before(conn: asyncpg.Connection, idempotency_key: str) -> bool:
    return await conn.fetchval("SELECT 1 FROM ledger WHERE idempotency_key = $1", idempotency_key) is not None


async def credit(conn: asyncpg.Connection, reserve: Reserve, *, idempotency_key: str, amount_fen: int,
                 reference: str | None, note: str, recorded_by: str) -> tuple[asyncpg.Record, bool]:
    """Put money into the locked reserve: a ``reserve_credit`` ledger row and the balance, together.
    Idempotent by key; returns the ledger row and whether it was there before."""
    existing = await conn.fetchrow("SELECT * FROM ledger WHERE idempotency_key = $1", idempotency_key)
    if existing is not None:
        if (existing["kind"], existing["account"], existing["amount_fen"]) != (
                "reserve_credit", reserve.account, amount_fen):
            raise CreditConflict(
                f"idempotency key {idempotency_key} was already used for {existing['kind']} of "
                f"{existing['amount_fen']} fen on {existing['account']}")
        return existing, True
    row = await conn.fetchrow(
        """
        INSERT INTO ledger (payment_id, idempotency_key, kind, region_code, account, amount_fen,
                            reference, note, recorded_by)
        VALUES ($1, $2, 'reserve_credit', $3, $4, $5, $6, $7, $8)
        RETURNING *
        """,
        credit_entry_id(idempotency_key), idempotency_key, reserve.township_code, reserve.account,
        amount_fen, reference, note, recorded_by)
    reserve.balance_fen = await conn.fetchval(
        "UPDATE reserve_accounts SET balance_fen = balance_fen + $2, updated_at = now()"
        " WHERE township_code = $1 RETURNING balance_fen", reserve.township_code, amount_fen)
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


_RESERVE_SQL = """
SELECT r.*, coalesce(w.n, 0) AS waiting_count, coalesce(w.fen, 0) AS waiting_fen
FROM reserve_accounts r
LEFT JOIN (SELECT township_code, count(*) AS n, sum(amount_fen) AS fen
           FROM reserve_waits GROUP BY township_code) w USING (township_code)
"""


def _reserve(row: asyncpg.Record, open_request: asyncpg.Record | None) -> ReserveView:
    return ReserveView(
        township_code=row["township_code"], county_code=row["county_code"],
        account=account(TOWNSHIP_RESERVE, row["township_code"]), balance_fen=row["balance_fen"],
        threshold_fen=row["threshold_fen"], target_fen=row["target_fen"],
        waiting_count=row["waiting_count"], waiting_fen=row["waiting_fen"],
        open_request=_request(open_request) if open_request else None, updated_at=row["updated_at"])


async def reserve_view(conn: asyncpg.Connection, code: str) -> ReserveView | None:
    row = await conn.fetchrow(_RESERVE_SQL + " WHERE r.township_code = $1", code)
    if row is None:
        return None
    open_request = await conn.fetchrow(
        "SELECT * FROM replenishment_requests WHERE township_code = $1 AND status = 'open'", code)
    return _reserve(row, open_request)


# -- the service layer the HTTP routes call ---------------------------------------------------------

class ReserveService:
    def __init__(self, pool: asyncpg.Pool, temporal: Client | None):
        self._pool = pool
        self._temporal = temporal

    # reads

    async def overview(self, jurisdiction: str) -> ReserveList:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                _RESERVE_SQL + " WHERE left(r.township_code, length($1)) = $1 ORDER BY r.township_code",
                jurisdiction)
            requests = {r["township_code"]: r for r in await conn.fetch(
                "SELECT * FROM replenishment_requests WHERE status = 'open'"
                " AND left(township_code, length($1)) = $1", jurisdiction)}
        return ReserveList(items=[_reserve(r, requests.get(r["township_code"])) for r in rows])

    async def detail(self, code: str) -> ReserveDetail:
        async with self._pool.acquire() as conn:
            view = await reserve_view(conn, code)
            if view is None:
                raise ReserveNotFound(code)
            movements = await conn.fetch(
                "SELECT * FROM ledger WHERE account = $1 ORDER BY entry_seq DESC LIMIT $2",
                view.account, MOVEMENTS_SHOWN)
            waiting = await conn.fetch(
                "SELECT * FROM reserve_waits WHERE township_code = $1 ORDER BY since, idempotency_key", code)
            requests = await conn.fetch(
                "SELECT * FROM replenishment_requests WHERE township_code = $1"
                " ORDER BY requested_at DESC LIMIT 20", code)
        return ReserveDetail(
            **view.model_dump(), movements=[_movement(m) for m in movements],
            waiting=[WaitingPaymentView(**{k: w[k] for k in WaitingPaymentView.model_fields}) for w in waiting],
            requests=[_request(r) for r in requests])

    # writes

    async def configure(self, code: str, body: ReserveConfigIn) -> ReserveConfigOut:
        """Create the reserve or set its threshold and target (idempotent); a threshold above the balance
        opens a replenishment request at once."""
        async with unit_of_work(self._pool) as conn:
            locked = await lock_reserve(conn, code, create=True)
            assert locked is not None
            reserve, created = locked
            if (reserve.threshold_fen, reserve.target_fen) != (body.threshold_fen, body.target_fen):
                await conn.execute(
                    "UPDATE reserve_accounts SET threshold_fen = $2, target_fen = $3, updated_at = now()"
                    " WHERE township_code = $1", code, body.threshold_fen, body.target_fen)
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
        async with self._pool.acquire() as conn:
            view = await reserve_view(conn, code)
        assert view is not None
        return ReserveCreditOut(duplicate=duplicate, movement=_movement(row), reserve=view, signalled=signalled)

    async def decide(self, code: str, request_id: str, body: ReplenishmentDecisionIn,
                     principal: Principal) -> ReplenishmentDecisionOut:
        """The county decides a replenishment request. Approving credits the reserve (a ledger row) in
        the same transaction as the request's status; only an open request can be decided."""
        movement: asyncpg.Record | None = None
        async with unit_of_work(self._pool) as conn:
            owner = await conn.fetchval(
                "SELECT township_code FROM replenishment_requests WHERE request_id = $1", request_id)
            if owner != code:
                raise ReplenishmentNotFound(request_id)
            locked = await lock_reserve(conn, code, create=False)   # the reserve first, then the request
            assert locked is not None
            reserve, _ = locked
            request = await conn.fetchrow(
                "SELECT * FROM replenishment_requests WHERE request_id = $1 FOR UPDATE", request_id)
            if request["status"] != "open":
                raise ReplenishmentNotOpen(f"replenishment {request_id} is already {request['status']}")
            if body.approve:
                granted = body.amount_fen or request["amount_fen"]
                if granted > request["amount_fen"]:
                    # a credit only against an approved request, never above what the township asked for
                    raise ReplenishmentNotOpen(f"amount_fen: {granted} fen is more than replenishment {request_id} "
                                               f"asks for ({request['amount_fen']} fen)")
                movement, _ = await credit(conn, reserve, idempotency_key=replenishment_key(request_id),
                                           amount_fen=granted, reference=request_id, note=body.reason,
                                           recorded_by=principal.subject)
            request = await conn.fetchrow(
                """
                UPDATE replenishment_requests
                SET status = $2, approved_amount_fen = $3, decided_by = $4, decided_role = $5,
                    decided_at = now(), reason = $6, updated_at = now()
                WHERE request_id = $1 RETURNING *
                """,
                request_id, "approved" if body.approve else "rejected",
                movement["amount_fen"] if movement else None, principal.subject, str(principal.role),
                body.reason)
            if body.approve:
                # granted less than needed: the township asks again at once for the rest
                await sync_replenishment(conn, reserve)
        signalled = await self.signal_waiting(code) if body.approve else 0
        async with self._pool.acquire() as conn:
            view = await reserve_view(conn, code)
        assert view is not None
        return ReplenishmentDecisionOut(request=_request(request),
                                        movement=_movement(movement) if movement else None,
                                        reserve=view, signalled=signalled)

    # telling the waiting cases

    async def signal_waiting(self, code: str) -> int:
        """Signal ``reserve_available`` to the workflow (id = case id) of every payment waiting for this
        reserve; runs after the credit committed. A case that no longer runs is noted and skipped; any
        other failure leaves the wait unsignalled for the sweep (``resignal_loop``) to retry. Returns how
        many workflows were signalled."""
        async with self._pool.acquire() as conn:
            waits = await conn.fetch(
                "SELECT idempotency_key, case_id, last_attempt_at FROM reserve_waits"
                " WHERE township_code = $1 ORDER BY since", code)
        return await self._signal_waits(waits)

    async def resignal_once(self) -> int:
        """Signal again the waits that the reserve's balance could pay now but whose workflow has not come
        back: never told (the process stopped between the commit and the signal, Temporal unreachable),
        or told but the signal was lost before it retried. Backs off with each attempt; a duplicate
        signal is harmless (the workflow retries with the same key), a case that no longer runs is not
        signalled again."""
        async with self._pool.acquire() as conn:
            waits = await conn.fetch(
                """
                SELECT w.idempotency_key, w.case_id, w.last_attempt_at
                FROM reserve_waits w JOIN reserve_accounts r USING (township_code)
                WHERE r.balance_fen >= w.amount_fen
                  AND w.last_signal_error IS DISTINCT FROM $1
                  AND (w.signalled_at IS NULL
                       OR w.signalled_at < now() - make_interval(secs => $2 * least(w.signal_attempts, 30)))
                ORDER BY w.since LIMIT 1000
                """,
                NOT_RUNNING, RESIGNAL_AFTER_S)
        return await self._signal_waits(waits)

    async def _signal_waits(self, waits: list[asyncpg.Record]) -> int:
        gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)

        async def one(wait: asyncpg.Record) -> bool:
            async with gate:
                error = await self._signal(wait["case_id"])
            async with self._pool.acquire() as conn:
                # only if the payment has not come back to wait again meanwhile
                await conn.execute(
                    "UPDATE reserve_waits SET signal_attempts = signal_attempts + 1, last_signal_error = $3,"
                    " signalled_at = CASE WHEN $4 THEN now() ELSE signalled_at END"
                    " WHERE idempotency_key = $1 AND last_attempt_at = $2",
                    wait["idempotency_key"], wait["last_attempt_at"], error,
                    error is None or error == NOT_RUNNING)
            return error is None

        return sum(await asyncio.gather(*(one(w) for w in waits)))

    async def _signal(self, case_id: str) -> str | None:
        """None when delivered, else why not."""
        if self._temporal is None:
            return "no temporal client"
        try:
            await self._temporal.get_workflow_handle(case_id).signal(SIGNAL_RESERVE_AVAILABLE)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return NOT_RUNNING
            log.warning("signalling %s to case %s failed: %s", SIGNAL_RESERVE_AVAILABLE, case_id, exc)
            return f"{exc.status.name}: {exc.message}"[:500]
        except Exception as exc:  # the credit has committed: a failed signal is retried by the sweep
            log.warning("signalling %s to case %s failed: %r", SIGNAL_RESERVE_AVAILABLE, case_id, exc)
            return repr(exc)[:500]
        return None

    async def resignal_loop(self) -> None:
        while True:
            try:
                await self.resignal_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a transient DB failure: the next sweep tries again
                log.exception("re-signalling waiting payments failed; retrying")
            await asyncio.sleep(RESIGNAL_INTERVAL_S)
