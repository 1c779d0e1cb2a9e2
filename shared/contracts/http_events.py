"""Agencies' events over HTTPS (``POST /events``, the CloudEvents HTTP protocol binding): structured
(``application/cloudevents+json``), binary (``ce-`` headers, percent-encoded values) and batched
(``application/cloudevents-batch+json``, a JSON array of structured events) modes.

Each event is checked here exactly as intake checks one from NATS (``parse_inbound``, ``verify_source``),
plus the one check NATS's permissions make on the bus: the event's family belongs to the agency that
signed in. What is accepted is published on the event's own subject as the structured JSON of the very
envelope that was sent (intake parses it to the same envelope, hence the same content digest and dedupe).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.contracts.cloudevent_binding import (
    BATCH_MEDIA,
    CONTENT_TYPE,
    BindingError,
    decode_json,
    envelope_of,
    media_type,
)
from shared.contracts.events import EVENTS_SUBJECT_PREFIX, INBOUND_EVENTS, InvalidEvent, event_type, parse_inbound
from shared.contracts.sources import BY_USER, family_of, owner_of, verify_source

MAX_BATCH = 100

_NAME_OF_TYPE = {event_type(name): name for name in INBOUND_EVENTS}


@dataclass(frozen=True)
class Outbound:
    """One accepted event, ready for the bus."""

    subject: str
    event_id: str
    body: bytes


class Refused(Exception):
    """The request publishes nothing: 403 (another agency's event or source) or 422 (the contract)."""

    def __init__(self, status: int, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.status = status
        self.reasons = reasons


def _one(envelope: Any, agency: str) -> Outbound:
    """One envelope (a JSON object) -> its subject and body; ``Refused`` with the reason."""
    if not isinstance(envelope, dict):
        raise Refused(422, ["not a JSON object (a CloudEvent)"])
    declared = envelope.get("type")
    name = _NAME_OF_TYPE.get(declared) if isinstance(declared, str) else None
    if name is None:
        raise Refused(422, [f"cloudevent.type {envelope.get('type')!r} is not an inbound event type"
                            f" (doudi.<name>.v1, docs/contracts.md)"])
    owner = owner_of(name)
    if owner.user != agency:
        raise Refused(403, [f"event family {family_of(name)!r} belongs to source {owner.user!r}, not to"
                            f" {agency!r}"])
    subject = f"{EVENTS_SUBJECT_PREFIX}{name}"
    body = json.dumps(envelope, ensure_ascii=False).encode()
    try:
        event = parse_inbound(subject, body)
    except InvalidEvent as invalid:
        raise Refused(422, [invalid.reason]) from None
    try:
        verify_source(subject, name, event.envelope.source)
    except InvalidEvent as invalid:
        raise Refused(403, [invalid.reason]) from None
    return Outbound(subject=subject, event_id=event.id, body=body)


def events_from_http(headers: Mapping[str, str], raw: bytes, *, agency: str) -> list[Outbound]:
    """Every event of one request, or ``Refused`` (nothing is published when one event is refused)."""
    if agency not in BY_USER:
        raise Refused(403, [f"{agency!r} is not a source agency"])
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if media_type(lowered.get(CONTENT_TYPE)) == BATCH_MEDIA:
            batch = decode_json(raw, "body")
            if not isinstance(batch, list) or not 1 <= len(batch) <= MAX_BATCH:
                raise Refused(422, [f"a batch is a JSON array of 1 to {MAX_BATCH} CloudEvents"])
            envelopes: list[Any] = batch
        else:
            envelopes = [envelope_of(lowered, raw, percent_encoded=True)]
    except BindingError as err:
        raise Refused(422, [err.reason]) from None
    accepted: list[Outbound] = []
    refusals: list[tuple[int, str]] = []
    for index, envelope in enumerate(envelopes):
        try:
            accepted.append(_one(envelope, agency))
        except Refused as refused:
            where = f"events[{index}]: " if len(envelopes) > 1 else ""
            refusals += [(refused.status, where + reason) for reason in refused.reasons]
    if refusals:
        raise Refused(403 if any(status == 403 for status, _ in refusals) else 422, [r for _, r in refusals])
    return accepted
