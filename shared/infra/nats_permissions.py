"""Who may do what on NATS: one user per doudi process, one per source agency, and ``admin``.

The one place that says which subjects each process publishes and consumes (derived from the
code: outbox subjects, direct publishes, durable consumers; tests/integration/test_nats_permissions.py
checks the services' own subscriber tables and the contracts against it). Both server configs are
rendered from here:

* the embedded default (``deploy/embedded.py``): literal passwords generated once per data folder
  and kept in ``<data_dir>/nats-users.json`` (mode 0600);
* docker-compose (``deploy/docker/nats/nats.conf``): the ``authorization`` block between the
  generated-section markers, with each password as an environment reference
  (``$NATS_INTAKE_PASSWORD``) that nats-server resolves from its container environment.
  Regenerate it with ``python -m shared.infra.nats_permissions --write-compose``.

Each process and each source agency uses its own inbox prefix ``_INBOX.<user>`` (``shared/infra/bus.py``
sets it; an agency's own client must set it too) and may subscribe to that prefix only, so nobody can read
the replies and pull deliveries of another (``_INBOX.>`` is refused to everyone but ``admin``).

Source agencies (``shared/contracts/sources.py``): health, hr_social_security, education,
medical_insurance, civil_registry, emergency_management, price_authority. Each may publish exactly the
subjects of its own event families and nothing else (no JetStream API, no subscription but its inbox).
The workflow worker does not touch NATS and has no user. Only ``admin`` may create or change streams;
every process may read the configuration of doudi's streams (start-up checks they exist).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.contracts.domain_events import (
    CASE_CLOSED,
    CASE_ESCALATED,
    CASE_OPENED,
    CASE_STALLED,
    CASE_UPDATED,
    DUTY_SUBJECTS,
    PAYMENT_BATCH_PROGRESS,
    PAYMENT_DISBURSED,
    PAYMENT_RECOVERY_OPENED,
)
from shared.contracts.events import DLQ_EVENTS_SUBJECT, EVENTS_SUBJECT_PREFIX
from shared.contracts.pathways import event_families
from shared.contracts.sources import SOURCES
from shared.infra.bus import (
    MAX_DELIVERIES_ADVISORY,
    STREAM_CASES,
    STREAM_DLQ,
    STREAM_EVENTS,
    STREAM_PAYMENTS,
    STREAMS,
    inbox_prefix,
)
from shared.services import NATS_SERVICES

# services/operations/subscribers.py: projection failures are dead-lettered here.
DLQ_PROJECTION = "doudi.dlq.projection"

JS_API = "$JS.API"
PASSWORDS_FILE = "nats-users.json"
ADMIN = "admin"


@dataclass(frozen=True)
class Consumer:
    """A durable pull consumer a process creates and reads (FastStream ``broker.subscriber``)."""

    stream: str
    durable: str
    filter_subject: str


@dataclass(frozen=True)
class NatsUser:
    name: str
    purpose: str
    publishes: tuple[str, ...] = ()           # subjects it publishes (JetStream or core)
    consumes: tuple[Consumer, ...] = ()       # durable consumers it creates and pulls from
    reads_dead_letters: bool = False          # ephemeral ordered reads and message gets on DOUDI_DLQ
    extra_publish: tuple[str, ...] = ()
    extra_subscribe: tuple[str, ...] = ()
    subscribe_deny: tuple[str, ...] = ()
    service: bool = True                      # a doudi process (own inbox prefix, stream-info check)
    source: bool = False                      # a source agency (own inbox prefix, publishes only)
    watches_bus: bool = False                 # reads every declared consumer's state (lag, redeliveries)

    @property
    def env_var(self) -> str:
        """The compose variable holding this user's password."""
        return f"NATS_{self.name.upper()}_PASSWORD"

    def publish_allow(self) -> list[str]:
        allow = list(self.publishes)
        if self.service:
            allow += [f"{JS_API}.STREAM.INFO.{stream}" for stream in STREAMS]
        for c in self.consumes:
            allow += [
                f"{JS_API}.CONSUMER.INFO.{c.stream}.{c.durable}",
                f"{JS_API}.CONSUMER.CREATE.{c.stream}.{c.durable}",
                f"{JS_API}.CONSUMER.CREATE.{c.stream}.{c.durable}.>",
                f"{JS_API}.CONSUMER.DURABLE.CREATE.{c.stream}.{c.durable}",
                f"{JS_API}.CONSUMER.MSG.NEXT.{c.stream}.{c.durable}",
                f"$JS.ACK.{c.stream}.{c.durable}.>",
            ]
        if self.watches_bus:
            allow += [f"{JS_API}.CONSUMER.INFO.{c.stream}.{c.durable}"
                      for u in service_users() for c in u.consumes]
        if self.reads_dead_letters:
            allow += [
                f"{JS_API}.STREAM.NAMES",  # nats-py finds the stream of a subject before an ordered read
                f"{JS_API}.CONSUMER.CREATE.{STREAM_DLQ}",
                f"{JS_API}.CONSUMER.CREATE.{STREAM_DLQ}.>",
                f"{JS_API}.CONSUMER.DELETE.{STREAM_DLQ}.*",
                f"{JS_API}.STREAM.MSG.GET.{STREAM_DLQ}",
                f"$JS.FC.{STREAM_DLQ}.>",  # flow-control replies of the ordered consumer
            ]
        return _unique(allow + list(self.extra_publish))

    def subscribe_allow(self) -> list[str]:
        inbox = [f"{inbox_prefix(self.name)}.>"] if self.service or self.source else []
        return _unique(inbox + list(self.extra_subscribe))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def service_users() -> tuple[NatsUser, ...]:
    """One user per process of the service registry (``shared/services.py``) that talks to NATS, in its
    order; intake consumes every event family a pathway starts from (``shared/contracts/pathways.py``)."""
    users = {u.name: u for u in _service_permissions()}
    return tuple(users[name] for name in NATS_SERVICES)  # KeyError: a service without its permissions


def _service_permissions() -> tuple[NatsUser, ...]:
    return (
        NatsUser(
            "intake",
            "opens and advances cases from inbound events (services/intake/subscribers.py, cohort.py,"
            " service.py)",
            publishes=(CASE_OPENED, CASE_UPDATED, CASE_ESCALATED, CASE_CLOSED, DLQ_EVENTS_SUBJECT),
            consumes=tuple(Consumer(STREAM_EVENTS, f"intake-{family}", f"{EVENTS_SUBJECT_PREFIX}{family}.>")
                           for family in event_families()),
        ),
        NatsUser("verification", "no events today; checks the streams at start-up"),
        NatsUser("approval", "no events today; checks the streams at start-up"),
        NatsUser(
            "payment",
            "disbursement, recovery and batch-progress events (ledger.py, recovery.py, batch.py)",
            publishes=(PAYMENT_DISBURSED, PAYMENT_RECOVERY_OPENED, PAYMENT_BATCH_PROGRESS),
        ),
        NatsUser(
            "operations",
            "read model from case and payment events, stalled cases, referral and care-visit events,"
            " projection DLQ, DLQ list and redelivery (services/operations/subscribers.py, sweep.py, admin.py,"
            " duty_events.py); projects dead letters into alerts and"
            " watches streams and consumers (bus_health.py)",
            # Redelivery returns a dead letter to its original inbound subject (any doudi.events.*); a
            # message a consumer gave up on (max_deliver) is dead-lettered from its stream (bus_health.py).
            # The duties' events (referrals, visits to dispersed 特困 persons: duty_events.py) from its outbox.
            publishes=(CASE_STALLED, *DUTY_SUBJECTS, DLQ_PROJECTION, DLQ_EVENTS_SUBJECT,
                       f"{EVENTS_SUBJECT_PREFIX}>"),
            consumes=(
                Consumer(STREAM_CASES, "operations-cases", "doudi.case.>"),
                Consumer(STREAM_PAYMENTS, "operations-payments", "doudi.payment.>"),
                Consumer(STREAM_DLQ, "operations-dlq", "doudi.dlq.>"),
                Consumer(STREAM_DLQ, "operations-max-deliveries", f"{MAX_DELIVERIES_ADVISORY}.>"),
            ),
            extra_publish=tuple(f"{JS_API}.STREAM.MSG.GET.{s}"
                                for s in (STREAM_EVENTS, STREAM_CASES, STREAM_PAYMENTS)),
            reads_dead_letters=True,
            watches_bus=True,
        ),
    )

SERVICE_USERS: tuple[str, ...] = NATS_SERVICES


def users() -> tuple[NatsUser, ...]:
    """Every NATS user: the services', the source agencies', ``admin``; read afresh from the registries."""
    return (
        *service_users(),
        *(NatsUser(
            agency.user,
            f"source agency {agency.user} ({agency.name_zh}): publishes its own events only",
            publishes=agency.subjects,
            service=False,
            source=True,
        ) for agency in SOURCES),
        NatsUser(
            ADMIN,
            "the doudi CLI (publish, streams), stream set-up, the test client: everything under doudi",
            extra_publish=("doudi.>", "$JS.>", "_INBOX.>"),
            extra_subscribe=("doudi.>", "_INBOX.>"),
            service=False,
        ),
    )


USERS: tuple[NatsUser, ...] = users()
BY_NAME: dict[str, NatsUser] = {u.name: u for u in USERS}


# -- passwords (embedded default) ----------------------------------------------------------------


def load_passwords(data_dir: Path, *, create: bool = True) -> dict[str, str]:
    """Every user's password for the embedded default, generated once per data folder (0600)."""
    path = data_dir / PASSWORDS_FILE
    stored: dict[str, str] = json.loads(path.read_text())["users"] if path.exists() else {}
    everyone = users()
    missing = [u.name for u in everyone if u.name not in stored]
    retired = set(stored) - {u.name for u in everyone}  # e.g. the single ``agency`` user of earlier releases
    if missing or (retired and create):
        if not create:
            raise FileNotFoundError(f"no NATS password for {missing} in {path}")
        stored.update({name: secrets.token_urlsafe(24) for name in missing})
        stored = {u.name: stored[u.name] for u in everyone}
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{PASSWORDS_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"users": stored}, out, indent=1)
        os.replace(tmp, path)
    return stored


# -- server configuration ------------------------------------------------------------------------


def _q(value: str) -> str:
    return json.dumps(value)  # a double-quoted NATS config string; quoted, a leading $ is literal


def _list(items: list[str], indent: str) -> str:
    return "[\n" + "".join(f"{indent}  {_q(i)}\n" for i in items) + f"{indent}]"


def render_authorization(passwords: dict[str, str] | None = None) -> str:
    """The ``authorization`` block. With ``passwords`` the values are literal; without, each is the
    environment reference ``$NATS_<USER>_PASSWORD`` (docker-compose)."""
    out = ["authorization {", "  users: ["]
    for u in users():
        password = _q(passwords[u.name]) if passwords is not None else f"${u.env_var}"
        out += [
            "    {",
            f"      # {u.purpose}",
            f"      user: {_q(u.name)}",
            f"      password: {password}",
            "      permissions: {",
            f"        publish: {{ allow: {_list(u.publish_allow(), '        ')} }}",
        ]
        subscribe = f"allow: {_list(u.subscribe_allow(), '        ')}"
        if u.subscribe_deny:
            subscribe += f"\n          deny: {_list(list(u.subscribe_deny), '          ')}"
        out += [f"        subscribe: {{ {subscribe} }}", "      }", "    }"]
    out += ["  ]", "}"]
    return "\n".join(out) + "\n"


BEGIN_MARKER = "# --- BEGIN generated by shared/infra/nats_permissions.py (do not edit by hand) ---"
END_MARKER = "# --- END generated ---"
COMPOSE_CONF = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "nats" / "nats.conf"


def compose_section() -> str:
    return f"{BEGIN_MARKER}\n{render_authorization(None)}{END_MARKER}\n"


def generated_part(conf_text: str) -> str:
    start, end = conf_text.index(BEGIN_MARKER), conf_text.index(END_MARKER)
    return conf_text[start:end + len(END_MARKER)] + "\n"


def write_compose(path: Path = COMPOSE_CONF) -> None:
    text = path.read_text()
    path.write_text(text.replace(generated_part(text), compose_section()))


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-compose"]:
        write_compose()
        print(f"wrote {COMPOSE_CONF}")
    else:
        print(render_authorization(None), end="")
