"""Payment's SQL (schema ``payment``), one module per concern: ``ledger`` (the append-only ledger),
``reserves`` (township reserve funds, waits, replenishment requests), ``recovery``, ``periods`` (monthly
rolls), and the batch stages ``batches`` (the batch rows), ``batch_cohort`` (load and re-check),
``batch_chunks`` (paying and publishing) and ``batch_views`` (reading). Nothing else in the service
writes SQL; every function takes the caller's connection, so the caller owns the transaction."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# a connection of the pool, as ``pool.acquire()`` or ``unit_of_work`` hands it out
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy
