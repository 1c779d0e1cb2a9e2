"""Township reserve rules without a database (seed 000, Xinjiang: temporary assistance a township approves
is paid first from its reserve; when the reserve runs short the county replenishes it): which account is
a reserve, what the township asks the county for, what a direct funding may bring the balance to, the
keys of credits, and the refusals the routes map to status codes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from temporalio.exceptions import ApplicationError

from shared.contracts.activities import TOWNSHIP_RESERVE, account

RESERVE_PREFIX = f"{TOWNSHIP_RESERVE}:"
_CODE = re.compile(r"[0-9]{6}(?:[0-9]{3})?")


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


# -- a reserve as a payment or a credit sees it ---------------------------------------------------

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
