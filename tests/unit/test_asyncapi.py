"""The AsyncAPI document in docs/ is the one FastStream generates from today's brokers, and it names
every subject of the contract."""

from __future__ import annotations

import json

from deploy import asyncapi
from shared.contracts.domain_events import DOMAIN_SUBJECTS
from shared.contracts.events import EVENTS_SUBJECT_PREFIX, INBOUND_EVENTS
from shared.contracts.pathways import event_families


def test_the_committed_asyncapi_document_is_current() -> None:
    assert asyncapi.OUTPUT.read_text(encoding="utf-8") == asyncapi.render(), (
        "docs/asyncapi.json is stale: run python -m deploy.asyncapi")


def test_every_inbound_and_outbound_subject_and_every_intake_consumer_is_a_channel() -> None:
    doc = json.loads(asyncapi.render())
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert {f"{EVENTS_SUBJECT_PREFIX}{name}" for name in INBOUND_EVENTS} <= addresses
    assert set(DOMAIN_SUBJECTS) <= addresses
    assert {f"{EVENTS_SUBJECT_PREFIX}{family}.>" for family in event_families()} <= addresses
    assert {"doudi.case.>", "doudi.payment.>", "doudi.dlq.>"} <= addresses


def test_an_inbound_message_is_the_cloudevent_with_its_typed_data() -> None:
    schemas = json.loads(asyncapi.render())["components"]["schemas"]
    quarantined = schemas["HealthQuarantinedEvent"]
    assert quarantined["properties"]["type"]["const"] == "doudi.health.quarantined.v1"
    assert quarantined["properties"]["data"] == {"$ref": "#/components/schemas/Quarantined"}
    assert set(schemas["Quarantined"]["required"]) == {"person_id", "region_code", "quarantined_on"}
