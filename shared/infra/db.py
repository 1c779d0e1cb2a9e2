"""PostgreSQL access through asyncpg: pools, versioned SQL migrations, unit of work."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

import asyncpg

log = logging.getLogger(__name__)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, schema: str, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see the service's own schema first."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": f"{schema},public", "application_name": f"doudi-{schema}"},
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """One transaction: commit on success, roll back on any exception (nothing half-written)."""
    async with pool.acquire() as proxy, proxy.transaction():
        # the pool lends a proxy that forwards every Connection method (asyncpg's pool docs); the stores
        # are written against Connection, which is what they receive in effect
        yield cast(asyncpg.Connection, proxy)


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(f"doudi-migrate:{schema}".encode()).digest()[:8], "big", signed=True)


SHARED_MIGRATIONS = Path(__file__).parent / "migrations"


async def migrate(dsn: str, schema: str, migrations_dir: Path, *, messaging: bool = True) -> list[str]:
    """Apply ``NNN_name.sql`` files in order, each once, each in its own transaction.

    With ``messaging`` the shared outbox/inbox tables (``000_messaging.sql``) come first. Safe to run
    from several processes at once (advisory lock per schema). Returns the versions applied.
    """
    dirs = ([SHARED_MIGRATIONS] if messaging else []) + [migrations_dir]
    files = sorted(
        (p for d in dirs for p in d.glob("*.sql") if p.name[:3].isdigit()), key=lambda p: p.name
    )
    applied: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
                " version text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                r["version"]: r["checksum"]
                for r in await conn.fetch(f'SELECT version, checksum FROM "{schema}".schema_migrations')
            }
            for path in files:
                version = path.stem
                sql = path.read_text(encoding="utf-8")
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if version in done:
                    if done[version] != checksum:
                        raise RuntimeError(
                            f"migration {schema}/{path.name} was changed after it was applied; add a new one"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
                    await conn.execute(sql)
                    await conn.execute(
                        f'INSERT INTO "{schema}".schema_migrations (version, checksum) VALUES ($1, $2)',
                        version, checksum,
                    )
                log.info("applied migration %s/%s", schema, path.name)
                applied.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
    finally:
        await conn.close()
    return applied
