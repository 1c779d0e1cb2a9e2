"""Heartbeating while one long statement runs (a cohort load, a chunk, a period roll)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from temporalio import activity


@contextlib.asynccontextmanager
async def heartbeating(interval: float = 1.0, details: Any = None) -> AsyncIterator[None]:
    """Heartbeat while a long statement runs (the SDK throttles what reaches the server)."""
    async def beat() -> None:
        while True:
            activity.heartbeat(details)
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat()) if activity.in_activity() else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
