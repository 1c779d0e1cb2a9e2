"""Intake's streaming CSV exports (the batch cohort, the monthly roll) piped straight into ``COPY``:
one place for the service token, the count header and the stream, so a load holds no rows in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

from services.payment.store import Conn
from shared.auth import Role, issue_token

# what a caller sees of the stream as it passes: (bytes just read, the count intake announced)
OnBytes = Callable[[bytes, int], None]


async def copy_export(conn: Conn, url: str, *, what: str, count_header: str, table: str, columns: list[str],
                      timeout_s: float, params: dict[str, str] | None = None, on_bytes: OnBytes | None = None) -> int:
    """Stream the export at ``url`` into ``COPY table`` inside the caller's transaction; returns the count
    intake announced in ``count_header`` (counted in the same snapshot as the rows), for the caller to
    check against what arrived. A non-200 answer raises (the activity retries)."""
    token = issue_token("svc-payment", Role.service, ttl_s=3600)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0)) as http, http.stream(
            "GET", url, params=params, headers={"Authorization": f"Bearer {token}"}) as resp:
        if resp.status_code != 200:
            body = (await resp.aread()).decode(errors="replace")[:500]
            raise RuntimeError(f"{what} answered {resp.status_code}: {body}")
        expected = int(resp.headers[count_header])

        async def source() -> AsyncIterator[bytes]:
            async for data in resp.aiter_bytes():
                if on_bytes is not None:
                    on_bytes(data, expected)
                yield data

        await conn.copy_to_table(table, source=source(), columns=columns, format="csv", header=True)
    return expected
