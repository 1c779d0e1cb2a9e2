"""``POST /events``'s contract checks (shared/contracts/http_events.py) on events built with the official SDK
in the three modes of the CloudEvents HTTP binding: the same envelope as on NATS, the agency's own families
and source only, a batch all or nothing."""

from __future__ import annotations

import json

import pytest
from cloudevents.core.bindings.http import to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from shared.contracts.events import parse_inbound
from shared.contracts.http_events import MAX_BATCH, Refused, events_from_http

QUARANTINED = "doudi.events.health.quarantined"
DATA = {"person_id": "11010519491231002X", "region_code": "640104", "quarantined_on": "2022-08-10"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


def sdk_event(event_id: str = "evt-h1", *, source: str = "urn:doudi:source:health", subject: str | None = None,
              data: dict[str, object] | None = None) -> SdkEvent:
    attributes = {"specversion": "1.0", "id": event_id, "source": source, "type": "doudi.health.quarantined.v1",
                  "datacontenttype": "application/json"}
    return SdkEvent(attributes | ({"subject": subject} if subject else {}), data or dict(DATA))


def structured_json(event: SdkEvent) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(to_structured(event, JSONFormat()).body)
    return parsed


def test_structured_and_binary_post_the_same_envelope_on_the_events_subject() -> None:
    event = sdk_event(subject="隔离 通知")  # a value the HTTP binding percent-encodes in binary mode
    structured, binary = to_structured(event, JSONFormat()), to_binary(event, JSONFormat())
    [a] = events_from_http(structured.headers, structured.body, agency="health")
    [b] = events_from_http(binary.headers, binary.body, agency="health")
    assert (a.subject, a.event_id) == (b.subject, b.event_id) == (QUARANTINED, "evt-h1")
    assert parse_inbound(a.subject, a.body) == parse_inbound(b.subject, b.body)
    assert parse_inbound(b.subject, b.body).envelope.subject == "隔离 通知"


def test_a_batch_is_every_event_or_none() -> None:
    batch = [structured_json(sdk_event("evt-b1")), structured_json(sdk_event("evt-b2"))]
    out = events_from_http(BATCH, json.dumps(batch).encode(), agency="health")
    assert [o.event_id for o in out] == ["evt-b1", "evt-b2"]
    bad = [batch[0], structured_json(sdk_event("evt-b3", data={**DATA, "region_code": "x"}))]
    with pytest.raises(Refused) as refused:
        events_from_http(BATCH, json.dumps(bad).encode(), agency="health")
    assert refused.value.status == 422 and refused.value.reasons[0].startswith("events[1]: data.region_code")
    for empty_or_huge in ([], [batch[0]] * (MAX_BATCH + 1), {"not": "a list"}):
        with pytest.raises(Refused) as refused:
            events_from_http(BATCH, json.dumps(empty_or_huge).encode(), agency="health")
        assert refused.value.status == 422


def test_another_agencys_family_or_source_is_403_with_the_reason() -> None:
    message = to_structured(sdk_event(), JSONFormat())
    with pytest.raises(Refused) as family:
        events_from_http(message.headers, message.body, agency="hr_social_security")
    assert family.value.status == 403
    assert family.value.reasons == ["event family 'health' belongs to source 'health', not to 'hr_social_security'"]
    forged = to_binary(sdk_event(source="urn:doudi:source:civil_registry"), JSONFormat())
    with pytest.raises(Refused) as source:
        events_from_http(forged.headers, forged.body, agency="health")
    assert source.value.status == 403 and "names 'civil_registry'" in source.value.reasons[0]
    with pytest.raises(Refused) as not_an_agency:
        events_from_http(message.headers, message.body, agency="intake")
    assert not_an_agency.value.status == 403


def test_a_refused_binary_event_names_the_header_or_the_field() -> None:
    message = to_binary(sdk_event(), JSONFormat())
    headers = {k: v for k, v in message.headers.items() if k != "ce-specversion"}
    with pytest.raises(Refused) as no_spec:
        events_from_http(headers, message.body, agency="health")
    assert no_spec.value.status == 422 and no_spec.value.reasons[0].startswith("header ce-specversion: missing")
    with pytest.raises(Refused) as unknown:
        events_from_http({**message.headers, "ce-type": "doudi.health.vaccinated.v1"}, message.body,
                         agency="health")
    assert unknown.value.status == 422 and "is not an inbound event type" in unknown.value.reasons[0]
