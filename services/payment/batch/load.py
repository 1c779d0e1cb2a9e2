"""Stage 2, **load** (one activity, heartbeating, ONE transaction): intake's cohort export (a streaming
CSV, the registry read in one snapshot) piped straight into ``COPY batch_recipients``; amounts evaluated
per (region, urban, categories) group into ``batch_amounts``; a level-month batch reads each household's
payment for that month from the ledger into ``batch_levels``, paid once per household. A crash anywhere
rolls the whole load back; a retry starts over; a retry after the commit finds ``loaded_at`` set and
answers from it.

And before a later installment, **re-check**: the cohort again as of its due date; whoever of the
batch's recipients is no longer in it (died, moved out of the region, left the categories) is stopped
from this installment on (staged aid re-checks before each installment, domain pathway 2)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from services.payment.batch.amounts import amounts_for_group
from services.payment.batch.errors import not_retryable
from services.payment.batch.plan import level_month
from services.payment.exports import OnBytes, copy_export
from services.payment.heartbeat import heartbeating
from services.payment.store import Conn, batches
from services.payment.store import batch_cohort as store
from shared.faults import crash_point
from shared.policy import PolicyLibrary
from workflows.batch_subsidy import contracts as c

log = logging.getLogger(__name__)

EXPORT_COLUMNS = ["ordinal", "person_id", "household_id", "region_code", "categories", "urban"]
LOAD_MIDWAY = "payment.batch_load_midway"  # fault point: half the cohort streamed, nothing committed


@dataclass
class _Totals:
    """What a loaded cohort pays: recipients the policy pays, payments and fen over every installment."""

    payable: int = 0
    expected_payments: int = 0
    expected_fen: int = 0


class CohortLoader:
    def __init__(self, pool: asyncpg.Pool, lib: PolicyLibrary, *, intake_url: str):
        self._pool = pool
        self._lib = lib
        self._intake_url = intake_url.rstrip("/")

    async def load_cohort(self, req: c.LoadCohort) -> c.CohortLoaded:
        async with self._pool.acquire() as conn:
            batch = await batches.get(conn, req.batch_id)
        if batch is None:
            raise not_retryable(f"no batch {req.batch_id}")
        if batch["loaded_at"] is None:
            async with heartbeating(details="loading"), self._pool.acquire() as conn, conn.transaction():
                await batches.advisory_lock(conn, req.batch_id)
                batch = await batches.get(conn, req.batch_id)
                assert batch is not None
                if batch["loaded_at"] is None:
                    await self._load(conn, batch)
            async with self._pool.acquire() as conn:
                batch = await batches.get(conn, req.batch_id)
            assert batch is not None
        return c.CohortLoaded(batch_id=req.batch_id, total=batch["total"], payable=batch["payable"],
                              chunks=batch["chunks_per_installment"], expected_payments=batch["expected_payments"],
                              expected_fen=batch["expected_fen"])

    async def _load(self, conn: Conn, batch: asyncpg.Record) -> None:
        batch_id = batch["batch_id"]
        await store.mark_loading(conn, batch_id)
        count = await self._copy_recipients(conn, batch)
        totals = await self._evaluate_amounts(conn, batch)
        level = level_month(self._lib, batch["measure"], batch["region_prefix"], batch["snapshot_on"])
        if level is not None:  # each household's own level for the month (seed 001 「按照 6 月份发放标准」)
            n, fen, households = await store.insert_levels(conn, batch_id, str(level.value))
            totals = _Totals(payable=n, expected_payments=n, expected_fen=fen)
            log.info("batch %s: %s of %s households were paid for %s; each gets that level once",
                     batch_id, n, households, level.value)
        await store.analyze_loaded(conn)
        chunks = -(-count // batch["chunk_size"])
        await store.insert_installments(conn, batch_id, batch["installments"])
        await store.mark_loaded(conn, batch_id, total=count, payable=totals.payable if chunks else 0,
                                chunks=chunks if totals.payable else 0, expected_payments=totals.expected_payments,
                                expected_fen=totals.expected_fen)
        log.info("batch %s: %s recipients loaded, %s payable, %s chunks", batch_id, count, totals.payable, chunks)

    async def _copy_recipients(self, conn: Conn, batch: asyncpg.Record) -> int:
        """The cohort at the snapshot into ``batch_recipients``, every row intake counted or none."""
        batch_id = batch["batch_id"]
        rows = 0

        def seen(data: bytes, expected: int) -> None:
            nonlocal rows
            rows += data.count(b"\n")
            if expected and rows >= expected // 2:
                crash_point(LOAD_MIDWAY)

        async with self._reporting(batch_id, lambda: rows):
            expected = await self._copy_cohort(conn, batch, on=batch["snapshot_on"], table=store.RECIPIENTS,
                                               on_bytes=seen)
        count, top = await store.recipients_loaded(conn, batch_id)
        if count != expected or top != count:
            raise RuntimeError(f"cohort export for {batch_id} incomplete: {count} rows (ordinals to {top}), "
                               f"the registry counted {expected}")  # retried: the transaction rolls back
        return count

    @contextlib.asynccontextmanager
    async def _reporting(self, batch_id: str, rows: Callable[[], int]) -> AsyncIterator[None]:
        """Every second, the rows streamed so far on ``batches.loaded_rows``, from another connection:
        progress of the load, visible before its transaction commits."""
        async def report() -> None:
            while True:
                await asyncio.sleep(1.0)
                async with self._pool.acquire() as other:
                    await store.report_loaded_rows(other, batch_id, rows())

        reporter = asyncio.create_task(report())
        try:
            yield
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter

    async def _copy_cohort(self, conn: Conn, batch: asyncpg.Record, *, on: date, table: str,
                           on_bytes: OnBytes | None = None) -> int:
        """Stream intake's cohort export for the batch's region and categories on ``on`` into ``table``;
        returns the count intake reported."""
        return await copy_export(
            conn, f"{self._intake_url}/api/cohorts/export", what="cohort export", count_header="x-cohort-count",
            table=table, columns=EXPORT_COLUMNS, timeout_s=120.0, on_bytes=on_bytes,
            params={"region_prefix": batch["region_prefix"], "categories": ",".join(batch["categories"]),
                    "on": on.isoformat()})

    async def _evaluate_amounts(self, conn: Conn, batch: asyncpg.Record) -> _Totals:
        """The policy once per (region, urban, categories) group into ``batch_amounts``."""
        batch_id = batch["batch_id"]
        sequences = [i["sequence"] for i in batch["installments"]]
        rows: list[tuple[Any, ...]] = []
        totals = _Totals()
        for g in await store.recipient_groups(conn, batch_id):
            ga = amounts_for_group(self._lib, measure=batch["measure"], on=batch["snapshot_on"],
                                   requested_fen=batch["requested_amount_fen"], installments=sequences,
                                   region_code=g["region_code"], urban=g["urban"], categories=list(g["categories"]))
            if any(a > 0 for a in ga.amounts.values()):
                totals.payable += g["n"]
            for seq in sequences:
                amount = ga.amounts.get(seq, 0)
                rows.append((batch_id, seq, g["region_code"], g["urban"], g["categories"], g["n"], amount, ga.reason))
                if amount > 0:
                    totals.expected_payments += g["n"]
                    totals.expected_fen += g["n"] * amount
        await store.copy_amounts(conn, rows)
        return totals

    # -- before a later installment ------------------------------------------------------------------

    async def recheck(self, req: c.RecheckCohort) -> c.Rechecked:
        """Stop, from this installment on, whoever of the batch's recipients is no longer in the cohort
        as of its due date; once per installment."""
        async with heartbeating(details="re-checking"), self._pool.acquire() as conn, conn.transaction():
            await batches.advisory_lock(conn, req.batch_id)
            inst = await store.installment(conn, req.batch_id, req.installment)
            if inst is None:
                raise not_retryable(f"batch {req.batch_id} has no installment {req.installment}")
            if inst["rechecked_on"] is None:
                await self._stop_the_missing(conn, req)
                inst = await store.installment(conn, req.batch_id, req.installment)
                assert inst is not None
        return c.Rechecked(batch_id=req.batch_id, installment=req.installment, stopped=inst["stopped"])

    async def _stop_the_missing(self, conn: Conn, req: c.RecheckCohort) -> None:
        batch = await batches.get(conn, req.batch_id)
        assert batch is not None
        await store.create_recheck_table(conn)
        await self._copy_cohort(conn, batch, on=req.on, table=store.RECHECK_TABLE)
        await store.index_recheck_table(conn)
        stopped = await store.stop_missing(
            conn, req.batch_id, req.installment,
            f"no longer a recipient in {batch['region_prefix']} on {req.on.isoformat()} "
            "(died, moved away, or left the categories)")
        lost, lost_fen = await store.stopped_payments(conn, req.batch_id, req.installment)
        await store.record_recheck(conn, req.batch_id, req.installment, on=req.on, stopped=stopped, lost=lost,
                                   lost_fen=lost_fen)
