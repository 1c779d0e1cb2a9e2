"""The bus under attack (issue 14), against the real embedded stack: sources own their events, poison never
blocks, a conflicting duplicate is an alert, streams have limits that alert.

- every source agency's NATS user x every inbound event family: its own events are accepted (and pass
  intake's source check), every other agency's are refused by NATS, never stored;
- no agency may subscribe to ``_INBOX.>`` or another user's inbox;
- a forged ``household.member_deceased`` from the wrong agency ends nothing; the employment bureau's
  COVID diagnosis pays nothing (refused by NATS, and dead-lettered when smuggled under its own subject);
- 1,000 CloudEvents nested 3,000 levels deep are dead-lettered and do not hold up a health event;
- the same event id with different content is a "conflicting duplicate" dead letter and an operator alert;
- every consumer has max_deliver and a backoff, their lag and redeliveries are visible, and a stream near
  its byte limit raises an alert.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import nats
import nats.errors
from nats.js.api import StreamConfig

from deploy.embedded import EmbeddedStack
from shared.auth import issue_token
from shared.contracts.events import INBOUND_EVENTS, make_cloudevent
from shared.contracts.sources import BY_USER, SOURCE_USERS, SOURCES, owner_of
from shared.infra.bus import STREAM_EVENTS, STREAM_LIMITS, STREAMS, connect, ensure_streams
from shared.infra.consumer import DEFAULT_REDELIVERY
from tests.support import StackClient, household, national_id, wait_for

YINCHUAN_URBAN = "640104"
DLQ = "doudi.dlq.events"
OPS = {"Authorization": f"Bearer {issue_token('bus-ops', 'admin')}"}


class Errors:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def on_error(self, exc: Exception) -> None:
        self.seen.append(str(exc).lower())

    async def wait_for(self, needle: str) -> None:
        async def probe() -> bool:
            return any(needle.lower() in e for e in self.seen)

        await wait_for(probe, timeout=10, interval=0.05)


async def as_source(stack: EmbeddedStack, user: str) -> tuple[nats.NATS, Errors]:
    errors = Errors()
    return await connect(stack.nats_url_for(user), error_cb=errors.on_error, allow_reconnect=False), errors


async def try_publish(nc: nats.NATS, subject: str, body: dict[str, Any] | bytes, event_id: str) -> bool:
    """True when JetStream stored it; False when the server refused it (no ack ever comes)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        await nc.jetstream(timeout=3).publish(subject, raw, headers={"Nats-Msg-Id": event_id})
        return True
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
        return False


async def dead_letters(client: StackClient, *, event_id: str | None = None, marker: bytes | None = None) -> list[Any]:
    msgs = await client.fetch_stream(DLQ, timeout=0.5)
    return [m for m in msgs if (event_id is not None and (m.headers or {}).get("Doudi-Event-Id") == event_id)
            or (marker is not None and marker in m.data[:300])]


async def dead_letter_of(client: StackClient, event_id: str) -> Any:
    async def probe() -> Any:
        found = await dead_letters(client, event_id=event_id)
        return found[0] if found else None

    return await wait_for(probe, timeout=60, interval=0.5)


async def stored_ids(client: StackClient, subject: str) -> set[str]:
    return {(m.headers or {}).get("Nats-Msg-Id", "") for m in await client.fetch_stream(subject, timeout=0.5)}


async def consumer_idle(client: StackClient, durable: str) -> None:
    js = (await client.nc()).jetstream()

    async def probe() -> bool:
        info = await js.consumer_info(STREAM_EVENTS, durable)
        return info.num_pending == 0 and info.num_ack_pending == 0

    await wait_for(probe, timeout=60, interval=0.2)


# -- sources own their events ------------------------------------------------------------------------


async def test_every_agency_user_times_every_event_family(stack: EmbeddedStack, client: StackClient) -> None:
    marker = uuid.uuid4().hex[:8]
    conns = {user: await as_source(stack, user) for user in SOURCE_USERS}
    try:
        cells = [(user, name) for user in SOURCE_USERS for name in INBOUND_EVENTS]
        ids = {cell: f"matrix-{marker}-{cell[0]}-{cell[1]}" for cell in cells}
        outcomes = await asyncio.gather(*(
            try_publish(conns[user][0], f"doudi.events.{name}",
                        make_cloudevent(name, {"probe": marker}, event_id=ids[(user, name)],
                                        source=BY_USER[user].source_uri), ids[(user, name)])
            for user, name in cells))
        accepted = {cell for cell, ok in zip(cells, outcomes, strict=True) if ok}
        assert accepted == {(owner_of(name).user, name) for name in INBOUND_EVENTS}
        assert len(cells) == len(SOURCES) * len(INBOUND_EVENTS) == 63
        for user, name in cells:  # each refusal is the server's, naming user and subject
            if (user, name) not in accepted:
                await conns[user][1].wait_for(f'permissions violation for publish to "doudi.events.{name}"')
    finally:
        for nc, _ in conns.values():
            await nc.close()
    stored = set().union(*[await stored_ids(client, f"doudi.events.{name}") for name in INBOUND_EVENTS])
    assert {i for i in stored if i.startswith(f"matrix-{marker}-")} == {ids[cell] for cell in accepted}
    # the owners' events passed intake's source check: dead-lettered for their (empty) data only
    for user, name in sorted(accepted):
        letter = await dead_letter_of(client, ids[(user, name)])
        reason = letter.headers["Doudi-Dlq-Reason"]
        assert reason.startswith("data.") and "source" not in reason, (user, name, reason)


async def test_no_agency_may_subscribe_to_every_inbox_or_another_users(stack: EmbeddedStack) -> None:
    for user in SOURCE_USERS:
        nc, errors = await as_source(stack, user)
        seen: list[str] = []

        async def record(msg: Any, seen: list[str] = seen) -> None:
            seen.append(msg.subject)

        try:
            other = "intake" if user != "health" else "civil_registry"
            for forbidden in ("_INBOX.>", f"_INBOX.{other}.>", "doudi.>", "$JS.API.>"):
                await nc.subscribe(forbidden, cb=record)
                await nc.flush()
                await errors.wait_for(f'permissions violation for subscription to "{forbidden}"')
        finally:
            await nc.close()
        assert seen == [], (user, seen)


async def test_a_body_claiming_another_agency_is_dead_lettered_by_intake(stack: EmbeddedStack,
                                                                         client: StackClient) -> None:
    """Under its own subject, the employment bureau claims to be health: intake takes the source from the
    subject the server permitted and dead-letters the event; a COVID type under its subject likewise."""
    nc, _ = await as_source(stack, "hr_social_security")
    pid = national_id(YINCHUAN_URBAN)
    claimed = f"evt-claim-{uuid.uuid4()}"
    smuggled = f"evt-smuggled-{uuid.uuid4()}"
    try:
        job_lost = make_cloudevent("employment.job_lost",
                                   {"person_id": pid, "region_code": YINCHUAN_URBAN,
                                    "last_income_month": "2022-07", "unemployment_insured": False},
                                   event_id=claimed, source="urn:doudi:source:health")
        assert await try_publish(nc, "doudi.events.employment.job_lost", job_lost, claimed)
        covid = make_cloudevent("health.covid_diagnosed", {"person_id": pid, "region_code": YINCHUAN_URBAN,
                                                           "diagnosed_on": "2022-08-10"},
                                event_id=smuggled, source=BY_USER["hr_social_security"].source_uri)
        assert await try_publish(nc, "doudi.events.employment.job_lost", covid, smuggled)
    finally:
        await nc.close()
    reason = (await dead_letter_of(client, claimed)).headers["Doudi-Dlq-Reason"]
    assert "names 'health'" in reason and "published by source 'hr_social_security'" in reason
    assert "does not match subject" in (await dead_letter_of(client, smuggled)).headers["Doudi-Dlq-Reason"]
    assert await client.cases(person_id=pid) == [] and await client.ledger(person_id=pid) == []


async def test_a_forged_death_from_the_wrong_agency_ends_nothing(stack: EmbeddedStack, client: StackClient) -> None:
    living, dead = national_id(YINCHUAN_URBAN), national_id(YINCHUAN_URBAN)
    for pid in (living, dead):
        await client.register(household(pid, region=YINCHUAN_URBAN, categories=()))
    death = {"person_id": living, "died_on": "2022-08-01"}
    for forger in ("health", "hr_social_security", "emergency_management", "price_authority"):
        nc, errors = await as_source(stack, forger)
        forged = f"evt-forged-death-{uuid.uuid4()}"
        try:
            body = make_cloudevent("household.member_deceased", death, event_id=forged,
                                   source="urn:doudi:source:civil_registry")
            assert not await try_publish(nc, "doudi.events.household.member_deceased", body, forged)
            await errors.wait_for('permissions violation for publish to "doudi.events.household.member_deceased"')
        finally:
            await nc.close()
    # the civil registry's own report of another person's death is applied (the check is not blanket refusal)
    await client.publish("household.member_deceased", {"person_id": dead, "died_on": "2022-08-01"})
    conn = await asyncpg.connect(client.database_url)
    try:
        async def recorded() -> bool:
            return await conn.fetchval("SELECT deceased_on FROM intake.members WHERE person_id = $1", dead) is not None

        await wait_for(recorded, timeout=60, interval=0.2)
        assert await conn.fetchval("SELECT deceased_on FROM intake.members WHERE person_id = $1", living) is None
    finally:
        await conn.close()


async def test_an_employment_bureau_covid_diagnosis_pays_nothing(stack: EmbeddedStack, client: StackClient) -> None:
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    nc, errors = await as_source(stack, "hr_social_security")
    forged = f"evt-forged-covid-{uuid.uuid4()}"
    try:
        body = make_cloudevent("health.covid_diagnosed", {"person_id": pid, "region_code": YINCHUAN_URBAN,
                                                          "diagnosed_on": "2022-08-10"},
                               event_id=forged, source="urn:doudi:source:health")
        assert not await try_publish(nc, "doudi.events.health.covid_diagnosed", body, forged)
        await errors.wait_for('permissions violation for publish to "doudi.events.health.covid_diagnosed"')
    finally:
        await nc.close()
    assert forged not in await stored_ids(client, "doudi.events.health.covid_diagnosed")
    await consumer_idle(client, "intake-health")
    assert await client.cases(person_id=pid) == [] and await client.ledger(person_id=pid) == []


# -- poison never blocks -----------------------------------------------------------------------------


def nested_cloudevent(event_id: str, depth: int) -> bytes:
    head = json.dumps({"specversion": "1.0", "id": event_id, "source": BY_USER["health"].source_uri,
                       "type": "doudi.health.quarantined.v1"})[:-1]
    return (head + ', "data": ' + '{"a": ' * depth + "1" + "}" * depth + "}").encode()


async def test_a_thousand_deeply_nested_events_are_dead_lettered_and_do_not_hold_up_a_health_event(
        stack: EmbeddedStack, client: StackClient) -> None:
    marker = f"deep-{uuid.uuid4().hex[:8]}"
    nc, _ = await as_source(stack, "health")
    try:
        js = nc.jetstream(timeout=10)
        for start in range(0, 1000, 100):
            await asyncio.gather(*(js.publish("doudi.events.health.quarantined",
                                              nested_cloudevent(f"{marker}-{i}", 3000),
                                              headers={"Nats-Msg-Id": f"{marker}-{i}"})
                                   for i in range(start, start + 100)))
    finally:
        await nc.close()
    # a genuine health event behind them: the urban dibao recipient quarantined in Yinchuan is paid
    # 3 x 650 yuan = 1,950 yuan = 195,000 fen (Ningxia's city dibao standard, seed 002, as the README says)
    pid = national_id(YINCHUAN_URBAN)
    await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
    await client.publish("health.quarantined", {"person_id": pid, "region_code": YINCHUAN_URBAN,
                                                "quarantined_on": "2022-08-10"})
    case = await client.closed_case(pid, timeout=180)
    assert [p["amount_fen"] for p in case["payments"]] == [195000]

    async def all_dead_lettered() -> list[Any] | None:
        found = await dead_letters(client, marker=marker.encode())
        return found if len(found) >= 1000 else None

    letters = await wait_for(all_dead_lettered, timeout=180, interval=2.0)
    assert len(letters) == 1000
    assert all("RecursionError" in m.headers["Doudi-Dlq-Reason"] for m in letters)
    assert all(m.headers["Doudi-Original-Subject"] == "doudi.events.health.quarantined" for m in letters)
    assert letters[0].data.startswith(b'{"specversion": "1.0", "id": "' + marker.encode())  # the original bytes
    await consumer_idle(client, "intake-health")  # nothing left redelivering


# -- conflicting duplicates --------------------------------------------------------------------------


async def test_same_id_different_content_is_a_conflicting_duplicate_and_an_alert(stack: EmbeddedStack,
                                                                                 client: StackClient) -> None:
    event_id = f"evt-dup-{uuid.uuid4()}"
    data = {"household_id": f"hh-nobody-{uuid.uuid4().hex[:8]}", "monthly_income_fen": 1000, "reason": "other",
            "effective_on": "2022-08-01"}
    await client.publish("household.income_changed", data, event_id=event_id)
    await consumer_idle(client, "intake-household")
    # the same id and the same content again (another message id, so the stream does not drop it): a no-op
    await client.publish("household.income_changed", data, event_id=event_id, msg_id=False)
    await consumer_idle(client, "intake-household")
    assert await dead_letters(client, event_id=event_id) == []
    # the same id with different content: a dead letter, never applied, and an alert for the operators
    await client.publish("household.income_changed", {**data, "monthly_income_fen": 2000}, event_id=event_id,
                         msg_id=False)
    letter = await dead_letter_of(client, event_id)
    assert letter.headers["Doudi-Dlq-Kind"] == "conflicting_duplicate"
    assert letter.headers["Doudi-Dlq-Reason"].startswith("conflicting duplicate")
    assert json.loads(letter.data)["data"]["monthly_income_fen"] == 2000  # the original bytes, kept

    async def alert() -> dict[str, Any] | None:
        r = await client.http.get("/api/admin/alerts", params={"kind": "conflicting_duplicate"}, headers=OPS)
        assert r.status_code == 200, r.text
        return next((a for a in r.json() if a["event_id"] == event_id), None)

    raised = await wait_for(alert, timeout=60, interval=0.5)
    assert raised["subject"] == "doudi.events.household.income_changed" and raised["cleared_at"] is None
    assert len(await dead_letters(client, event_id=event_id)) == 1


# -- operators see the bus ---------------------------------------------------------------------------


async def test_consumers_have_max_deliver_and_backoff_and_streams_limits_that_alert(stack: EmbeddedStack,
                                                                                     client: StackClient) -> None:
    r = await client.http.get("/api/admin/bus", headers=OPS)
    assert r.status_code == 200, r.text
    state = r.json()
    assert {s["stream"]: (s["max_bytes"], s["max_age_s"]) for s in state["streams"]} == {
        name: (STREAM_LIMITS[name].max_bytes, STREAM_LIMITS[name].max_age_s) for name in STREAMS}
    consumers = {c["durable"]: c for c in state["consumers"]}
    assert {f"intake-{f}" for f in ("health", "household", "price")} <= set(consumers)
    for c in consumers.values():
        assert c["found"] and c["max_deliver"] == DEFAULT_REDELIVERY.max_deliver, c
        assert c["backoff_s"] == list(DEFAULT_REDELIVERY.ack_timeouts), c
        assert {"pending", "ack_pending", "redelivered"} <= set(c)
    assert (await client.http.get("/api/admin/bus", headers={
        "Authorization": f"Bearer {issue_token('x', 'admin', region='6401')}"})).status_code == 403

    # squeeze DOUDI_EVENTS so that what it holds is 85% of its limit: an alert; restored: cleared
    js = (await client.nc()).jetstream()
    info = await js.stream_info(STREAM_EVENTS)
    tight = StreamConfig.from_response(info.config.as_dict())
    tight.max_bytes = int(info.state.bytes / 0.85) + 1
    await js.update_stream(tight)
    try:
        r = await client.http.get("/api/admin/bus", headers=OPS)
        events = next(s for s in r.json()["streams"] if s["stream"] == STREAM_EVENTS)
        assert events["near_limit"] and 0.8 <= events["used"] < 0.9
        r = await client.http.get("/api/admin/alerts", params={"kind": "stream_near_limit"}, headers=OPS)
        assert [a["subject"] for a in r.json()] == [STREAM_EVENTS]
    finally:
        await ensure_streams(stack.admin_nats_url)  # back to the declared limits
    r = await client.http.get("/api/admin/bus", headers=OPS)
    assert not any(s["near_limit"] for s in r.json()["streams"])
    r = await client.http.get("/api/admin/alerts", params={"kind": "stream_near_limit", "open_only": False},
                              headers=OPS)
    assert [a["cleared_at"] is not None for a in r.json()] == [True]


async def test_a_message_a_consumer_dies_on_is_dead_lettered_when_it_gives_up(stack: EmbeddedStack,
                                                                           client: StackClient) -> None:
    """The backstop: a handler that never answers (its process dies on the message every time) makes the
    server give up after max_deliver; operations dead-letters the message from its stream, and alerts."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    js = (await client.nc()).jetstream()
    durable = f"probe-crash-{uuid.uuid4().hex[:8]}"
    await js.add_consumer(STREAM_EVENTS, ConsumerConfig(
        durable_name=durable, filter_subject="doudi.events.household.income_changed",
        deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.EXPLICIT, max_deliver=1, ack_wait=1.0))
    try:
        sub = await js.pull_subscribe_bind(durable=durable, stream=STREAM_EVENTS)
        event_id = await client.publish("household.income_changed", {
            "household_id": f"hh-nobody-{uuid.uuid4().hex[:8]}", "monthly_income_fen": 1000, "reason": "other",
            "effective_on": "2022-08-01"})
        [taken] = await sub.fetch(1, timeout=10)  # ... and never acknowledged: the "process" died on it
        assert (taken.headers or {}).get("Nats-Msg-Id") == event_id

        async def gave_up() -> Any:
            try:  # a pull request lets the server find the delivery limit reached
                await sub.fetch(1, timeout=0.5)
            except nats.errors.TimeoutError:
                pass
            found = [m for m in await dead_letters(client, event_id=event_id)
                     if durable in m.headers["Doudi-Dlq-Reason"]]
            return found[0] if found else None

        letter = await wait_for(gave_up, timeout=60, interval=0.5)
    finally:
        await js.delete_consumer(STREAM_EVENTS, durable)
    assert letter.headers["Doudi-Dlq-Kind"] == "failed" and "gave up" in letter.headers["Doudi-Dlq-Reason"]
    assert letter.headers["Doudi-Original-Subject"] == "doudi.events.household.income_changed"
    assert json.loads(letter.data)["id"] == event_id  # the original bytes, from the stream

    async def alert() -> dict[str, Any] | None:
        r = await client.http.get("/api/admin/alerts", params={"kind": "failed"}, headers=OPS)
        return next((a for a in r.json() if a["event_id"] == event_id), None)

    assert durable in (await wait_for(alert, timeout=60, interval=0.5))["reason"]
