"""NATS JetStream: the streams doudi uses, created idempotently, and a FastStream broker factory.

Every connection authenticates: the user and password travel in the NATS URL (``Settings`` folds
``DOUDI_NATS_USER``/``DOUDI_NATS_PASSWORD`` into ``nats_url``), are taken out of it here and passed
as options (so they also hold for cluster servers the client discovers, and never appear in a
server list that gets logged), and each user gets its own inbox prefix ``_INBOX.<user>``; the NATS
permissions (``shared/infra/nats_permissions.py``) let a user subscribe under its own prefix only.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import nats
from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.security import NatsUserPassword
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import ConsumerConfig, DiscardPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

STREAM_EVENTS = "DOUDI_EVENTS"
STREAM_CASES = "DOUDI_CASES"
STREAM_PAYMENTS = "DOUDI_PAYMENTS"
STREAM_DLQ = "DOUDI_DLQ"

STREAMS: dict[str, list[str]] = {
    STREAM_EVENTS: ["doudi.events.>"],
    STREAM_CASES: ["doudi.case.>"],
    STREAM_PAYMENTS: ["doudi.payment.>"],
    # and the server's advisories of a consumer giving up on a message after max_deliver (its handler never
    # answered: the process died on it each time), which operations turns into dead letters
    STREAM_DLQ: ["doudi.dlq.>", "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"],
}
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"

# JetStream deduplicates Nats-Msg-Id within this window; the services' inboxes dedupe beyond it.
DUPLICATE_WINDOW_S = 120.0
# Not for inbound events: a message reusing an event id with *different* content must reach intake (which
# dead-letters it as a conflicting duplicate and alerts), not be dropped by the stream as a duplicate of
# its Nats-Msg-Id. Intake's inbox compares the content of every repeat.
EVENTS_DUPLICATE_WINDOW_S = 1.0

GIB = 1024**3
DAY_S = 86400.0


class StreamLimits:
    """A stream's retention limits, chosen per stream (below). Every stream discards NEW when full: a
    publisher is refused and retries (the outbox keeps its rows in PostgreSQL, an agency's system gets an
    error), rather than the stream silently deleting the oldest messages a consumer may not have read.
    Operations raises an alert once a stream holds ``ALERT_AT`` of its bytes
    (services/operations/bus_health.py)."""

    def __init__(self, max_age_s: float, max_bytes: int, why: str,
                 duplicate_window_s: float = DUPLICATE_WINDOW_S):
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.why = why
        self.duplicate_window_s = duplicate_window_s


STREAM_LIMITS: dict[str, StreamLimits] = {
    # A province-wide disaster report is ~1M events of ~600 bytes (~0.6 GB); 1 GiB holds it with room, and
    # 30 days is far longer than intake ever lags (it consumes within seconds; lag is alerted long before).
    STREAM_EVENTS: StreamLimits(30 * DAY_S, 1 * GIB, "inbound facts: consumed in seconds, kept a month",
                                duplicate_window_s=EVENTS_DUPLICATE_WINDOW_S),
    # ~10 case events of ~1 kB per case; a month of a province (~100k cases) is ~1 GB. The read model
    # consumes them at once; the outbox rows stay in PostgreSQL, so 14 days is a generous replay window.
    STREAM_CASES: StreamLimits(14 * DAY_S, 2 * GIB, "case events: projected at once, replay window 14 days"),
    # The 617,800-recipient batch is 617,800 disbursements of ~700 bytes (~0.43 GB): 2 GiB holds four.
    STREAM_PAYMENTS: StreamLimits(14 * DAY_S, 2 * GIB,
                                  "payment events: projected at once, replay window 14 days"),
    # Dead letters wait for a person: kept a year; 256 MiB is ~250k letters at the 1 MB payload cap's
    # typical 1 kB, and a DLQ filling up is itself an alert long before.
    STREAM_DLQ: StreamLimits(365 * DAY_S, 256 * 1024**2, "dead letters: kept a year for the operators"),
}
ALERT_AT = 0.8


def stream_for(subject: str) -> str:
    for name, subjects in STREAMS.items():
        if subject.startswith(subjects[0][:-1]):
            return name
    raise ValueError(f"no doudi stream holds subject {subject}")


def inbox_prefix(user: str | None) -> str:
    """The reply-subject prefix of a user's connections; its permissions allow subscribing under it only."""
    return f"_INBOX.{user}" if user else "_INBOX"


def split_nats_url(nats_url: str) -> tuple[list[str], str | None, str | None]:
    """``nats://user:pw@a:4222,nats://b:4222`` -> (servers without credentials, user, password)."""
    servers: list[str] = []
    user: str | None = None
    password: str | None = None
    for part in nats_url.split(","):
        url = urlsplit(part.strip())
        if url.username is not None:
            user, password = unquote(url.username), unquote(url.password or "")
        host = url.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if url.port is not None:
            netloc += f":{url.port}"
        servers.append(urlunsplit((url.scheme, netloc, url.path, url.query, url.fragment)))
    return servers, user, password


def connect_options(nats_url: str) -> dict[str, Any]:
    """Keyword arguments for ``nats.connect`` / ``NatsBroker``: servers, credentials, inbox prefix."""
    servers, user, password = split_nats_url(nats_url)
    options: dict[str, Any] = {"servers": servers, "inbox_prefix": inbox_prefix(user)}
    if user is not None:
        options |= {"user": user, "password": password}
    return options


async def connect(nats_url: str, **kwargs: Any) -> nats.NATS:
    """A nats-py connection as the user the URL names (see ``connect_options``)."""
    return await nats.connect(**connect_options(nats_url), **kwargs)


class StreamsNotReady(RuntimeError):
    """A stream is missing or differs and this NATS user may not create or change streams."""


def _stream_config(name: str, subjects: list[str], replicas: int) -> StreamConfig:
    limits = STREAM_LIMITS[name]
    return StreamConfig(name=name, subjects=subjects, storage=StorageType.FILE, num_replicas=replicas,
                        duplicate_window=limits.duplicate_window_s, max_age=limits.max_age_s,
                        max_bytes=limits.max_bytes, discard=DiscardPolicy.NEW)


def _same(have: StreamConfig, want: StreamConfig) -> bool:
    return (sorted(have.subjects or []) == sorted(want.subjects or []) and have.storage == want.storage
            and (have.num_replicas or 1) == want.num_replicas
            and abs((have.duplicate_window or 0) - (want.duplicate_window or 0)) < 1e-6
            and abs((have.max_age or 0) - (want.max_age or 0)) < 1e-3
            and have.max_bytes == want.max_bytes and have.discard == want.discard)


async def ensure_streams(nats_url: str, *, replicas: int = 1) -> None:
    """Make sure every doudi stream exists as configured; safe to call from every process at start-up.

    Only a stream that is missing or differs is created or updated, which only the NATS ``admin``
    user may do (``doudi streams``, run by the embedded stack and by compose's ``nats-setup``); for
    any other user a missing or stale stream is a ``StreamsNotReady`` error naming the fix.
    """
    nc = await connect(nats_url, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=5)
        user = nc.options.get("user")
        for name, subjects in STREAMS.items():
            want = _stream_config(name, subjects, replicas)
            try:
                have = (await js.stream_info(name)).config
            except NotFoundError:
                have = None
            except (NatsTimeoutError, NoRespondersError):  # refused (permissions) or JetStream not up
                raise StreamsNotReady(f"NATS user {user!r} got no answer about stream {name}") from None
            if have is not None and _same(have, want):
                continue
            try:
                if have is None:
                    await js.add_stream(want)
                    log.info("created stream %s %s", name, subjects)
                else:
                    await js.update_stream(want)
                    log.info("updated stream %s %s", name, subjects)
            except (NatsTimeoutError, NoRespondersError):  # no reply: the server refused the request
                state = "missing" if have is None else "not as configured"
                raise StreamsNotReady(
                    f"JetStream stream {name} is {state} and NATS"
                    f" user {user!r} may not change streams: run `doudi streams` as the NATS admin user"
                ) from None
    finally:
        await nc.close()


class _DoudiBroker(NatsBroker):
    """A NatsBroker whose pull subscribers use the connection's own inbox prefix, not ``_INBOX.``
    (FastStream's default for pull subscriptions), so their deliveries stay under ``_INBOX.<user>``.

    Durable consumers declared through ``shared/infra/consumer.py`` are created or updated to their
    declared configuration (max_deliver, backoff) before the subscribers start: nats-py binds to an
    existing durable as it is, so a consumer made by an older release would otherwise keep
    ``max_deliver = -1`` for ever."""

    _doudi_inbox: bytes = b"_INBOX."

    def subscriber(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("inbox_prefix", self._doudi_inbox)
        return super().subscriber(*args, **kwargs)

    def declare_consumer(self, stream: str, config: ConsumerConfig) -> None:
        self.__dict__.setdefault("_doudi_consumers", []).append((stream, config))

    async def start(self) -> None:
        declared = self.__dict__.get("_doudi_consumers", [])
        if declared:
            js = (await self.connect()).jetstream(timeout=10)
            for stream, config in declared:
                await js.add_consumer(stream, config=config)  # create, or update the durable in place
        await super().start()


def make_broker(nats_url: str, service_name: str) -> NatsBroker:
    from opentelemetry import trace

    options = connect_options(nats_url)
    security = NatsUserPassword(options["user"], options["password"]) if "user" in options else None
    broker = _DoudiBroker(
        options["servers"],
        security=security,
        inbox_prefix=options["inbox_prefix"],
        middlewares=[NatsTelemetryMiddleware(tracer_provider=trace.get_tracer_provider())],
        name=f"doudi-{service_name}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        graceful_timeout=10,
        log_level=logging.DEBUG,  # one line per message is noise at INFO; failures still log as errors
    )
    broker._doudi_inbox = (options["inbox_prefix"] + ".").encode()
    return broker
