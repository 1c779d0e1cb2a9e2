"""Both CloudEvents content modes parse to the same envelope (shared/contracts/cloudevent_binding.py): events
built with the official Python SDK (``cloudevents``) in structured and in binary mode; a binary-mode message
that breaks the contract is refused with a reason naming the header."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from shared.contracts.cloudevent_binding import BindingError, envelope_of, is_binary_mode
from shared.contracts.events import InvalidEvent, parse_inbound
from shared.contracts.sources import BY_USER
from shared.infra.outbox import content_digest

QUARANTINED = "doudi.events.health.quarantined"
DATA = {"person_id": "11010519491231002X", "region_code": "640104", "quarantined_on": "2022-08-10"}


def sdk_event(event_id: str = "evt-sdk-1", **extra: Any) -> SdkEvent:
    attributes = {"specversion": "1.0", "id": event_id, "source": BY_USER["health"].source_uri,
                  "type": "doudi.health.quarantined.v1", "datacontenttype": "application/json",
                  "time": datetime(2022, 8, 11, 9, 30, tzinfo=UTC), **extra}
    return SdkEvent(attributes, dict(DATA))


def binary(event: SdkEvent) -> HTTPMessage:
    return to_binary(event, JSONFormat())


def structured(event: SdkEvent) -> HTTPMessage:
    return to_structured(event, JSONFormat())


def test_both_modes_parse_to_the_same_envelope_and_the_same_content_digest() -> None:
    event = sdk_event(subject="quarantine-order-17")
    as_binary, as_structured = binary(event), structured(event)
    assert "ce-specversion" in as_binary.headers and b"specversion" not in as_binary.body  # truly binary
    from_binary = parse_inbound(QUARANTINED, as_binary.body, as_binary.headers)
    from_structured = parse_inbound(QUARANTINED, as_structured.body, as_structured.headers)
    assert from_binary == from_structured
    assert from_binary.id == "evt-sdk-1" and from_binary.envelope.subject == "quarantine-order-17"
    assert from_binary.envelope.time == datetime(2022, 8, 11, 9, 30, tzinfo=UTC)
    # the same digest: the same event sent in both modes is a redelivery, never a "conflicting duplicate"
    assert (content_digest(QUARANTINED, from_binary.envelope.model_dump(mode="json"))
            == content_digest(QUARANTINED, from_structured.envelope.model_dump(mode="json")))


def test_a_structured_event_without_headers_is_read_as_before() -> None:
    body = structured(sdk_event()).body
    assert parse_inbound(QUARANTINED, body).id == "evt-sdk-1"
    assert parse_inbound(QUARANTINED, body, {"Nats-Msg-Id": "evt-sdk-1"}).id == "evt-sdk-1"


def test_a_missing_ce_specversion_names_the_header_and_keeps_the_id() -> None:
    message = binary(sdk_event("evt-nospec"))
    headers = {k: v for k, v in message.headers.items() if k != "ce-specversion"}
    with pytest.raises(InvalidEvent) as refused:
        parse_inbound(QUARANTINED, message.body, headers)
    assert refused.value.reason.startswith("header ce-specversion: missing")
    assert refused.value.event_id == "evt-nospec"


def test_a_missing_ce_id_or_source_is_named_like_the_structured_field() -> None:
    message = binary(sdk_event())
    for attribute in ("id", "source", "type"):
        headers = {k: v for k, v in message.headers.items() if k != f"ce-{attribute}"}
        with pytest.raises(InvalidEvent) as refused:
            parse_inbound(QUARANTINED, message.body, headers)
        assert f"cloudevent.{attribute}: Field required" in refused.value.reason


def test_header_names_are_matched_whatever_their_case() -> None:
    message = binary(sdk_event())
    shouting = {k.title(): v for k, v in message.headers.items()}  # Ce-Specversion, Content-Type
    assert parse_inbound(QUARANTINED, message.body, shouting) == parse_inbound(QUARANTINED, message.body,
                                                                               message.headers)


def test_binary_data_must_be_a_json_object_and_declared_json() -> None:
    message = binary(sdk_event("evt-bad-data"))
    with pytest.raises(InvalidEvent) as not_json:
        parse_inbound(QUARANTINED, b"person_id=1", message.headers)
    assert not_json.value.reason.startswith("data (the body, binary content mode) is not JSON")
    assert not_json.value.event_id == "evt-bad-data"
    with pytest.raises(InvalidEvent) as a_list:
        parse_inbound(QUARANTINED, b"[1, 2]", message.headers)
    assert "cloudevent.data" in a_list.value.reason
    with pytest.raises(InvalidEvent) as text:
        parse_inbound(QUARANTINED, message.body, {**message.headers, "content-type": "text/plain"})
    assert "cloudevent.datacontenttype" in text.value.reason
    with pytest.raises(InvalidEvent) as wrong_data:
        parse_inbound(QUARANTINED, json.dumps({**DATA, "region_code": "x"}).encode(), message.headers)
    assert "data.region_code" in wrong_data.value.reason and wrong_data.value.event_id == "evt-bad-data"


def test_the_type_must_match_the_subject_in_binary_mode_too() -> None:
    message = binary(sdk_event())
    with pytest.raises(InvalidEvent) as refused:
        parse_inbound("doudi.events.health.covid_diagnosed", message.body, message.headers)
    assert "does not match subject" in refused.value.reason


def test_a_ce_data_header_is_refused() -> None:
    message = binary(sdk_event())
    with pytest.raises(BindingError) as refused:
        envelope_of({**message.headers, "ce-data": "{}"}, message.body)
    assert refused.value.reason.startswith("header ce-data")


def test_a_structured_body_with_stray_ce_headers_stays_structured() -> None:
    message = structured(sdk_event())
    assert not is_binary_mode({**message.headers, "ce-id": "other"})
    assert envelope_of({**message.headers, "ce-id": "other"}, message.body)["id"] == "evt-sdk-1"


def test_http_header_values_are_percent_decoded_only_where_the_binding_says() -> None:
    message = binary(sdk_event(subject="隔离 通知"))
    assert message.headers["ce-subject"] != "隔离 通知"  # the SDK percent-encodes for HTTP
    assert envelope_of(message.headers, message.body, percent_encoded=True)["subject"] == "隔离 通知"
    assert envelope_of(message.headers, message.body)["subject"] == message.headers["ce-subject"]
    with pytest.raises(BindingError) as refused:
        envelope_of({**message.headers, "ce-subject": "%FF"}, message.body, percent_encoded=True)
    assert refused.value.reason.startswith("header ce-subject")
