"""Streamed CSV exports straight from PostgreSQL (``COPY (SELECT ...) TO STDOUT``), for any service's store.

A count and the rows are read in one read-only REPEATABLE READ snapshot, so the count a caller sends in a
header and the rows agree. The rows are handed on as PostgreSQL produces them through a small bounded
queue: a few chunks in memory whatever the size, and a slow reader slows the database (back-pressure).
Used by intake (the cohort, the monthly roll, the roster) and payment (the ledger of a month)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from asyncpg.pool import PoolConnectionProxy

QUEUE_CHUNKS = 8


async def snapshot_export(pool: asyncpg.Pool, count_sql: str, rows_sql: str,
                          *args: object) -> tuple[int, AsyncIterator[bytes]]:
    """Count, then stream, in one snapshot held by a connection of its own until the stream ends."""
    conn = await pool.acquire()
    tx = conn.transaction(isolation="repeatable_read", readonly=True)
    try:
        await tx.start()
        count = await conn.fetchval(count_sql, *args)
    except BaseException:
        with contextlib.suppress(Exception):
            await tx.rollback()
        await pool.release(conn)
        raise
    return int(count), _stream_copy(pool, conn, tx, rows_sql, *args)


async def _stream_copy(pool: asyncpg.Pool, conn: PoolConnectionProxy, tx: asyncpg.transaction.Transaction,
                       sql: str, *args: object) -> AsyncIterator[bytes]:
    """Stream ``COPY (sql) TO STDOUT`` as CSV with a header, then roll back and release the connection."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUE_CHUNKS)

    async def sink(data: bytes) -> None:
        await queue.put(bytes(data))  # asyncpg hands over a reusable buffer

    async def produce() -> None:
        try:
            await conn.copy_from_query(sql, *args, output=sink, format="csv", header=True)
        finally:
            await queue.put(None)

    producer = asyncio.create_task(produce())
    try:
        while (data := await queue.get()) is not None:
            yield data
        await producer  # a failed COPY raises here: the response is cut, never completed
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(BaseException):
                await producer
        with contextlib.suppress(Exception):
            await tx.rollback()
        await pool.release(conn)
