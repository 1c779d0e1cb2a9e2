"""Township reserve funds (migration 002): ``reserve_accounts`` (balance, threshold, target),
``reserve_waits`` (payments the balance cannot cover) and ``replenishment_requests``."""

from __future__ import annotations

import asyncpg

from services.payment.store import Conn

_RESERVE_SQL = """
SELECT r.*, coalesce(w.n, 0) AS waiting_count, coalesce(w.fen, 0) AS waiting_fen
FROM reserve_accounts r
LEFT JOIN (SELECT township_code, count(*) AS n, sum(amount_fen) AS fen
           FROM reserve_waits GROUP BY township_code) w USING (township_code)
"""


# -- the reserve's row ---------------------------------------------------------------------------------

async def lock(conn: Conn, code: str) -> asyncpg.Record | None:
    """The reserve's row, locked until the transaction ends."""
    return await conn.fetchrow("SELECT * FROM reserve_accounts WHERE township_code = $1 FOR UPDATE", code)


async def create(conn: Conn, code: str, county_code: str) -> bool:
    """An empty reserve (threshold and target 0); False when it exists already."""
    created = await conn.fetchval(
        "INSERT INTO reserve_accounts (township_code, county_code) VALUES ($1, $2)"
        " ON CONFLICT (township_code) DO NOTHING RETURNING township_code", code, county_code)
    return created is not None


async def configure(conn: Conn, code: str, *, threshold_fen: int, target_fen: int) -> None:
    await conn.execute("UPDATE reserve_accounts SET threshold_fen = $2, target_fen = $3, updated_at = now()"
                       " WHERE township_code = $1", code, threshold_fen, target_fen)


async def add_to_balance(conn: Conn, code: str, amount_fen: int) -> int:
    """Move the balance by ``amount_fen`` (negative: a debit); the new balance (a CHECK keeps it >= 0)."""
    balance: int = await conn.fetchval(
        "UPDATE reserve_accounts SET balance_fen = balance_fen + $2, updated_at = now()"
        " WHERE township_code = $1 RETURNING balance_fen", code, amount_fen)
    return balance


async def with_waits(conn: Conn, code: str) -> asyncpg.Record | None:
    """The reserve with how many payments wait for it and for how much."""
    return await conn.fetchrow(_RESERVE_SQL + " WHERE r.township_code = $1", code)


async def in_region(conn: Conn, jurisdiction: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        _RESERVE_SQL + " WHERE left(r.township_code, length($1)) = $1 ORDER BY r.township_code", jurisdiction)


# -- payments waiting for it ---------------------------------------------------------------------------

async def waiting_fen(conn: Conn, code: str) -> int:
    fen: int = await conn.fetchval(
        "SELECT coalesce(sum(amount_fen), 0) FROM reserve_waits WHERE township_code = $1", code)
    return fen


async def upsert_wait(conn: Conn, *, idempotency_key: str, case_id: str, code: str,
                      amount_fen: int) -> asyncpg.Record:
    """Keep (or refresh) the payment's wait; a wait that was signalled is un-signalled."""
    row = await conn.fetchrow(
        """
        INSERT INTO reserve_waits (idempotency_key, case_id, township_code, amount_fen)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (idempotency_key) DO UPDATE
            SET last_attempt_at = clock_timestamp(), signalled_at = NULL
        RETURNING *
        """,
        idempotency_key, case_id, code, amount_fen)
    assert row is not None
    return row


async def drop_wait(conn: Conn, idempotency_key: str) -> None:
    await conn.execute("DELETE FROM reserve_waits WHERE idempotency_key = $1", idempotency_key)


async def waits(conn: Conn, code: str) -> list[asyncpg.Record]:
    """The reserve's waits, oldest first."""
    return await conn.fetch("SELECT * FROM reserve_waits WHERE township_code = $1 ORDER BY since, idempotency_key",
                            code)


async def waits_to_signal(conn: Conn, code: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT idempotency_key, case_id, last_attempt_at FROM reserve_waits"
                            " WHERE township_code = $1 ORDER BY since", code)


async def waits_to_resignal(conn: Conn, *, not_running: str, after_s: float) -> list[asyncpg.Record]:
    """Waits the balance could pay now whose workflow has not come back, backing off per attempt; never
    one whose case no longer runs."""
    return await conn.fetch(
        """
        SELECT w.idempotency_key, w.case_id, w.last_attempt_at
        FROM reserve_waits w JOIN reserve_accounts r USING (township_code)
        WHERE r.balance_fen >= w.amount_fen
          AND w.last_signal_error IS DISTINCT FROM $1
          AND (w.signalled_at IS NULL
               OR w.signalled_at < now() - make_interval(secs => $2 * least(w.signal_attempts, 30)))
        ORDER BY w.since LIMIT 1000
        """,
        not_running, after_s)


async def record_signal(conn: Conn, wait: asyncpg.Record, *, error: str | None, delivered: bool) -> None:
    """One signal attempt, only if the payment has not come back to wait again meanwhile."""
    await conn.execute(
        "UPDATE reserve_waits SET signal_attempts = signal_attempts + 1, last_signal_error = $3,"
        " signalled_at = CASE WHEN $4 THEN now() ELSE signalled_at END"
        " WHERE idempotency_key = $1 AND last_attempt_at = $2",
        wait["idempotency_key"], wait["last_attempt_at"], error, delivered)


async def attach_waits(conn: Conn, code: str, request_id: str) -> None:
    """Every wait of the reserve points at its open request."""
    await conn.execute(
        "UPDATE reserve_waits SET replenishment_request_id = $2"
        " WHERE township_code = $1 AND replenishment_request_id IS DISTINCT FROM $2", code, request_id)


# -- replenishment requests ----------------------------------------------------------------------------

async def open_request(conn: Conn, code: str, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM replenishment_requests WHERE township_code = $1 AND status = 'open'"
                               + (" FOR UPDATE" if for_update else ""), code)


async def open_requests(conn: Conn, jurisdiction: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM replenishment_requests WHERE status = 'open'"
                            " AND left(township_code, length($1)) = $1", jurisdiction)


async def recent_requests(conn: Conn, code: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM replenishment_requests WHERE township_code = $1"
                            " ORDER BY requested_at DESC LIMIT 20", code)


async def insert_request(conn: Conn, request_id: str, code: str, amount_fen: int) -> None:
    await conn.execute("INSERT INTO replenishment_requests (request_id, township_code, amount_fen)"
                       " VALUES ($1, $2, $3)", request_id, code, amount_fen)


async def set_request_amount(conn: Conn, request_id: str, amount_fen: int) -> None:
    await conn.execute("UPDATE replenishment_requests SET amount_fen = $2, updated_at = now() WHERE request_id = $1",
                       request_id, amount_fen)


async def request_owner(conn: Conn, request_id: str) -> str | None:
    owner: str | None = await conn.fetchval(
        "SELECT township_code FROM replenishment_requests WHERE request_id = $1", request_id)
    return owner


async def lock_request(conn: Conn, request_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM replenishment_requests WHERE request_id = $1 FOR UPDATE", request_id)


async def decide_request(conn: Conn, request_id: str, *, status: str, approved_amount_fen: int | None,
                         decided_by: str, decided_role: str, reason: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        """
        UPDATE replenishment_requests
        SET status = $2, approved_amount_fen = $3, decided_by = $4, decided_role = $5,
            decided_at = now(), reason = $6, updated_at = now()
        WHERE request_id = $1 RETURNING *
        """,
        request_id, status, approved_amount_fen, decided_by, decided_role, reason)
    assert row is not None
    return row


async def levels(conn: Conn) -> list[asyncpg.Record]:
    """Every reserve's balance and threshold in fen (``/metrics``)."""
    return await conn.fetch("SELECT township_code, balance_fen, threshold_fen FROM reserve_accounts")
