"""Intake's subscribers read an event in CloudEvents binary content mode (attributes in ``ce-`` headers, the
data the body: the NATS protocol binding) exactly as one in structured mode: the same case, the same source
ownership, the same id-based dedupe and the same dead-letter reasons (in memory, ``TestNatsBroker``)."""

from __future__ import annotations

from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from shared.contracts.cloudevent_binding import restored_from_dead_letter
from shared.contracts.events import parse_inbound
from shared.contracts.sources import BY_USER
from shared.infra.consumer import KIND_CONFLICTING_DUPLICATE, KIND_INVALID
from tests.support import national_id
from tests.unit.fakes import Settlements, bus_under_test
from tests.unit.test_subscribers import PERSON, QUARANTINED, Intake


def quarantine(event_id: str = "evt-b1", *, person_id: str = PERSON, source: str | None = None) -> SdkEvent:
    return SdkEvent({"specversion": "1.0", "id": event_id, "source": source or BY_USER["health"].source_uri,
                     "type": "doudi.health.quarantined.v1", "datacontenttype": "application/json"},
                    {"person_id": person_id, "region_code": "640104", "quarantined_on": "2022-08-10"})


def binary(event: SdkEvent) -> HTTPMessage:
    return to_binary(event, JSONFormat())


async def test_a_binary_mode_event_opens_its_case_once_and_is_acknowledged(settlements: Settlements) -> None:
    fakes = Intake()
    message = binary(quarantine())
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(message.body, QUARANTINED, headers=message.headers)
    assert dead.letters == []
    assert fakes.service.accepted == [("evt-b1", QUARANTINED)] and list(fakes.claims.digests) == ["evt-b1"]
    assert settlements.acks(QUARANTINED) == 1


async def test_the_same_event_in_both_modes_is_one_content_never_a_conflict(settlements: Settlements) -> None:
    fakes = Intake()
    event = quarantine("evt-both")
    as_binary, as_structured = binary(event), to_structured(event, JSONFormat())
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(as_binary.body, QUARANTINED, headers=as_binary.headers)
        await broker.publish(as_structured.body, QUARANTINED, headers=as_structured.headers)
    # the second is a redelivery of the same content: the service layer makes it a no-op (no dead letter)
    assert dead.letters == [] and [a[0] for a in fakes.service.accepted] == ["evt-both", "evt-both"]
    assert list(fakes.claims.digests) == ["evt-both"]


async def test_a_binary_event_without_ce_specversion_is_dead_lettered_naming_the_header(
        settlements: Settlements) -> None:
    fakes = Intake()
    message = binary(quarantine("evt-nospec"))
    headers = {k: v for k, v in message.headers.items() if k != "ce-specversion"}
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(message.body, QUARANTINED, headers=headers)
    [letter] = dead.letters
    assert letter.kind == KIND_INVALID and letter.event_id == "evt-nospec"
    assert letter.reason.startswith("header ce-specversion: missing") and letter.body == message.body
    assert fakes.service.accepted == [] and settlements.acks(QUARANTINED) == 1


async def test_a_binary_event_in_another_agencys_name_is_dead_lettered_as_in_structured_mode(
        settlements: Settlements) -> None:
    fakes = Intake()
    message = binary(quarantine(source=BY_USER["hr_social_security"].source_uri))
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(message.body, QUARANTINED, headers=message.headers)
    [letter] = dead.letters
    assert letter.event_id == "evt-b1" and letter.reason == (
        "cloudevent.source 'urn:doudi:source:hr_social_security' names 'hr_social_security', but the event was"
        f" published by source 'health' (subject {QUARANTINED})")
    assert fakes.service.accepted == []


async def test_a_binary_event_reusing_an_id_with_other_content_is_a_conflicting_duplicate(
        settlements: Settlements) -> None:
    fakes = Intake()
    first, other = binary(quarantine("evt-b7")), binary(quarantine("evt-b7", person_id=national_id("640104")))
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(first.body, QUARANTINED, headers=first.headers)
        await broker.publish(other.body, QUARANTINED, headers=other.headers)
    assert fakes.service.accepted == [("evt-b7", QUARANTINED)]
    [letter] = dead.letters
    assert letter.kind == KIND_CONFLICTING_DUPLICATE and letter.event_id == "evt-b7"
    assert letter.body == other.body  # the original bytes: the data alone, as it came


async def test_a_binary_dead_letter_keeps_the_attributes_a_redelivery_restores(settlements: Settlements) -> None:
    fakes = Intake()
    message = binary(quarantine("evt-b9", person_id="640104"))  # not a national ID: data.person_id
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(message.body, QUARANTINED, headers=message.headers)
    [letter] = dead.letters
    assert letter.reason.startswith("data.person_id") and letter.body == message.body
    assert {k: letter.headers[k] for k in message.headers if k != "content-type"} == {
        k: v for k, v in message.headers.items() if k != "content-type"}
    assert letter.headers["Doudi-Original-Content-Type"] == "application/json"
    # what the operator's redelivery publishes (services/operations/dead_letters.py) is the same event
    restored = restored_from_dead_letter(letter.headers)
    assert restored == message.headers
    fixed = message.body.replace(b'"640104", "region_code"', f'"{PERSON}", "region_code"'.encode())
    assert parse_inbound(QUARANTINED, fixed, restored).id == "evt-b9"
