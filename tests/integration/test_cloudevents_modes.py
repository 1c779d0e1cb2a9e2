"""Agencies' events in both CloudEvents content modes, e2e on the embedded stack (issue 16, "agencies'
systems"): a quarantine event built with the official Python SDK (``cloudevents``) in structured and in
binary mode (the NATS protocol binding: attributes in ``ce-`` headers, the data the body), published over
NATS as the health agency, each pays exactly once; the same event sent in both modes pays once.

The figure: an urban dibao recipient in Yinchuan (640104) quarantined in August 2022 is paid three months
of Ningxia's city dibao standard, 3 x 650 yuan = 1,950 yuan = 195,000 fen (seed 002, as the README and
tests/integration/test_nats_permissions.py say).
"""

from __future__ import annotations

import uuid
from typing import Any

from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from deploy.embedded import EmbeddedStack
from tests.integration.test_security_bus import dead_letters
from tests.support import StackClient, household, national_id

YINCHUAN_URBAN = "640104"
QUARANTINED = "doudi.events.health.quarantined"
PAID_FEN = 195000  # 3 x 650 yuan, Ningxia city dibao standard (seed 002)


async def quarantined_recipient(client: StackClient) -> str:
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    return pid


async def sdk_quarantine(client: StackClient, pid: str) -> SdkEvent:
    """The health agency's event, built with the SDK (its source is the agency's own URN)."""
    _, source = await client.publisher("health.quarantined")
    assert source == "urn:doudi:source:health"
    return SdkEvent({"specversion": "1.0", "id": f"evt-sdk-{uuid.uuid4()}", "source": source,
                     "type": "doudi.health.quarantined.v1", "datacontenttype": "application/json"},
                    {"person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"})


async def publish_as_health(client: StackClient, message: HTTPMessage, *, msg_id: str | None) -> Any:
    """Over NATS as the health agency's own user: the SDK's headers are the NATS message's headers."""
    nc, _ = await client.publisher("health.quarantined")
    headers = dict(message.headers) | ({"Nats-Msg-Id": msg_id} if msg_id else {})
    return await nc.jetstream().publish(QUARANTINED, message.body, headers=headers)


async def paid_once(client: StackClient, pid: str, event_id: str) -> None:
    case = await client.closed_case(pid, timeout=180)
    assert (case["outcome"], case["cause_event_id"]) == ("paid", event_id)
    await client.settled("intake-health")  # every copy handled: only then is "once" a finding
    rows = await client.ledger(person_id=pid, kind="disbursement")
    assert [r["amount_fen"] for r in rows] == [PAID_FEN]
    assert len(await client.cases(person_id=pid)) == 1
    assert await dead_letters(client, event_id=event_id) == []


async def test_a_structured_mode_sdk_event_over_nats_pays_once(stack: EmbeddedStack, client: StackClient) -> None:
    pid = await quarantined_recipient(client)
    event = await sdk_quarantine(client, pid)
    message = to_structured(event, JSONFormat())
    assert message.headers["content-type"] == "application/cloudevents+json"
    await publish_as_health(client, message, msg_id=event.get_id())
    await paid_once(client, pid, event.get_id())


async def test_a_binary_mode_sdk_event_over_nats_pays_once(stack: EmbeddedStack, client: StackClient) -> None:
    pid = await quarantined_recipient(client)
    event = await sdk_quarantine(client, pid)
    message = to_binary(event, JSONFormat())
    assert message.headers["ce-specversion"] == "1.0" and b"specversion" not in message.body
    await publish_as_health(client, message, msg_id=event.get_id())
    await paid_once(client, pid, event.get_id())


async def test_the_same_event_in_both_modes_pays_once(stack: EmbeddedStack, client: StackClient) -> None:
    pid = await quarantined_recipient(client)
    event = await sdk_quarantine(client, pid)
    as_binary, as_structured = to_binary(event, JSONFormat()), to_structured(event, JSONFormat())
    first = await publish_as_health(client, as_binary, msg_id=event.get_id())
    assert not first.duplicate
    await client.closed_case(pid, timeout=180)
    # with the event id as Nats-Msg-Id (the contract) the stream drops the second copy
    again = await publish_as_health(client, as_structured, msg_id=event.get_id())
    assert again.duplicate
    # past the stream's window (no message id): intake reads the same envelope, a redelivery, not a conflict
    stored = await publish_as_health(client, as_structured, msg_id=None)
    assert not stored.duplicate
    await paid_once(client, pid, event.get_id())
