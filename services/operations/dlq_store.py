"""Dead-letter redeliveries: once per DLQ sequence, the body sealed, four eyes on a changed person or amount.

The table (migrations/005_dlq_redeliveries.sql) is the claim: its primary key is the DLQ sequence, so a
second redelivery of the same dead letter (with the same body or another) is refused whatever the
timing. A crash between the claim and the publish leaves the row ``publishing``: the same body may be
published again (the NATS message id is fixed per sequence, so JetStream drops a duplicate); another
body may not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import asyncpg
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from shared.contracts.identity import mask_national_id

# Fields of an inbound event's data whose correction decides who is paid or how much.
PERSON_FIELDS = ("person_id", "household_id", "member_ids", "person_ids")


def message_id(seq: int) -> str:
    """The NATS message id of the one redelivery of dead letter ``seq``."""
    return f"redelivered-{seq}"


def _data_of(raw: bytes) -> dict[str, Any] | None:
    try:
        envelope = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    data = envelope.get("data") if isinstance(envelope, dict) else None
    return data if isinstance(data, dict) else None


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{path}.{k}" if path else str(k)))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(_leaves(v, f"{path}[{i}]"))
        return out
    return {path: value}


_MASKED = re.compile(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]")


def _restore(original: Any, corrected: Any) -> Any:
    if isinstance(corrected, dict) and isinstance(original, dict):
        return {k: _restore(original.get(k), v) for k, v in corrected.items()}
    if isinstance(corrected, list) and isinstance(original, list):
        return [_restore(original[i] if i < len(original) else None, v) for i, v in enumerate(corrected)]
    if (isinstance(corrected, str) and isinstance(original, str) and _MASKED.fullmatch(corrected)
            and mask_national_id(original) == corrected):
        return original
    return corrected


def unmask(original: bytes, corrected: dict[str, Any]) -> dict[str, Any]:
    """An administrator sees dead letters with national IDs masked (``640104********0012``) and corrects
    that view: where the correction still holds the masked form of the original's ID at the same place,
    the original ID is kept (the administrator did not change it)."""
    try:
        before = json.loads(original)
    except (ValueError, RecursionError):
        return corrected
    return _restore(before, corrected)


def changed_fields(original: bytes, corrected: bytes | None) -> list[str] | None:
    """The paths in the event's ``data`` a correction changes (None: the original cannot be read)."""
    if corrected is None or corrected == original:
        return []
    before, after = _data_of(original), _data_of(corrected)
    if before is None:
        return None
    a, b = _leaves(before), _leaves(after or {})
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def changes(original: bytes, corrected: bytes | None) -> list[str]:
    """What a correction changes that needs a second official: ``person`` (who is paid), ``amount``
    (a ``*_fen`` figure). An original that cannot be read cannot be compared: both, to be safe."""
    differing = changed_fields(original, corrected)
    if differing is None:
        return ["person", "amount"]
    found = []
    if any(k.split(".")[-1].split("[")[0] in PERSON_FIELDS for k in differing):
        found.append("person")
    if any(k.split(".")[-1].split("[")[0].endswith("_fen") for k in differing):
        found.append("amount")
    return found


async def seal(codec: PayloadCodec | None, body: bytes) -> str:
    """The body sealed with the Temporal payload codec (AES-GCM), base64: kept, never readable in the
    database or the audit log without the key."""
    if codec is None:
        raise RuntimeError("no payload codec: a corrected body is never kept in plaintext")
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"binary/plain"}, data=body)])
    return base64.b64encode(sealed.SerializeToString()).decode()


async def unseal(codec: PayloadCodec | None, sealed_b64: str) -> bytes:
    if codec is None:
        raise RuntimeError("no payload codec to unseal the corrected body")
    payload = Payload()
    payload.ParseFromString(base64.b64decode(sealed_b64))
    [plain] = await codec.decode([payload])
    return plain.data


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def claim(conn: asyncpg.Connection, *, seq: int, subject: str, body: bytes, sealed_body: str,
                changed: list[str], requested_by: str, reason: str) -> asyncpg.Record | None:
    """The one redelivery of ``seq``: the new row, or None when ``seq`` was claimed before (see
    ``existing``)."""
    return await conn.fetchrow(
        """
        INSERT INTO dlq_redeliveries (dlq_seq, subject, status, body_sha256, sealed_body, changes, requested_by,
                                      reason)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dlq_seq) DO NOTHING RETURNING *
        """, seq, subject, "awaiting_second_official" if changed else "publishing", digest(body), sealed_body,
        changed, requested_by, reason)


async def existing(conn: asyncpg.Connection, seq: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM dlq_redeliveries WHERE dlq_seq = $1", seq)


async def approve(conn: asyncpg.Connection, seq: int, approved_by: str) -> asyncpg.Record | None:
    """The second official's approval: only of a redelivery waiting for one, never by its requester."""
    return await conn.fetchrow(
        "UPDATE dlq_redeliveries SET status = 'publishing', approved_by = $2"
        " WHERE dlq_seq = $1 AND status = 'awaiting_second_official' AND requested_by <> $2 RETURNING *",
        seq, approved_by)


async def published(conn: asyncpg.Connection, seq: int, stream_seq: int) -> None:
    await conn.execute("UPDATE dlq_redeliveries SET status = 'redelivered', published_seq = $2,"
                       " redelivered_at = now() WHERE dlq_seq = $1", seq, stream_seq)


async def redelivered_seqs(conn: asyncpg.Connection) -> dict[int, str]:
    return {r["dlq_seq"]: r["status"] for r in await conn.fetch("SELECT dlq_seq, status FROM dlq_redeliveries")}
