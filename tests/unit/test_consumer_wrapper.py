"""The one consumer wrapper (shared/infra/consumer.py) and the source check (shared/contracts/sources.py),
without a server: every delivery ends acknowledged, retried with a delay, or dead-lettered with a reason."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from shared.contracts.events import INBOUND_EVENTS, InvalidEvent, make_cloudevent, parse_inbound
from shared.contracts.sources import BY_USER, SOURCES, owner_of, publishing_source, verify_source
from shared.infra.consumer import (
    KIND_CONFLICTING_DUPLICATE,
    KIND_FAILED,
    KIND_INVALID,
    Delivered,
    Poison,
    Redelivery,
    _Consumer,
)


@dataclass
class _Meta:
    num_delivered: int

    @property
    def sequence(self) -> Any:
        return type("Seq", (), {"stream": 7})()


@dataclass
class _Raw:
    subject: str
    metadata: _Meta
    headers: dict[str, str] = field(default_factory=dict)


class _Msg:
    def __init__(self, subject: str, delivered: int):
        self.raw_message = _Raw(subject, _Meta(delivered))
        self.acked = False
        self.nacked: float | None = None

    async def ack(self) -> None:
        self.acked = True

    async def nack(self, delay: float | None = None) -> None:
        self.nacked = delay


class _Connection:
    max_payload = 1024 * 1024


class _Broker:
    def __init__(self, fail: bool = False):
        self.published: list[tuple[bytes, str, dict[str, str]]] = []
        self.connection = _Connection()
        self.fail = fail

    async def publish(self, body: bytes, subject: str, *, headers: dict[str, str], **_: Any) -> None:
        if self.fail:
            raise OSError("NATS is away")
        self.published.append((body, subject, headers))


POLICY = Redelivery(max_deliver=10, dead_letter_after=5, nak_delays=(1.0, 2.0, 5.0))


async def _parse_json(d: Delivered) -> dict[str, Any]:
    return json.loads(d.body)


async def _deliver(handle: Any, body: bytes, delivered: int = 1, parse: Any = _parse_json,
                   broker: _Broker | None = None) -> tuple[_Msg, _Broker]:
    broker = broker or _Broker()
    msg = _Msg("doudi.events.health.quarantined", delivered)
    await _Consumer(broker, "doudi.dlq.events", parse, handle, POLICY, None).on_message(body, msg)  # type: ignore[arg-type]
    return msg, broker


async def _ok(item: Any, subject: str) -> None:
    return None


def _nested(depth: int) -> bytes:
    return (b'{"specversion":"1.0","id":"deep","source":"x","type":"t","data":'
            + b'{"a":' * depth + b"1" + b"}" * depth + b"}")


async def test_a_handled_message_is_acknowledged() -> None:
    msg, broker = await _deliver(_ok, b'{"id": "a"}')
    assert msg.acked and msg.nacked is None and broker.published == []


async def test_a_cloudevent_nested_3000_levels_is_dead_lettered_at_once_with_its_bytes() -> None:
    body = _nested(3000)
    msg, broker = await _deliver(_ok, body)
    assert msg.acked and msg.nacked is None
    [(dead, subject, headers)] = broker.published
    assert dead == body and subject == "doudi.dlq.events"
    assert headers["Doudi-Dlq-Kind"] == KIND_INVALID and "RecursionError" in headers["Doudi-Dlq-Reason"]
    # and through intake's own parser too: the RecursionError no longer escapes it
    with pytest.raises((InvalidEvent, RecursionError)):
        parse_inbound("doudi.events.health.quarantined", body)


async def test_poison_from_the_parser_or_the_handler_is_dead_lettered_with_its_reason_and_kind() -> None:
    async def parse(d: Delivered) -> Any:
        raise Poison("data.person_id: Field required", event_id="e-1")

    msg, broker = await _deliver(_ok, b"{}", parse=parse)
    assert msg.acked and broker.published[0][2]["Doudi-Event-Id"] == "e-1"

    async def conflict(item: Any, subject: str) -> None:
        raise Poison("conflicting duplicate", event_id="e-2", kind=KIND_CONFLICTING_DUPLICATE)

    msg, broker = await _deliver(conflict, b"{}")
    assert msg.acked and broker.published[0][2]["Doudi-Dlq-Kind"] == KIND_CONFLICTING_DUPLICATE


async def test_a_deterministic_failure_is_retried_with_backoff_then_dead_lettered_after_n_deliveries() -> None:
    async def bug(item: Any, subject: str) -> None:
        raise KeyError("a bug that fails every time")

    delays = []
    for delivered in range(1, POLICY.dead_letter_after):
        msg, broker = await _deliver(bug, b"{}", delivered)
        assert not msg.acked and broker.published == []
        delays.append(msg.nacked)
    assert delays == [1.0, 2.0, 5.0, 5.0]  # the policy's delays, the last one repeated
    msg, broker = await _deliver(bug, b'{"id": "x"}', POLICY.dead_letter_after)
    assert msg.acked
    [(_, _, headers)] = broker.published
    assert headers["Doudi-Dlq-Kind"] == KIND_FAILED and headers["Doudi-Deliveries"] == "5"
    assert "KeyError" in headers["Doudi-Dlq-Reason"]


async def test_a_transient_failure_is_retried_until_the_last_delivery() -> None:
    async def database_away(item: Any, subject: str) -> None:
        raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")

    msg, broker = await _deliver(database_away, b"{}", POLICY.dead_letter_after + 2)
    assert not msg.acked and msg.nacked == 5.0 and broker.published == []
    msg, broker = await _deliver(database_away, b"{}", POLICY.max_deliver)
    assert msg.acked and broker.published[0][2]["Doudi-Dlq-Kind"] == KIND_FAILED


async def test_a_dead_letter_that_cannot_be_published_keeps_the_message() -> None:
    msg, broker = await _deliver(_ok, b"not json", broker=_Broker(fail=True))
    assert not msg.acked and msg.nacked == 1.0


# -- sources ---------------------------------------------------------------------------------------


def test_every_inbound_event_has_exactly_one_owner() -> None:
    owners = {name: [s.user for s in SOURCES if name in s.events] for name in INBOUND_EVENTS}
    assert all(len(users) == 1 for users in owners.values()), owners
    assert owner_of("health.covid_diagnosed").user == "health"
    assert owner_of("household.member_deceased").user == "civil_registry"
    assert owner_of("employment.job_lost").user == "hr_social_security"
    assert owner_of("price.linkage_triggered").user == "price_authority"
    assert publishing_source("doudi.events.disaster.affected") is BY_USER["emergency_management"]


def test_the_source_is_the_subjects_owner_never_a_field_in_the_body() -> None:
    assert verify_source("doudi.events.health.covid_diagnosed", "health.covid_diagnosed",
                         "urn:anything").user == "health"
    assert verify_source("doudi.events.health.quarantined", "health.quarantined",
                         "urn:doudi:source:health:his-640100").user == "health"
    # a family that is not the publishing source's
    with pytest.raises(InvalidEvent, match="does not belong to the publishing source 'hr_social_security'"):
        verify_source("doudi.events.employment.job_lost", "health.covid_diagnosed", "urn:doudi:source:health")
    # a body claiming another agency
    with pytest.raises(InvalidEvent, match="names 'health'"):
        verify_source("doudi.events.employment.job_lost", "employment.job_lost", "urn:doudi:source:health")
    with pytest.raises(InvalidEvent, match="no source agency"):
        verify_source("doudi.events.rumours.heard", "rumours.heard", "urn:x")


def test_make_cloudevent_with_the_agency_source_passes_the_check() -> None:
    for agency in SOURCES:
        for name in agency.events:
            body = make_cloudevent(name, {}, event_id="e", source=agency.source_uri)
            assert verify_source(f"doudi.events.{name}", name, body["source"]) is agency


def test_the_infrastructure_away_is_transient_a_refusal_or_a_bug_is_not() -> None:
    from temporalio.service import RPCError, RPCStatusCode

    from shared.infra.consumer import is_transient

    assert is_transient(RPCError("temporal is away", RPCStatusCode.UNAVAILABLE, b""))
    assert is_transient(RPCError("too slow", RPCStatusCode.DEADLINE_EXCEEDED, b""))
    assert is_transient(asyncpg.exceptions.CannotConnectNowError("starting up"))
    assert is_transient(ConnectionRefusedError("NATS is away"))
    assert not is_transient(RPCError("bad request", RPCStatusCode.INVALID_ARGUMENT, b""))
    assert not is_transient(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not is_transient(KeyError("a bug"))
    # the last delivery: the server's for a transient failure, ``dead_letter_after`` for any other
    assert not POLICY.is_last(POLICY.max_deliver - 1, transient=True)
    assert POLICY.is_last(POLICY.max_deliver, transient=True)
    assert not POLICY.is_last(POLICY.dead_letter_after - 1, transient=False)
    assert POLICY.is_last(POLICY.dead_letter_after, transient=False)
