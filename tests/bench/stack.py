"""A benchmark's own embedded stack: a temporary data folder, free ports, supervised; removed afterwards
unless kept (a large run leaves gigabytes of PostgreSQL, NATS and Temporal data)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from deploy.embedded import EmbeddedStack, Ports


@contextlib.asynccontextmanager
async def bench_stack(prefix: str, *, keep: bool = False,
                      env: dict[str, str] | None = None) -> AsyncIterator[EmbeddedStack]:
    data = Path(tempfile.mkdtemp(prefix=f"doudi-bench-{prefix}-"))
    stack = EmbeddedStack(data, Ports.free(), extra_env={"DOUDI_ENV": "test", **(env or {})})
    print(f"starting the embedded stack in {data} ...", flush=True)
    t = time.monotonic()
    try:
        await stack.start()
    except BaseException:
        stack.stop()
        raise
    stop = asyncio.Event()
    supervisor = asyncio.create_task(stack.supervise(stop))
    try:
        print(f"  up in {time.monotonic() - t:.1f} s", flush=True)
        yield stack
    finally:
        stop.set()
        await supervisor
        stack.stop()
        if not keep:
            shutil.rmtree(data, ignore_errors=True)
