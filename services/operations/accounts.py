"""Local accounts (本地账号) of the embedded default: who signs in at the front door, in which role and
jurisdiction, with an argon2id password hash (argon2-cffi's RFC 9106 parameters).

An account is a username (the principal's subject), a display name, a role (``shared.auth.Role``, never
``service``), a jurisdiction (``shared.auth.validate_jurisdiction``: a region-code prefix or ``*``) and a
disabled flag. An official's person id is not kept here: it belongs to approval's officials registry
(``services/approval/officials.py``), which ``doudi users add --person-id`` fills for the same subject, so
a decision signed for a session's principal carries the registered person as for a bearer token.

Routes (a province-wide administrator; ``doudi users add|list|disable``): ``POST /api/accounts``,
``GET /api/accounts``, ``POST /api/accounts/{username}/disable``; ``GET /api/accounts/me`` for anyone
signed in. Every change is in the audit log.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from functools import cache
from typing import Annotated, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from services.operations import store_accounts
from services.operations.store import OperationsStore
from services.operations.store_accounts import AccountRow
from shared.auth import EVERY_REGION, Authenticated, ProvinceAdmin, Role, validate_jurisdiction
from shared.config import Settings

router = APIRouter(prefix="/api")

USERNAME_PATTERN = r"^[A-Za-z0-9._@-]{1,64}$"  # a subject the officials registry accepts too
# NIST SP 800-63B: at least 8 characters, long passphrases allowed; a cap so hashing stays bounded
MIN_PASSWORD, MAX_PASSWORD = 8, 256


# ---- passwords ------------------------------------------------------------------------------------------

@cache
def hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, RFC 9106's low-memory profile (argon2-cffi's defaults)


@cache
def _decoy_hash() -> str:
    """Verified against for a name with no password, so a wrong name costs as long as a wrong password."""
    return hasher().hash("doudi-no-such-account")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hasher().hash, password)


async def password_matches(stored: str | None, password: str) -> bool:
    """argon2 verification, off the event loop; an account without a password (OIDC only) never matches,
    after the same work."""
    def verify() -> bool:
        try:
            return hasher().verify(stored or _decoy_hash(), password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


# ---- signing in with a password -------------------------------------------------------------------------

class SignInRefused(Exception):
    """Why a sign-in failed, in Chinese, the same for a wrong name and a wrong password."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


WRONG_CREDENTIALS = "用户名或密码错误"
LOCKED_OUT = "登录失败次数过多，账号已暂时锁定，请 {minutes} 分钟后再试"


async def check_password(ops: OperationsStore, settings: Settings, username: str, password: str) -> AccountRow:
    """The account whose password this is; else ``SignInRefused``: one generic error for a wrong name, a
    wrong password and a disabled account, and a lockout of the name typed after
    ``sign_in_max_failures`` failures in a row (whether or not such an account exists)."""
    name = username.strip()
    async with ops.read() as conn:
        until = await store_accounts.locked_until(conn, name)
        account = await store_accounts.find_account(conn, name) if until is None else None
    if until is not None:
        raise SignInRefused(LOCKED_OUT.format(minutes=_minutes_left(until, settings)), 429)
    ok = await password_matches(account.password_hash if account else None, password)
    if not ok or account is None or account.disabled:
        async with ops.transaction() as conn:
            await store_accounts.record_failure(conn, name, max_failures=settings.sign_in_max_failures,
                                                lockout_s=settings.sign_in_lockout_minutes * 60)
        raise SignInRefused(WRONG_CREDENTIALS, 401)
    async with ops.transaction() as conn:
        await store_accounts.clear_failures(conn, name)
        if account.password_hash and hasher().check_needs_rehash(account.password_hash):
            await store_accounts.set_password_hash(conn, name, await hash_password(password))
    return account


def _minutes_left(until: datetime, settings: Settings) -> int:
    left = until - datetime.now(until.tzinfo)
    return max(1, min(settings.sign_in_lockout_minutes, -(-left // timedelta(minutes=1))))


# ---- the API --------------------------------------------------------------------------------------------

Username = Annotated[str, Path(pattern=USERNAME_PATTERN)]


class AccountIn(BaseModel):
    """A new account. Without a password it signs in through OIDC only."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "username": "wang.fang", "display_name": "王芳", "role": "county_approver", "region": "640104",
        "password": "correct horse battery staple"}]})

    username: str = Field(pattern=USERNAME_PATTERN, description="the subject every action is recorded under")
    display_name: str = Field(min_length=1, max_length=100)
    role: Role
    region: str = Field(max_length=12, description="jurisdiction: region-code prefix (2/4/6/9 digits) or '*'")
    password: SecretStr | None = Field(None, min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)

    @field_validator("role")
    @classmethod
    def _person(cls, role: Role) -> Role:
        if role is Role.service:
            raise ValueError("role: a service account does not sign in at the front door")
        return role

    @field_validator("region")
    @classmethod
    def _jurisdiction(cls, value: str) -> str:
        validate_jurisdiction(value)
        return value


class AccountView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "username": "wang.fang", "display_name": "王芳", "role": "county_approver", "region": "640104",
            "disabled": False, "signs_in_with": "password", "created_at": "2026-12-01T08:30:00+08:00",
        },
    ]})

    username: str
    display_name: str
    role: Role
    region: str = Field(description="jurisdiction: region-code prefix, or '*' for every region")
    disabled: bool
    signs_in_with: Literal["password", "oidc"]
    created_at: datetime

    @classmethod
    def of(cls, row: AccountRow) -> AccountView:
        return cls(username=row.username, display_name=row.display_name, role=Role(row.role),
                   region=row.jurisdiction or EVERY_REGION, disabled=row.disabled,
                   signs_in_with="password" if row.password_hash else "oidc", created_at=row.created_at)


def _ops(request: Request) -> OperationsStore:
    ops: OperationsStore = request.app.state.ops  # set by main.build
    return ops


Ops = Annotated[OperationsStore, Depends(_ops)]


@router.post("/accounts", status_code=201, response_model=AccountView, summary="Create a local account",
             responses={409: {"description": "the username is taken"}})
async def create_account(body: AccountIn, principal: ProvinceAdmin, ops: Ops) -> AccountView:
    password_hash = await hash_password(body.password.get_secret_value()) if body.password else None
    async with ops.transaction() as conn:
        row = await store_accounts.create_account(
            conn, username=body.username, display_name=body.display_name, role=str(body.role),
            jurisdiction=validate_jurisdiction(body.region), password_hash=password_hash,
            created_by=principal.subject)
    if row is None:
        raise HTTPException(409, f"账号 {body.username} 已存在 / account {body.username} exists")
    await ops.audit(principal, "account.create", None, f"account {body.username}",
                    {"username": body.username, "role": str(body.role), "region": body.region})
    return AccountView.of(row)


@router.get("/accounts", response_model=list[AccountView], summary="Every local account")
async def list_accounts(principal: ProvinceAdmin, ops: Ops) -> list[AccountView]:
    async with ops.read() as conn:
        return [AccountView.of(r) for r in await store_accounts.list_accounts(conn)]


@router.get("/accounts/me", response_model=AccountView, summary="The account you are signed in as",
            responses={404: {"description": "the caller has no local account (a bearer token's subject)"}})
async def my_account(principal: Authenticated, ops: Ops) -> AccountView:
    async with ops.read() as conn:
        row = await store_accounts.find_account(conn, principal.subject)
    if row is None:
        raise HTTPException(404, f"{principal.subject} has no local account")
    return AccountView.of(row)


@router.post("/accounts/{username}/disable", response_model=AccountView,
             summary="Disable an account: its sessions end at once",
             responses={404: {"description": "no such account"}})
async def disable_account(username: Username, principal: ProvinceAdmin, ops: Ops) -> AccountView:
    async with ops.transaction() as conn:
        row = await store_accounts.set_disabled(conn, username, True)
    if row is None:
        raise HTTPException(404, f"没有账号 {username} / no account {username}")
    await ops.audit(principal, "account.disable", None, f"account {username}", {"username": username})
    return AccountView.of(row)
