"""How a doudi process runs its event loop: uvloop by default (``DOUDI_EVENT_LOOP``, shared/config.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the configured loop. uvloop serves the same asyncio API on libuv; the
    workflow sandbox runs each workflow on a loop of its own whatever this one is."""
    from shared.config import get_settings

    if get_settings().event_loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
