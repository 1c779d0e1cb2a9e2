"""The case timeline's SQL (schema ``operations``, table ``timeline``): each entry with its message code and
parameters, rendered in words by services/operations/timeline_text.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.operations import timeline_text
from shared.contracts.api import TimelineEntry

Conn = asyncpg.Connection | PoolConnectionProxy  # as services/operations/store.py (which reads through here)


async def add_entry(conn: Conn, *, event_id: str, case_id: str, at: datetime | None, event: str,
                    status: str | None, stage: str | None, note: str, code: str, params: dict[str, Any]) -> None:
    """One entry per event id (a redelivered event adds nothing)."""
    await conn.execute(
        "INSERT INTO timeline (event_id, case_id, at, event, status, stage, note, code, params)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        event_id, case_id, at, event, status, stage, note, code, params)  # the pool's jsonb codec encodes


async def entries(conn: Conn, case_id: str) -> list[TimelineEntry]:
    """A case's timeline, oldest first, each entry in words (Chinese and English)."""
    rows = await conn.fetch("SELECT at, event, status, stage, note, code, params FROM timeline WHERE case_id = $1"
                            " ORDER BY at, event_id", case_id)
    out = []
    for r in rows:
        params = r["params"] or {}  # the pool's jsonb codec decodes
        text_zh, text_en = timeline_text.render(r["code"], params, r["note"])
        out.append(TimelineEntry(at=r["at"], event=r["event"], status=r["status"], stage=r["stage"], note=r["note"],
                                 code=r["code"], params=params, text_zh=text_zh, text_en=text_en))
    return out
