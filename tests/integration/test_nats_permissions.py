"""NATS users and permissions (shared/infra/nats_permissions.py), on the real embedded NATS server and
in the compose configuration.

Against the session stack: no anonymous or wrong-password connection; a process may publish only its
own subjects (intake cannot publish a payment); each source agency (shared/contracts/sources.py) may
publish its own events and read nothing (no case events, no ``_INBOX.>``, no other user's inbox, no
JetStream API); only ``admin`` may touch streams; a case still goes from an inbound event published by
its agency to a paid case; and after all that the server logged no permission violation by any doudi
process except the ones provoked here. Every agency x every event family: tests/integration/test_security_bus.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
import yaml
from nats.js.api import StreamConfig

from deploy.embedded import SERVICES, EmbeddedStack
from shared.contracts.domain_events import DOMAIN_SUBJECTS, PAYMENT_DISBURSED
from shared.contracts.events import INBOUND_EVENTS, make_cloudevent
from shared.contracts.sources import BY_USER, SOURCE_USERS, SOURCES
from shared.infra.bus import STREAM_CASES, STREAM_EVENTS, STREAMS, connect
from shared.infra.nats_permissions import (
    ADMIN,
    BY_NAME,
    COMPOSE_CONF,
    PASSWORDS_FILE,
    SERVICE_USERS,
    USERS,
    Consumer,
    compose_section,
    generated_part,
)
from tests.support import StackClient, household, national_id, wait_for

REPO = Path(__file__).resolve().parents[2]
YINCHUAN_URBAN = "640104"


class Errors:
    """Collects what the server says asynchronously (permission violations come as -ERR)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def on_error(self, exc: Exception) -> None:
        self.seen.append(str(exc))

    async def wait_for(self, needle: str, timeout: float = 5.0) -> str:
        async def probe() -> str | None:
            # nats-py lower-cases the server's -ERR text
            return next((e for e in self.seen if needle.lower() in e.lower()), None)

        return await wait_for(probe, timeout=timeout, interval=0.05)


async def as_user(stack: EmbeddedStack, user: str) -> tuple[nats.NATS, Errors]:
    errors = Errors()
    nc = await connect(stack.nats_url_for(user), error_cb=errors.on_error, allow_reconnect=False)
    return nc, errors


# -- the one table, the code, and the compose file ---------------------------------------------


def test_compose_nats_conf_is_the_generated_one() -> None:
    assert generated_part(COMPOSE_CONF.read_text()) == compose_section()
    # every user's password is an environment reference, never a literal
    passwords = re.findall(r"^\s*password:\s*(\S+)", COMPOSE_CONF.read_text(), re.M)
    assert passwords == [f"${u.env_var}" for u in USERS]


def test_compose_gives_each_process_its_own_user() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in SERVICE_USERS:
        env = services[name]["environment"]
        assert env["DOUDI_NATS_USER"] == name
        assert env["DOUDI_NATS_PASSWORD"].startswith("${" + BY_NAME[name].env_var + ":?")
        assert services[name]["depends_on"]["nats-setup"] == {"condition": "service_completed_successfully"}
    assert "DOUDI_NATS_USER" not in services["workflow-worker"]["environment"]  # it does not use NATS
    setup = services["nats-setup"]
    assert setup["command"] == ["doudi", "streams"]
    assert setup["environment"]["DOUDI_NATS_USER"] == ADMIN
    for node in ("nats-1", "nats-2", "nats-3"):
        env = services[node]["environment"]
        assert sorted(env) == sorted(u.env_var for u in USERS)


def test_every_domain_subject_has_exactly_one_publisher_and_each_agency_only_its_own_events() -> None:
    for subject in DOMAIN_SUBJECTS:
        publishers = [u.name for u in USERS if u.name in SERVICE_USERS and subject in u.publishes]
        assert len(publishers) == 1, (subject, publishers)
    for name in INBOUND_EVENTS:  # every inbound event has exactly one agency allowed to publish it
        agencies = [a for a in SOURCE_USERS if f"doudi.events.{name}" in BY_NAME[a].publish_allow()]
        assert len(agencies) == 1, (name, agencies)
    assert sorted(BY_NAME["health"].publish_allow()) == ["doudi.events.health.covid_diagnosed",
                                                         "doudi.events.health.quarantined"]
    assert sorted(BY_NAME["civil_registry"].publish_allow()) == ["doudi.events.household.income_changed",
                                                                 "doudi.events.household.member_deceased"]
    for agency in SOURCES:  # its own inbox, nothing else; no JetStream API at all
        assert BY_NAME[agency.user].subscribe_allow() == [f"_INBOX.{agency.user}.>"]
        assert sorted(BY_NAME[agency.user].publish_allow()) == sorted(agency.subjects)
        assert not BY_NAME[agency.user].subscribe_deny
    assert not any(u.name in SOURCE_USERS for u in USERS if "_INBOX.>" in u.subscribe_allow())
    for user in USERS:
        if user.name != ADMIN:
            assert not any(s.startswith("$JS.API.STREAM.") and ".INFO." not in s and not s.endswith(".NAMES")
                           and ".MSG.GET." not in s for s in user.publish_allow()), user.name


def test_a_data_folder_of_the_single_agency_user_gets_the_source_users(tmp_path: Path) -> None:
    """Upgrading: the retired ``agency`` user leaves nats-users.json, every source agency gets a password,
    the others keep theirs, and the file stays 0600."""
    from shared.infra.nats_permissions import load_passwords

    (tmp_path / PASSWORDS_FILE).write_text(json.dumps({"users": {"agency": "old", "intake": "kept"}}))
    stored = load_passwords(tmp_path)
    assert "agency" not in stored and stored["intake"] == "kept"
    assert set(stored) == {u.name for u in USERS} and set(SOURCE_USERS) <= set(stored)
    assert json.loads((tmp_path / PASSWORDS_FILE).read_text())["users"] == stored
    assert stat.S_IMODE((tmp_path / PASSWORDS_FILE).stat().st_mode) == 0o600


def test_intake_consumers_match_its_subscribers() -> None:
    from services.intake.subscribers import CONSUMED

    declared = set(BY_NAME["intake"].consumes)
    for family, subject in CONSUMED.items():
        assert Consumer(STREAM_EVENTS, f"intake-{family}", subject) in declared


# -- the running stack ---------------------------------------------------------------------------


async def test_embedded_credentials_are_per_user_and_private(stack: EmbeddedStack) -> None:
    path = stack.data_dir / PASSWORDS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((stack.data_dir / "nats-auth.conf").stat().st_mode) == 0o600
    stored = json.loads(path.read_text())["users"]
    assert set(stored) == {u.name for u in USERS}
    assert len(set(stored.values())) == len(stored)  # no two users share a password
    for name in SERVICES:
        env = stack.service_env(name)
        if name == "workflows":
            assert "DOUDI_NATS_USER" not in env and "DOUDI_NATS_PASSWORD" not in env
        else:
            assert (env["DOUDI_NATS_USER"], env["DOUDI_NATS_PASSWORD"]) == (name, stored[name])


async def test_anonymous_and_wrong_password_connections_are_refused(stack: EmbeddedStack) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(stack.nats_url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3)
    wrong = stack.nats_url.replace("nats://", "nats://intake:not-the-password@")
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(wrong, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3)


async def test_intake_cannot_publish_a_payment(stack: EmbeddedStack, client: StackClient) -> None:
    nc, errors = await as_user(stack, "intake")
    marker = f"forged-{uuid.uuid4()}"
    try:
        with pytest.raises(nats.errors.TimeoutError):  # the server drops it: no stream ever acks
            await nc.jetstream(timeout=2).publish(PAYMENT_DISBURSED, json.dumps({"id": marker}).encode())
        await errors.wait_for(f'permissions violation for publish to "{PAYMENT_DISBURSED}"')
        # nor may it delete a stream, or make one
        with pytest.raises(nats.errors.TimeoutError):
            await nc.jetstream(timeout=2).delete_stream(STREAM_EVENTS)
        await errors.wait_for(f'publish to "$JS.API.STREAM.DELETE.{STREAM_EVENTS}"')
        with pytest.raises(nats.errors.TimeoutError):
            await nc.jetstream(timeout=2).add_stream(StreamConfig(name="ROGUE", subjects=["rogue.>"]))
        # what it may do: publish a case event subject and read the streams' configuration
        info = await nc.jetstream(timeout=5).stream_info(STREAM_EVENTS)
        assert info.config.subjects == STREAMS[STREAM_EVENTS]
    finally:
        await nc.close()
    stored = [m.data for m in await client.fetch_stream(PAYMENT_DISBURSED, timeout=0.5)]
    assert not any(marker.encode() in data for data in stored)
    names = sorted(s.config.name for s in await (await client.nc()).jetstream().streams_info())
    assert names == sorted(STREAMS)  # no ROGUE, nothing deleted


async def test_agency_cannot_read_case_events_or_the_jetstream_api(stack: EmbeddedStack) -> None:
    nc, errors = await as_user(stack, "health")
    try:
        sub = await nc.subscribe("doudi.case.>")
        await nc.flush()
        await errors.wait_for('permissions violation for subscription to "doudi.case.>"')
        with pytest.raises(nats.errors.TimeoutError):
            await nc.jetstream(timeout=2).add_consumer(STREAM_CASES, durable_name="agency-peek")
        await errors.wait_for(f'publish to "$JS.API.CONSUMER.DURABLE.CREATE.{STREAM_CASES}.agency-peek"')
        with pytest.raises(nats.errors.TimeoutError):  # not an inbound event name
            await nc.jetstream(timeout=2).publish("doudi.case.opened", b"{}")
        await errors.wait_for('publish to "doudi.case.opened"')
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=0.5)
    finally:
        await nc.close()


async def test_a_case_from_an_agency_event_is_paid_and_agency_sees_no_other_inbox(
        stack: EmbeddedStack, client: StackClient) -> None:
    """The normal flow with the health agency's user as publisher. Its subscription to ``_INBOX.>`` (the
    attack: every service's deliveries, with full national IDs) is refused, as is one to another user's
    inbox; under its own prefix ``_INBOX.health.>`` it sees its own JetStream ack and nothing of intake's
    or operations' deliveries of this very event and its case events."""
    nc, errors = await as_user(stack, "health")
    seen: list[str] = []

    async def record(msg: Any) -> None:
        seen.append(msg.subject)

    try:
        for forbidden in ("_INBOX.>", "_INBOX.intake.>", "_INBOX.civil_registry.>", "_INBOX.*.>"):
            await nc.subscribe(forbidden, cb=record)
            await nc.flush()
            await errors.wait_for(f'permissions violation for subscription to "{forbidden}"')
        errors.seen.clear()
        own = await nc.subscribe("_INBOX.health.>", cb=record)
        pid = national_id(YINCHUAN_URBAN)
        await client.register(household(pid, region=YINCHUAN_URBAN, categories=["dibao"]))
        event_id = f"evt-{uuid.uuid4()}"
        body = make_cloudevent("health.quarantined", {"person_id": pid, "region_code": YINCHUAN_URBAN,
                                                      "quarantined_on": "2022-08-10"}, event_id=event_id,
                               source=BY_USER["health"].source_uri)
        ack = await nc.jetstream().publish("doudi.events.health.quarantined", json.dumps(body).encode(),
                                           headers={"Nats-Msg-Id": event_id})
        assert ack.stream == STREAM_EVENTS and not ack.duplicate
        case = await client.closed_case(pid)
        assert (case["outcome"], case["cause_event_id"]) == ("paid", event_id)
        assert [p["amount_fen"] for p in case["payments"]] == [195000]
        # everything the server routed to this connection has arrived (a round trip) and reached the
        # callback (nothing left in the subscription's queue): only then is "nothing else" a finding
        await nc.flush()
        await wait_for(lambda: asyncio.sleep(0, own.pending_msgs == 0), timeout=10, interval=0.01)
    finally:
        await nc.close()
    assert seen, "the agency's own JetStream ack arrives on its inbox"
    others = [s for s in seen if not s.startswith("_INBOX.health.")]
    assert others == []
    assert not errors.seen


async def test_the_cli_connects_as_the_owning_agency_or_admin_from_the_data_folder(
        stack: EmbeddedStack, client: StackClient) -> None:
    """`doudi publish` and `doudi streams` with only DOUDI_DATA_DIR and the bare URL: `publish` connects
    as the agency that owns the event (or `--as` another, which NATS refuses), `streams` as admin, each
    password from the data folder. As an agency user, `doudi streams` is refused."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOUDI_NATS")}
    env |= {"DOUDI_DATA_DIR": str(stack.data_dir), "DOUDI_NATS_URL": stack.nats_url, "DOUDI_ENV": "test"}
    event_id = f"evt-cli-{uuid.uuid4()}"
    data = json.dumps({"household_id": "hh-no-such-household", "monthly_income_fen": 0,
                       "reason": "other", "effective_on": "2022-08-01"})

    def doudi(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deploy.cli", *args], env={**env, **(extra or {})},
                              cwd=REPO, capture_output=True, text=True, timeout=120)

    published = await asyncio.to_thread(doudi, "publish", "household.income_changed", data, "--id", event_id)
    assert published.returncode == 0, published.stdout + published.stderr
    assert "published to DOUDI_EVENTS" in published.stdout and "as civil_registry" in published.stdout
    stored = [m for m in await client.fetch_stream("doudi.events.household.income_changed", timeout=0.5)
              if (m.headers or {}).get("Nats-Msg-Id") == event_id]
    assert len(stored) == 1 and json.loads(stored[0].data)["id"] == event_id
    assert json.loads(stored[0].data)["source"] == "urn:doudi:source:civil_registry"

    forged_id = f"evt-cli-forged-{uuid.uuid4()}"
    forged = await asyncio.to_thread(doudi, "publish", "household.income_changed", data, "--id", forged_id,
                                     "--as", "health")
    assert forged.returncode != 0 and "only 'civil_registry' may publish it" in forged.stdout + forged.stderr
    assert not [m for m in await client.fetch_stream("doudi.events.household.income_changed", timeout=0.5)
                if (m.headers or {}).get("Nats-Msg-Id") == forged_id]

    streams = await asyncio.to_thread(doudi, "streams")
    assert streams.returncode == 0 and "streams ready" in streams.stdout, streams.stdout + streams.stderr
    refused = await asyncio.to_thread(doudi, "streams", extra={"DOUDI_NATS_USER": "health",
                                                               "DOUDI_NATS_PASSWORD": stack.nats_passwords["health"]})
    assert refused.returncode != 0 and "StreamsNotReady" in refused.stderr


async def test_services_run_without_a_single_permission_violation(stack: EmbeddedStack,
                                                                  client: StackClient) -> None:
    """Every durable consumer on the server is one the permissions declare (for its owner), and the
    server logged no violation by a doudi process other than the ones this file provoked."""
    js = (await client.nc()).jetstream()
    declared = {(c.stream, c.durable): c.filter_subject for u in USERS for c in u.consumes}
    found = {}
    for stream in STREAMS:
        for info in await js.consumers_info(stream):
            if info.config.durable_name:
                found[(stream, info.config.durable_name)] = info.config.filter_subject
    assert found, "the services' durable consumers exist"
    assert found.items() <= declared.items()
    assert ("DOUDI_EVENTS", "intake-health") in found and ("DOUDI_CASES", "operations-cases") in found

    # one provoked violation, so the log format the check below relies on is known to match
    nc, errors = await as_user(stack, "intake")
    try:
        await nc.publish(PAYMENT_DISBURSED, b"{}")
        await nc.flush()
        await errors.wait_for(f'publish to "{PAYMENT_DISBURSED}"')
    finally:
        await nc.close()
    log = (stack.logs / "nats.log").read_text(errors="replace")
    violations = [line for line in log.splitlines() if "Violation" in line and "user:" in line]
    provoked = (f'"$G/user:intake" - Publish Violation - Subject "{PAYMENT_DISBURSED}"',
                '"$G/user:intake" - Publish Violation - Subject "$JS.API.STREAM.')
    by_services = [line for line in violations
                   if any(f'"$G/user:{u}"' in line for u in SERVICE_USERS) and not any(p in line for p in provoked)]
    assert any(provoked[0] in line for line in violations), "the log names user and subject as expected"
    assert by_services == []
