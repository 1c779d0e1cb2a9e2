"""Dead letters (死信) as the operations team handles them: listed newest first, redelivered once per
DLQ sequence, corrected, the body sealed, four eyes on a changed person or amount.

The table ``dlq_redeliveries`` (migrations/005_dlq_redeliveries.sql, statements in ``store``) is the
claim: its primary key is the DLQ sequence, so a second redelivery of the same dead letter (with the same
body or another) is refused whatever the timing. A crash between the claim and the publish leaves the row
``publishing``: the same body may be published again (the NATS message id is fixed per sequence, so
JetStream drops a duplicate); another body may not. Every refusal is an exception of this module; the
routes map them to status codes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import nats
from nats.aio.msg import Msg
from nats.js.api import PubAck, RawStreamMsg
from nats.js.client import JetStreamContext
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from services.operations import store
from services.operations.store import OperationsStore
from shared.auth import Principal
from shared.contracts.cloudevent_binding import restored_from_dead_letter
from shared.contracts.events import DLQ_EVENTS_SUBJECT
from shared.contracts.identity import mask_national_id
from shared.infra import bus
from shared.infra.bus import STREAM_DLQ
from shared.infra.officials_registry import second_person_refusal

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


# ---- the routes' models ------------------------------------------------------------------------------------

class DeadLetter(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "seq": 17, "subject": "doudi.dlq.events", "original_subject": "doudi.events.health.quarantined",
            "reason": "data.person_id: 身份证号码校验位错误", "event_id": "evt-health-20220810-0002",
            "received_at": "2026-12-01T08:30:00+08:00",
            "body": "{\"specversion\": \"1.0\", \"type\": \"health.quarantined\", \"...\": \"...\"}",
            "redelivered": False, "redelivery": None,
        },
    ]})

    seq: int
    subject: str
    original_subject: str | None
    reason: str | None
    event_id: str | None
    received_at: datetime | None
    body: str
    redelivered: bool
    redelivery: str | None = None  # awaiting_second_official | publishing | redelivered


class RedeliverIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "机构更正了身份证号码校验位", "corrected": {"person_id": "640104198003151020"}},
    ]})

    reason: str = Field(min_length=1, max_length=2000)
    corrected: dict[str, Any] | None = Field(default=None,
                                             description="the corrected CloudEvent (JSON object)")


class ApproveRedeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "已核对更正内容与机构来函一致"},
    ]})

    reason: str = Field(min_length=1, max_length=2000)


class RedeliveryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "seq": 17, "subject": "doudi.events.health.quarantined", "status": "awaiting_second_official",
            "changes": ["data.person_id"], "changed_fields": ["data.person_id"], "published_seq": None,
            "duplicate": False,
        },
    ]})

    seq: int
    subject: str
    status: Literal["awaiting_second_official", "redelivered"]
    changes: list[str] = Field(description="what the correction changes that needs a second official")
    changed_fields: list[str] | None = Field(
        default=None,
        description="the paths of the event's data it changes (null: the original could not be read)")
    published_seq: int | None = None
    duplicate: bool = False


# ---- refusals ---------------------------------------------------------------------------------------------

class DeadLetterNotFound(LookupError):
    """No dead letter of that sequence (404)."""


class RedeliveryConflict(Exception):
    """Redelivered before, waiting for a second official, or nothing to return to (409)."""


class CorrectionUnreadable(ValueError):
    """The corrected event cannot be compared with the original (422)."""


class NotASecondPerson(PermissionError):
    """Four eyes: the approver is the requester, or not another registered person (403)."""


# ---- the desk ----------------------------------------------------------------------------------------------

def _header(msg: Msg | RawStreamMsg, name: str) -> str | None:
    return (msg.headers or {}).get(name)


def _view(msg: Msg, statuses: dict[int, str]) -> DeadLetter:
    seq = msg.metadata.sequence.stream
    return DeadLetter(seq=seq, subject=msg.subject, original_subject=_header(msg, "Doudi-Original-Subject"),
                      reason=_header(msg, "Doudi-Dlq-Reason"), event_id=_header(msg, "Doudi-Event-Id"),
                      received_at=msg.metadata.timestamp, body=msg.data.decode("utf-8", errors="replace"),
                      redelivered=statuses.get(seq) == "redelivered", redelivery=statuses.get(seq))


@dataclass(frozen=True)
class _Correction:
    """What an administrator asked to publish in place of a dead letter, and what it changes."""

    subject: str
    data: bytes
    corrected: bool
    changes: list[str]
    changed_fields: list[str] | None


class DeadLetterDesk:
    """The dead-letter routes' work: the DLQ stream on NATS, the claims in the store, the audit log."""

    def __init__(self, ops: OperationsStore, *, nats_url: str, codec: PayloadCodec | None, approval_url: str):
        self._ops, self._nats_url, self._codec, self._approval_url = ops, nats_url, codec, approval_url

    async def newest(self, limit: int, event_id: str | None = None) -> list[DeadLetter]:
        msgs = await self._messages(limit, event_id)
        async with self._ops.read() as conn:
            statuses = await store.redelivery_statuses(conn)
        return [_view(m, statuses) for m in msgs]

    async def _messages(self, limit: int, event_id: str | None) -> list[Msg]:
        """The newest ``limit`` dead letters (optionally of one event id), newest first. The stream is read
        up to its last sequence at the time of the call, so a DLQ still filling cannot keep the read going;
        the oldest-first listing it replaces hid every new letter once a flood of poison passed ``limit``.
        Without an event id only the stream's tail is read (a window of ``limit`` sequences, widened while
        deleted letters leave it short): the list answers in the same time whether the DLQ holds fifty
        letters or a fuzzer's thousands."""
        nc = await bus.connect(self._nats_url)
        try:
            js = nc.jetstream()
            state = (await js.stream_info(STREAM_DLQ)).state
            first, last = state.first_seq, state.last_seq
            if not last:
                return []
            if event_id is not None:  # one event's letters may lie anywhere in the stream
                return list(reversed(await self._read(js, first, last, event_id, limit)))
            window = max(limit, 1)
            while True:
                start = max(first, last - window + 1)
                found = await self._read(js, start, last, None, limit)
                if len(found) >= limit or start <= first:
                    return list(reversed(found))
                window *= 4
        finally:
            await nc.close()

    @staticmethod
    async def _read(js: JetStreamContext, start: int, last: int, event_id: str | None, limit: int) -> list[Msg]:
        """The letters from sequence ``start`` to ``last`` (of ``event_id`` if given), the newest ``limit``,
        oldest first."""
        out: deque[Msg] = deque(maxlen=limit)
        config = nats.js.api.ConsumerConfig(deliver_policy=nats.js.api.DeliverPolicy.BY_START_SEQUENCE,
                                            opt_start_seq=start)
        sub = await js.subscribe(DLQ_EVENTS_SUBJECT, ordered_consumer=True, config=config)
        try:
            while True:
                try:
                    m = await sub.next_msg(timeout=0.5)
                except nats.errors.TimeoutError:
                    break
                if event_id is None or _header(m, "Doudi-Event-Id") == event_id:
                    out.append(m)
                if m.metadata.sequence.stream >= last:
                    break
        finally:
            await sub.unsubscribe()
        return list(out)

    async def redeliver(self, seq: int, body: RedeliverIn, principal: Principal) -> RedeliveryOut:
        """Once per dead letter (see the module docstring); a correction that changes the person or an
        amount is only recorded, ``awaiting_second_official``."""
        fix = self._correction(seq, await self._dead_letter(seq), body.corrected)
        sealed_body = await seal(self._codec, fix.data)
        await self._claim(seq, fix, sealed_body, principal, body.reason)
        detail = {"dlq_seq": seq, "subject": fix.subject, "corrected": fix.corrected, "changes": fix.changes,
                  "changed_fields": fix.changed_fields, "body_sha256": digest(fix.data),
                  "sealed_body": sealed_body}
        if fix.changes:
            await self._ops.audit(principal, "dlq.redeliver_requested", None, body.reason, detail)
            return RedeliveryOut(seq=seq, subject=fix.subject, status="awaiting_second_official",
                                 changes=fix.changes, changed_fields=fix.changed_fields)
        ack = await self._publish(seq, fix.subject, fix.data)
        await self._ops.audit(principal, "dlq.redeliver", None, body.reason,
                              {**detail, "stream_seq": ack.seq})
        return RedeliveryOut(seq=seq, subject=fix.subject, status="redelivered", changes=fix.changes,
                             changed_fields=fix.changed_fields, published_seq=ack.seq,
                             duplicate=bool(ack.duplicate))

    async def _dead_letter(self, seq: int) -> RawStreamMsg:
        nc = await bus.connect(self._nats_url)
        try:
            return await nc.jetstream().get_msg(STREAM_DLQ, seq)
        except nats.js.errors.NotFoundError:
            raise DeadLetterNotFound(f"no dead letter {seq}") from None
        finally:
            await nc.close()

    @staticmethod
    def _correction(seq: int, msg: RawStreamMsg, corrected: dict[str, Any] | None) -> _Correction:
        original = _header(msg, "Doudi-Original-Subject")
        if not original or not original.startswith("doudi.events."):
            raise RedeliveryConflict(f"dead letter {seq} has no inbound subject to return to")
        raw = msg.data or b""
        try:
            # the administrator corrected the masked view: a masked ID left as it was is the original's ID
            data = (raw if corrected is None
                    else json.dumps(unmask(raw, corrected), ensure_ascii=False).encode())
            new = data if corrected is not None else None
            return _Correction(subject=original, data=data, corrected=corrected is not None,
                               changes=changes(raw, new), changed_fields=changed_fields(raw, new))
        except RecursionError:
            raise CorrectionUnreadable("corrected: nested too deeply for an event") from None

    async def _claim(self, seq: int, fix: _Correction, sealed_body: str, principal: Principal,
                     reason: str) -> None:
        """The claim, or a refusal (audited); the only second attempt allowed is the same body after a crash
        between the claim and the publish."""
        async with self._ops.read() as conn:
            claimed = await store.claim_redelivery(
                conn, seq=seq, subject=fix.subject,
                status="awaiting_second_official" if fix.changes else "publishing",
                body_sha256=digest(fix.data), sealed_body=sealed_body, changes=fix.changes,
                requested_by=principal.subject, reason=reason)
            before = await store.redelivery(conn, seq) if claimed is None else None
        if claimed is not None or (before is not None and before["status"] == "publishing"
                                   and before["body_sha256"] == digest(fix.data)):
            return
        await self._ops.audit(principal, "dlq.redeliver_refused", None, reason,
                              {"dlq_seq": seq, "body_sha256": digest(fix.data), "sealed_body": sealed_body,
                               "status": before["status"] if before is not None else None})
        raise RedeliveryConflict(f"dead letter {seq} was redelivered before (or waits for a second "
                                 "official): a dead letter is redelivered once")

    async def approve(self, seq: int, body: ApproveRedeliveryIn, principal: Principal) -> RedeliveryOut:
        """The second official approves a waiting redelivery: another registered person than the requester
        (a ``RegistryUnavailable`` when the registry cannot say: fail closed)."""
        async with self._ops.read() as conn:
            waiting = await store.redelivery(conn, seq)
        if waiting is not None and waiting["status"] == "awaiting_second_official":
            refusal = await second_person_refusal(self._approval_url, waiting["requested_by"], principal,
                                                  service="operations")
            if refusal is not None:
                raise NotASecondPerson(refusal)
        async with self._ops.read() as conn:
            row = await store.approve_redelivery(conn, seq, principal.subject)
            if row is None:
                before = await store.redelivery(conn, seq)
                if before is None or before["status"] != "awaiting_second_official":
                    raise RedeliveryConflict(
                        f"dead letter {seq} has no redelivery waiting for a second official")
                raise NotASecondPerson(
                    "the second official must be another person than the one who asked (four eyes)")
        ack = await self._publish(seq, row["subject"], await unseal(self._codec, row["sealed_body"]))
        await self._ops.audit(principal, "dlq.redeliver_approved", None, body.reason,
                              {"dlq_seq": seq, "subject": row["subject"], "requested_by": row["requested_by"],
                               "changes": list(row["changes"]), "body_sha256": row["body_sha256"],
                               "stream_seq": ack.seq})
        return RedeliveryOut(seq=seq, subject=row["subject"], status="redelivered",
                             changes=list(row["changes"]), published_seq=ack.seq,
                             duplicate=bool(ack.duplicate))

    async def _publish(self, seq: int, subject: str, data: bytes) -> PubAck:
        """Publish the one redelivery of ``seq`` and record it: one message id per dead letter, so a repeated
        publish after a crash is dropped by JetStream."""
        # a binary-mode event's attributes are the dead letter's kept ce- headers: the same event again
        binding = restored_from_dead_letter((await self._dead_letter(seq)).headers)
        nc = await bus.connect(self._nats_url)
        try:
            ack = await nc.jetstream().publish(subject, data, headers={**binding, "Nats-Msg-Id": message_id(seq)})
        finally:
            await nc.close()
        async with self._ops.read() as conn:
            await store.redelivered(conn, seq, ack.seq)
        return ack
