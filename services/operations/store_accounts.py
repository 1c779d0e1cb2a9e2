"""The SQL of sign-in (schema ``operations``, migration 020): accounts, sessions, failed sign-ins and OIDC
sign-ins in flight. Every function takes the caller's connection (``OperationsStore.read()`` or
``transaction()``), as ``store.py``'s do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.operations.store import Conn


@dataclass(frozen=True)
class AccountRow:
    username: str
    display_name: str
    role: str
    jurisdiction: str  # "" = every region
    password_hash: str | None
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class SessionRow:
    """A live session of an account that is not disabled (what a request signed in by cookie acts as)."""

    username: str
    display_name: str
    role: str
    jurisdiction: str
    csrf_token: str
    expires_at: datetime


_ACCOUNT_COLUMNS = "username, display_name, role, jurisdiction, password_hash, disabled, created_at"


async def create_account(conn: Conn, *, username: str, display_name: str, role: str, jurisdiction: str,
                         password_hash: str | None, created_by: str) -> AccountRow | None:
    """The new account; None when the username is taken (nothing changed)."""
    row = await conn.fetchrow(
        "INSERT INTO accounts (username, display_name, role, jurisdiction, password_hash, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING"
        f" RETURNING {_ACCOUNT_COLUMNS}",
        username, display_name, role, jurisdiction, password_hash, created_by)
    return AccountRow(**dict(row)) if row is not None else None


async def find_account(conn: Conn, username: str) -> AccountRow | None:
    row = await conn.fetchrow(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE username = $1", username)
    return AccountRow(**dict(row)) if row is not None else None


async def list_accounts(conn: Conn) -> list[AccountRow]:
    rows = await conn.fetch(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY username")
    return [AccountRow(**dict(r)) for r in rows]


async def set_disabled(conn: Conn, username: str, disabled: bool) -> AccountRow | None:
    """Disable (or enable) an account; disabling also ends its open sessions. None: no such account."""
    row = await conn.fetchrow(
        "UPDATE accounts SET disabled = $2, updated_at = now() WHERE username = $1"
        f" RETURNING {_ACCOUNT_COLUMNS}", username, disabled)
    if row is not None and disabled:
        await conn.execute("UPDATE sessions SET ended_at = now() WHERE username = $1 AND ended_at IS NULL",
                           username)
    return AccountRow(**dict(row)) if row is not None else None


async def set_password_hash(conn: Conn, username: str, password_hash: str) -> None:
    """A rehash with the current parameters after a successful sign-in (argon2's check_needs_rehash)."""
    await conn.execute("UPDATE accounts SET password_hash = $2, updated_at = now() WHERE username = $1",
                       username, password_hash)


# ---- sessions -----------------------------------------------------------------------------------------

async def open_session(conn: Conn, *, token_sha256: str, username: str, csrf_token: str, via: str,
                       expires_at: datetime) -> None:
    """A new session row; sessions over for a day are removed on the way (the audit log keeps the sign-in)."""
    await conn.execute("DELETE FROM sessions WHERE COALESCE(ended_at, expires_at) < now() - interval '1 day'")
    await conn.execute(
        "INSERT INTO sessions (token_sha256, username, csrf_token, via, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)", token_sha256, username, csrf_token, via, expires_at)


async def live_session(conn: Conn, token_sha256: str) -> SessionRow | None:
    """The session, if it is open, not expired, and its account not disabled."""
    row = await conn.fetchrow(
        "SELECT a.username, a.display_name, a.role, a.jurisdiction, s.csrf_token, s.expires_at"
        " FROM sessions s JOIN accounts a USING (username)"
        " WHERE s.token_sha256 = $1 AND s.ended_at IS NULL AND s.expires_at > now() AND NOT a.disabled",
        token_sha256)
    return SessionRow(**dict(row)) if row is not None else None


async def end_session(conn: Conn, token_sha256: str) -> None:
    await conn.execute("UPDATE sessions SET ended_at = now() WHERE token_sha256 = $1 AND ended_at IS NULL",
                       token_sha256)


# ---- failed sign-ins (the lockout) ---------------------------------------------------------------------

async def locked_until(conn: Conn, username: str) -> datetime | None:
    """When the name's lockout ends, if it is locked now."""
    value: datetime | None = await conn.fetchval(
        "SELECT locked_until FROM sign_in_failures WHERE username = $1 AND locked_until > now()", username)
    return value


async def record_failure(conn: Conn, username: str, *, max_failures: int, lockout_s: int) -> int:
    """Count one more failure for the name (a lockout that has passed starts the count again); at
    ``max_failures`` the name is locked for ``lockout_s``. Returns the count."""
    failures: int = await conn.fetchval(
        "INSERT INTO sign_in_failures AS f (username, failures) VALUES ($1, 1)"
        " ON CONFLICT (username) DO UPDATE SET last_failed = now(),"
        "   failures = CASE WHEN f.locked_until IS NOT NULL AND f.locked_until <= now() THEN 1"
        "                   ELSE f.failures + 1 END,"
        "   locked_until = CASE WHEN f.locked_until IS NOT NULL AND f.locked_until <= now() THEN NULL"
        "                       ELSE f.locked_until END"
        " RETURNING failures", username)
    if failures >= max_failures:
        await conn.execute("UPDATE sign_in_failures SET locked_until = now() + make_interval(secs => $2)"
                           " WHERE username = $1", username, lockout_s)
    return failures


async def clear_failures(conn: Conn, username: str) -> None:
    await conn.execute("DELETE FROM sign_in_failures WHERE username = $1", username)


# ---- OIDC sign-ins in flight ---------------------------------------------------------------------------

@dataclass(frozen=True)
class OidcFlow:
    nonce: str
    code_verifier: str


async def start_oidc_flow(conn: Conn, *, state: str, browser_sha256: str, nonce: str, code_verifier: str,
                          ttl_s: int) -> None:
    await conn.execute("DELETE FROM oidc_flows WHERE expires_at < now()")
    await conn.execute(
        "INSERT INTO oidc_flows (state, browser_sha256, nonce, code_verifier, expires_at)"
        " VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        state, browser_sha256, nonce, code_verifier, ttl_s)


async def take_oidc_flow(conn: Conn, *, state: str, browser_sha256: str) -> OidcFlow | None:
    """The flow started by this browser with this state, once (deleted as it is read); None otherwise."""
    row = await conn.fetchrow(
        "DELETE FROM oidc_flows WHERE state = $1 AND browser_sha256 = $2 AND expires_at > now()"
        " RETURNING nonce, code_verifier", state, browser_sha256)
    return OidcFlow(**dict(row)) if row is not None else None
