"""Every service's bus subscribers, as registered, on FastStream's in-memory ``TestNatsBroker``: the real
``register`` functions and the real consumer wrapper, the stores and Temporal replaced by fakes
(tests/unit/fakes.py). A message that breaks the contract is dead-lettered with its reason and bytes and
acknowledged; a good one has its handler's effect; the database being away is a nak with the backoff."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from faststream.nats import NatsBroker

from services.intake import subscribers as intake
from services.operations import bus_health
from services.operations import subscribers as operations
from shared.contracts.events import DLQ_EVENTS_SUBJECT, make_cloudevent
from shared.contracts.sources import BY_USER
from shared.infra.bus import MAX_DELIVERIES_ADVISORY, STREAM_DLQ
from shared.infra.consumer import (
    DEFAULT_REDELIVERY,
    KIND_CONFLICTING_DUPLICATE,
    KIND_FAILED,
    KIND_INVALID,
    Delivered,
)
from tests.support import national_id
from tests.unit.fakes import (
    NO_DATABASE,
    FakeClaims,
    FakeTemporal,
    RecordingCaseOpener,
    Settlements,
    bus_under_test,
    delivery,
)
from workflows.batch_subsidy.inputs import batch_id_for, price_linkage_occasion

QUARANTINED = "doudi.events.health.quarantined"
PERSON = "11010519491231002X"


def quarantine(event_id: str = "evt-1", *, person_id: str = PERSON, source: str | None = None) -> bytes:
    body = make_cloudevent("health.quarantined", {"person_id": person_id, "region_code": "640104",
                                                  "quarantined_on": "2022-08-10"},
                           event_id=event_id, source=source or BY_USER["health"].source_uri)
    return json.dumps(body).encode()


class Intake:
    def __init__(self) -> None:
        self.claims = FakeClaims()
        self.service = RecordingCaseOpener()
        self.temporal = FakeTemporal()

    def register(self, broker: NatsBroker) -> None:
        intake.register(broker, self.service, pool=NO_DATABASE, temporal=self.temporal,  # type: ignore[arg-type]  # the fake client has only what the price batch uses
                        claims=self.claims)


# -- intake ---------------------------------------------------------------------------------------------


async def test_an_event_opens_its_case_once_and_is_acknowledged(settlements: Settlements) -> None:
    fakes = Intake()
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(quarantine(), QUARANTINED)
        await broker.publish(quarantine(), QUARANTINED)  # a redelivery: the service layer makes it a no-op
    assert fakes.service.accepted == [("evt-1", QUARANTINED), ("evt-1", QUARANTINED)]
    assert list(fakes.claims.digests) == ["evt-1"]
    assert settlements.acks(QUARANTINED) == 2 and dead.letters == []


async def test_not_json_is_dead_lettered_at_once_with_its_bytes(settlements: Settlements) -> None:
    fakes = Intake()
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(b"{this is not json", QUARANTINED)
    [letter] = dead.letters
    assert letter.subject == DLQ_EVENTS_SUBJECT and letter.body == b"{this is not json"
    assert letter.kind == KIND_INVALID and letter.headers["Doudi-Original-Subject"] == QUARANTINED
    assert fakes.service.accepted == [] and settlements.acks(QUARANTINED) == 1


async def test_a_contract_violation_is_dead_lettered_with_the_event_id_and_the_field(settlements: Settlements) -> None:
    fakes = Intake()
    bad_id = PERSON[:17] + "0"  # the check character of this ID is X, not 0
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(quarantine("evt-bad", person_id=bad_id), QUARANTINED)
    [letter] = dead.letters
    assert letter.event_id == "evt-bad" and "person_id" in letter.reason and letter.kind == KIND_INVALID
    assert fakes.service.accepted == [] and settlements.acks(QUARANTINED) == 1


async def test_a_family_published_in_another_agencys_name_is_dead_lettered(settlements: Settlements) -> None:
    fakes = Intake()
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(quarantine(source=BY_USER["hr_social_security"].source_uri), QUARANTINED)
    [letter] = dead.letters
    assert letter.event_id == "evt-1" and "hr_social_security" in letter.reason
    assert fakes.service.accepted == []


async def test_the_same_id_with_other_content_is_a_conflicting_duplicate_never_applied(
        settlements: Settlements) -> None:
    fakes = Intake()
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(quarantine("evt-7"), QUARANTINED)
        await broker.publish(quarantine("evt-7", person_id=national_id("640104")), QUARANTINED)
    assert fakes.service.accepted == [("evt-7", QUARANTINED)]
    [letter] = dead.letters
    assert letter.kind == KIND_CONFLICTING_DUPLICATE and letter.event_id == "evt-7"
    assert settlements.acks(QUARANTINED) == 2


async def test_the_database_away_is_a_nak_with_the_backoff_never_a_dead_letter(settlements: Settlements) -> None:
    fakes = Intake()
    fakes.service.failures.append(asyncpg.exceptions.CannotConnectNowError("the database system is starting up"))
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(quarantine(), QUARANTINED)
    assert settlements.naks(QUARANTINED) == [DEFAULT_REDELIVERY.nak_delay(1)] and settlements.acks(QUARANTINED) == 0
    assert dead.letters == [] and fakes.service.accepted == []


async def test_a_deterministic_failure_is_dead_lettered_at_the_nth_delivery_and_its_content_released(
        settlements: Settlements) -> None:
    fakes = Intake()
    n = DEFAULT_REDELIVERY.dead_letter_after
    fakes.service.failures += [KeyError("a bug that fails every time"), KeyError("a bug that fails every time")]
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(quarantine("evt-9"), QUARANTINED, reply_to=delivery(n - 1))
        assert settlements.naks(QUARANTINED) == [DEFAULT_REDELIVERY.nak_delay(n - 1)] and dead.letters == []
        await broker.publish(quarantine("evt-9"), QUARANTINED, reply_to=delivery(n))
        [letter] = dead.letters
        assert letter.kind == KIND_FAILED and letter.event_id == "evt-9" and "KeyError" in letter.reason
        assert letter.headers["Doudi-Deliveries"] == str(n) and letter.body == quarantine("evt-9")
        # its content is forgotten: an operator's corrected redelivery (same id) is applied, not a conflict
        assert fakes.claims.released == ["evt-9"]
        await broker.publish(quarantine("evt-9", person_id=national_id("640104")), QUARANTINED)
    assert fakes.service.accepted == [("evt-9", QUARANTINED)] and len(dead.letters) == 1


async def test_the_database_away_is_retried_until_the_servers_last_delivery(settlements: Settlements) -> None:
    fakes = Intake()
    away = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
    last = DEFAULT_REDELIVERY.max_deliver
    fakes.service.failures += [away, away]
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(quarantine(), QUARANTINED, reply_to=delivery(last - 1))  # long past dead_letter_after
        assert dead.letters == [] and settlements.naks(QUARANTINED) == [DEFAULT_REDELIVERY.nak_delay(last - 1)]
        await broker.publish(quarantine(), QUARANTINED, reply_to=delivery(last))
    [letter] = dead.letters
    assert letter.kind == KIND_FAILED and "CannotConnectNowError" in letter.reason


async def test_a_price_linkage_event_starts_its_batch_at_doudis_amount_once(settlements: Settlements) -> None:
    fakes = Intake()
    subject = "doudi.events.price.linkage_triggered"

    def price(event_id: str) -> bytes:
        body = make_cloudevent("price.linkage_triggered",
                               {"region_code": "6523", "month": "2022-07", "subsidy_fen_per_person": 1500},
                               event_id=event_id, source=BY_USER["price_authority"].source_uri)
        return json.dumps(body).encode()

    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(price("evt-p1"), subject)
        await broker.publish(price("evt-p2"), subject)  # the same region and month: the same batch
    [(batch_id, (_, started))] = fakes.temporal.started.items()
    assert batch_id == batch_id_for("price_linkage", "6523", price_linkage_occasion("2022-07"))
    # the event's 1,500 fen is never paid: seed 000 raises the minimum to 20 yuan (「最低标准…提高至 20元」) = 2,000 fen
    assert started.request.amount_fen_per_person == 2000 and started.request.cause_event_id == "evt-p1"
    assert dead.letters == [] and settlements.acks(subject) == 2 and fakes.service.accepted == []


# -- operations -----------------------------------------------------------------------------------------


class Operations:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.projected: list[tuple[str, dict[str, Any]]] = []
        self.recorded: list[Delivered] = []

        async def project(pool: Any, subject: str, event: dict[str, Any]) -> bool:
            self.projected.append((subject, event))
            return True

        async def record_dead_letter(pool: Any, delivered: Delivered) -> None:
            self.recorded.append(delivered)

        monkeypatch.setattr(operations, "project", project)
        monkeypatch.setattr(bus_health, "record_dead_letter", record_dead_letter)

    def register(self, broker: NatsBroker) -> None:
        operations.register(broker, pool=NO_DATABASE)


async def test_a_domain_event_is_projected_and_acknowledged(monkeypatch: pytest.MonkeyPatch,
                                                            settlements: Settlements) -> None:
    fakes = Operations(monkeypatch)
    event = {"id": "e-1", "type": "doudi.case.opened.v1", "data": {"case_id": "c-1"}}
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(json.dumps(event).encode(), "doudi.case.opened")
    assert fakes.projected == [("doudi.case.opened", event)]
    assert settlements.acks("doudi.case.opened") == 1 and dead.letters == []


async def test_an_unreadable_domain_event_is_dead_lettered_with_its_id_and_becomes_an_alert(
        monkeypatch: pytest.MonkeyPatch, settlements: Settlements) -> None:
    fakes = Operations(monkeypatch)
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(b'{"id": "e-2", "data": "not an object"}', "doudi.payment.disbursed")
        await broker.publish(b"\xff\xfe not json", "doudi.case.opened")
    assert fakes.projected == []
    first, second = dead.letters
    assert first.subject == operations.DLQ_PROJECTION and first.event_id == "e-2" and first.kind == KIND_INVALID
    assert second.body == b"\xff\xfe not json" and second.event_id is None and "not JSON" in second.reason
    # operations' own DLQ consumer turns each dead letter into an alert
    assert [d.subject for d in fakes.recorded] == [operations.DLQ_PROJECTION] * 2
    assert settlements.acks("doudi.payment.disbursed") == 1 and settlements.acks("doudi.case.opened") == 1


async def test_a_failing_projection_is_retried_then_dead_lettered_at_the_nth_delivery_with_its_event_id(
        monkeypatch: pytest.MonkeyPatch, settlements: Settlements) -> None:
    fakes = Operations(monkeypatch)

    async def broken(pool: Any, subject: str, event: dict[str, Any]) -> bool:
        raise KeyError("a projection bug")

    monkeypatch.setattr(operations, "project", broken)
    event = json.dumps({"id": "e-4", "data": {}}).encode()
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(event, "doudi.case.opened")  # a first delivery: retried after the backoff
        assert settlements.naks("doudi.case.opened") == [DEFAULT_REDELIVERY.nak_delay(1)] and dead.letters == []
        await broker.publish(event, "doudi.case.opened", reply_to=delivery(DEFAULT_REDELIVERY.dead_letter_after))
    [letter] = dead.letters
    assert (letter.subject, letter.kind, letter.event_id) == (operations.DLQ_PROJECTION, KIND_FAILED, "e-4")


async def test_the_servers_give_up_advisory_on_a_dead_letter_is_itself_kept_as_one(
        monkeypatch: pytest.MonkeyPatch, settlements: Settlements) -> None:
    """operations-max-deliveries: a consumer of the DLQ itself gave up (its process died on the letter each
    time): nothing to fetch from a source stream, the advisory is dead-lettered with the reason."""
    fakes = Operations(monkeypatch)
    subject = f"{MAX_DELIVERIES_ADVISORY}.{STREAM_DLQ}.operations-dlq"
    advisory = {"stream": STREAM_DLQ, "consumer": "operations-dlq", "stream_seq": 42, "deliveries": 50}
    async with bus_under_test(fakes.register) as (broker, dead):
        await broker.publish(json.dumps(advisory).encode(), subject, stream=STREAM_DLQ)
    [letter] = dead.letters
    assert letter.subject == operations.DLQ_PROJECTION and letter.kind == KIND_INVALID
    assert "gave up on message 42 after 50 deliveries" in letter.reason
    assert settlements.acks(subject) == 1


# -- every durable consumer -------------------------------------------------------------------------------


def test_every_durable_consumer_of_every_service_has_max_deliver_and_a_backoff() -> None:
    from shared.infra.bus import _DoudiBroker

    broker = _DoudiBroker()
    Intake().register(broker)
    operations.register(broker, pool=NO_DATABASE)
    declared = broker.__dict__["_doudi_consumers"]
    assert len(declared) == len(broker.subscribers) == len(intake.CONSUMED) + 4
    for _, config in declared:
        assert config.max_deliver == DEFAULT_REDELIVERY.max_deliver > 0, config.durable_name
        assert config.backoff == list(DEFAULT_REDELIVERY.ack_timeouts), config.durable_name
