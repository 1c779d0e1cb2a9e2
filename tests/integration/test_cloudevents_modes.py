"""Agencies' events in both CloudEvents content modes, e2e on the embedded stack (issue 16, "agencies'
systems"): a quarantine event built with the official Python SDK (``cloudevents``) in structured and in
binary mode (the NATS protocol binding: attributes in ``ce-`` headers, the data the body), published over
NATS as the health agency, each pays exactly once; the same event sent in both modes pays once. Over HTTPS
(``POST /events`` on the front door, basic auth with the agency's NATS user and password): structured,
binary and batched each pay once, the same event over NATS and over HTTP pays once, and a refused event is
answered 401/403/422 with its reason.

The figure: an urban dibao recipient in Yinchuan (640104) quarantined in August 2022 is paid three months
of Ningxia's city dibao standard, 3 x 650 yuan = 1,950 yuan = 195,000 fen (seed 002, as the README and
tests/integration/test_nats_permissions.py say).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from cloudevents.core.bindings.http import HTTPMessage, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from deploy.embedded import EmbeddedStack
from tests.integration.test_security_bus import dead_letters
from tests.support import StackClient, household, national_id, official_token, wait_for

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


async def dead_letter_listed(client: StackClient, event_id: str, admin: dict[str, str]) -> dict[str, Any]:
    async def listed() -> dict[str, Any] | None:
        r = await client.http.get("/api/admin/dlq", headers=admin)
        assert r.status_code == 200, r.text
        return next((d for d in r.json() if d["event_id"] == event_id), None)

    found: dict[str, Any] = await wait_for(listed, timeout=60, interval=0.5)
    return found


async def publish_as_health(client: StackClient, message: HTTPMessage, *, msg_id: str | None) -> Any:
    """Over NATS as the health agency's own user: the SDK's headers are the NATS message's headers."""
    nc, _ = await client.publisher("health.quarantined")
    headers = dict(message.headers) | ({"Nats-Msg-Id": msg_id} if msg_id else {})
    return await nc.jetstream().publish(QUARANTINED, message.body, headers=headers)


async def paid_once(client: StackClient, pid: str, event_id: str, *, dead_lettered: int = 0) -> None:
    case = await client.closed_case(pid, timeout=180)
    assert (case["outcome"], case["cause_event_id"]) == ("paid", event_id)
    await client.settled("intake-health")  # every copy handled: only then is "once" a finding
    rows = await client.ledger(person_id=pid, kind="disbursement")
    assert [r["amount_fen"] for r in rows] == [PAID_FEN]
    assert len(await client.cases(person_id=pid)) == 1
    assert len(await dead_letters(client, event_id=event_id)) == dead_lettered


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
    # the events stream's dedupe window is 1 s by design (shared/infra/bus.py): a copy after it, and one
    # without a message id, both reach intake, which reads the same envelope: a redelivery, not a conflict
    await publish_as_health(client, as_structured, msg_id=event.get_id())
    stored = await publish_as_health(client, as_structured, msg_id=None)
    assert not stored.duplicate
    await paid_once(client, pid, event.get_id())


async def test_a_binary_dead_letter_corrected_and_redelivered_pays_once(stack: EmbeddedStack,
                                                                        client: StackClient) -> None:
    """The dead letter keeps the event's ce- headers; the redelivery restores them: the same event, paid."""
    pid = await quarantined_recipient(client)
    event = await sdk_quarantine(client, pid)
    wrong = to_binary(SdkEvent(event.get_attributes(), {"person_id": pid, "region_code": "64010",
                                                        "quarantined_on": "2022-08-10"}), JSONFormat())
    await publish_as_health(client, wrong, msg_id=event.get_id())
    asker = {"Authorization": f"Bearer {official_token(f'ops-admin-a-{uuid.uuid4().hex[:4]}', 'admin')}"}
    letter = await dead_letter_listed(client, event.get_id(), asker)
    assert "data.region_code" in letter["reason"]
    corrected = {"person_id": pid, "region_code": YINCHUAN_URBAN, "quarantined_on": "2022-08-10"}
    r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/redeliver", headers=asker,
                               json={"reason": "region code corrected with the health commission",
                                     "corrected": corrected})
    assert r.status_code == 200, r.text
    if r.json()["status"] == "awaiting_second_official":  # a body that is data alone: four eyes, to be safe
        second = official_token(f"ops-admin-b-{uuid.uuid4().hex[:4]}", "admin")
        r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/approve",
                                   headers={"Authorization": f"Bearer {second}"}, json={"reason": "checked"})
        assert r.status_code == 200, r.text
    await paid_once(client, pid, event.get_id(), dead_lettered=1)


# -- over HTTPS: POST /events ---------------------------------------------------------------------------


def as_agency(stack: EmbeddedStack, user: str = "health") -> httpx.BasicAuth:
    return httpx.BasicAuth(user, stack.nats_passwords[user])


async def post(client: StackClient, message: HTTPMessage, auth: httpx.BasicAuth) -> httpx.Response:
    return await client.http.post("/events", content=message.body, headers=message.headers, auth=auth)


async def test_structured_and_binary_posts_each_pay_once(stack: EmbeddedStack, client: StackClient) -> None:
    for mode in (to_structured, to_binary):
        pid = await quarantined_recipient(client)
        event = await sdk_quarantine(client, pid)
        r = await post(client, mode(event, JSONFormat()), as_agency(stack))
        assert r.status_code == 202, r.text
        assert r.json() == {"accepted": [{"id": event.get_id(), "subject": QUARANTINED, "duplicate": False}]}
        await paid_once(client, pid, event.get_id())


async def test_a_batch_post_pays_each_event_once(stack: EmbeddedStack, client: StackClient) -> None:
    pids = [await quarantined_recipient(client) for _ in range(2)]
    events = [await sdk_quarantine(client, pid) for pid in pids]
    batch = "[" + ",".join(to_structured(e, JSONFormat()).body.decode() for e in events) + "]"
    r = await client.http.post("/events", content=batch.encode(), auth=as_agency(stack),
                               headers={"content-type": "application/cloudevents-batch+json"})
    assert r.status_code == 202, r.text
    assert [a["id"] for a in r.json()["accepted"]] == [e.get_id() for e in events]
    for pid, event in zip(pids, events, strict=True):
        await paid_once(client, pid, event.get_id())


async def test_the_same_event_over_nats_and_over_http_pays_once(stack: EmbeddedStack, client: StackClient) -> None:
    pid = await quarantined_recipient(client)
    event = await sdk_quarantine(client, pid)
    await publish_as_health(client, to_binary(event, JSONFormat()), msg_id=event.get_id())
    await client.closed_case(pid, timeout=180)
    r = await post(client, to_structured(event, JSONFormat()), as_agency(stack))
    assert r.status_code == 202, r.text
    [accepted] = r.json()["accepted"]
    assert (accepted["id"], accepted["subject"]) == (event.get_id(), QUARANTINED)
    await paid_once(client, pid, event.get_id())


async def test_refused_posts_say_why_and_publish_nothing(stack: EmbeddedStack, client: StackClient) -> None:
    pid = national_id(YINCHUAN_URBAN)
    event = await sdk_quarantine(client, pid)
    message = to_binary(event, JSONFormat())
    wrong_password = await post(client, message, httpx.BasicAuth("health", "not-the-password"))
    assert wrong_password.status_code == 401, wrong_password.text
    assert (await client.http.post("/events", content=message.body, headers=message.headers)).status_code == 401
    other_agency = await post(client, message, as_agency(stack, "hr_social_security"))
    assert other_agency.status_code == 403, other_agency.text
    assert "belongs to source 'health'" in json.dumps(other_agency.json(), ensure_ascii=False)
    forged = to_binary(SdkEvent({**event.get_attributes(), "source": "urn:doudi:source:civil_registry"},
                                event.get_data()), JSONFormat())
    wrong_source = await post(client, forged, as_agency(stack))
    assert wrong_source.status_code == 403 and "names 'civil_registry'" in wrong_source.text
    invalid = to_binary(SdkEvent(event.get_attributes(), {"person_id": pid, "region_code": "x",
                                                          "quarantined_on": "2022-08-10"}), JSONFormat())
    bad_data = await post(client, invalid, as_agency(stack))
    assert bad_data.status_code == 422 and "data.region_code" in bad_data.text
    assert event.get_id() not in {(m.headers or {}).get("Nats-Msg-Id") for m in
                                  await client.fetch_stream(QUARANTINED, timeout=0.5)}
