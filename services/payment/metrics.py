"""What the payment service adds to ``/metrics`` (shared/infra/metrics.py defines the names): the
ledger's entries and amounts in fen by kind, and every reserve's balance beside its threshold (the alert
"reserve below threshold" compares the two)."""

from __future__ import annotations

import asyncpg

from services.payment.store import ledger, reserves
from shared.infra import metrics
from shared.infra.metrics import MetricSource


def sources(pool: asyncpg.Pool) -> list[MetricSource]:
    async def money() -> None:
        async with pool.acquire() as conn:
            totals = await ledger.totals_by_kind(conn)
            levels = await reserves.levels(conn)
        metrics.set_series(metrics.LEDGER_ENTRIES, [((r["kind"],), r["entries"]) for r in totals])
        metrics.set_series(metrics.LEDGER_AMOUNT_FEN, [((r["kind"],), r["fen"]) for r in totals])
        metrics.set_series(metrics.RESERVE_BALANCE_FEN, [((r["township_code"],), r["balance_fen"]) for r in levels])
        metrics.set_series(metrics.RESERVE_THRESHOLD_FEN,
                           [((r["township_code"],), r["threshold_fen"]) for r in levels])

    return [money]
