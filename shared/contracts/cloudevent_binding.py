"""CloudEvents content modes on the wire (docs/contracts.md, "Events"): one envelope from either mode.

An agency's system may send an event in either content mode of the CloudEvents protocol bindings:

* **structured**: the whole envelope is the JSON body (``content-type: application/cloudevents+json``, or
  no content type at all: doudi's original contract);
* **binary**: the attributes are ``ce-`` headers (``ce-specversion``, ``ce-id``, ``ce-source``,
  ``ce-type``, ``ce-time``, extensions ...), the ``content-type`` header is ``datacontenttype`` and the body
  is the data alone: the NATS protocol binding's binary mode, and sdk-go's JetStream default.

Both build the same JSON object, which ``CloudEvent`` validates (shared/contracts/events.py): the same
event sent in either mode is the same envelope, so the same content digest (no "conflicting duplicate").
A message is in binary mode when it carries a ``ce-`` header and its content type is not a CloudEvents
format; header names are matched case-insensitively (HTTP's are; NATS's are as the sender wrote them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

CE_HEADER_PREFIX = "ce-"
CONTENT_TYPE = "content-type"
STRUCTURED_MEDIA = "application/cloudevents+json"
BATCH_MEDIA = "application/cloudevents-batch+json"


class BindingError(ValueError):
    """A message that is no CloudEvent in either mode; the reason names the header or the body."""

    def __init__(self, reason: str, event_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id


def _lowered(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {name.lower(): value for name, value in (headers or {}).items()}


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";")[0].strip().lower()


def is_binary_mode(headers: Mapping[str, str] | None) -> bool:
    """A ``ce-`` attribute header, and a body that is not itself a CloudEvents format."""
    lowered = _lowered(headers)
    if media_type(lowered.get(CONTENT_TYPE)).startswith("application/cloudevents"):
        return False
    return any(name.startswith(CE_HEADER_PREFIX) for name in lowered)


def decode_json(raw: bytes, what: str) -> Any:
    """Strict UTF-8 then JSON (``json.loads(bytes)`` would let lone surrogates through)."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BindingError(f"{what} is not JSON: {exc}") from None


def structured_envelope(raw: bytes) -> dict[str, Any]:
    """Structured mode: the body is the envelope, a JSON object."""
    body = decode_json(raw, "body")
    if not isinstance(body, dict):
        raise BindingError("body is not a JSON object (CloudEvents structured mode)")
    return body


def _header_value(name: str, value: str, percent_encoded: bool) -> str:
    if not percent_encoded:
        return value
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise BindingError(f"header {name}: its percent-encoding is not UTF-8") from None


def binary_envelope(headers: Mapping[str, str], raw: bytes, *, percent_encoded: bool = False) -> dict[str, Any]:
    """Binary mode: the envelope from the ``ce-`` headers, ``content-type`` and the body as ``data``.
    ``percent_encoded``: the HTTP binding percent-encodes header values (section 3.1.3.2); the NATS
    binding carries them as they are."""
    lowered = _lowered(headers)
    envelope: dict[str, Any] = {}
    for name, value in lowered.items():
        if name.startswith(CE_HEADER_PREFIX) and len(name) > len(CE_HEADER_PREFIX):
            envelope[name[len(CE_HEADER_PREFIX):]] = _header_value(name, value, percent_encoded)
    event_id = envelope.get("id")
    if "specversion" not in envelope:
        raise BindingError("header ce-specversion: missing (CloudEvents binary content mode: the attributes"
                           " are ce- headers)", event_id=event_id)
    if "data" in envelope:
        raise BindingError("header ce-data: not an attribute (the data is the body)", event_id=event_id)
    if CONTENT_TYPE in lowered:
        envelope["datacontenttype"] = lowered[CONTENT_TYPE]
    try:
        envelope["data"] = decode_json(raw, "data (the body, binary content mode)")
    except BindingError as err:
        raise BindingError(err.reason, event_id=event_id) from None
    return envelope


def envelope_of(headers: Mapping[str, str] | None, raw: bytes, *, percent_encoded: bool = False) -> dict[str, Any]:
    """The CloudEvent as one JSON object, from either content mode (``CloudEvent`` validates it)."""
    if is_binary_mode(headers):
        return binary_envelope(headers or {}, raw, percent_encoded=percent_encoded)
    return structured_envelope(raw)


# A dead letter keeps the original bytes; a binary-mode event's attributes are its headers, so the dead
# letter keeps those too (the ``ce-`` headers as they were, the content type under this name: the dead
# letter's own is ``application/octet-stream``) and a redelivery restores them: the same event again.
ORIGINAL_CONTENT_TYPE = "Doudi-Original-Content-Type"


def kept_for_dead_letter(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The headers of a binary-mode event that are the event itself; nothing for a structured one."""
    if not is_binary_mode(headers):
        return {}
    kept = {k: v for k, v in (headers or {}).items() if k.lower().startswith(CE_HEADER_PREFIX)}
    content_type = _lowered(headers).get(CONTENT_TYPE)
    return kept | ({ORIGINAL_CONTENT_TYPE: content_type} if content_type is not None else {})


def restored_from_dead_letter(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The binding headers to redeliver a dead letter with (``kept_for_dead_letter``'s inverse)."""
    restored = {k: v for k, v in (headers or {}).items() if k.lower().startswith(CE_HEADER_PREFIX)}
    content_type = (headers or {}).get(ORIGINAL_CONTENT_TYPE)
    return restored | ({CONTENT_TYPE: content_type} if restored and content_type is not None else {})
