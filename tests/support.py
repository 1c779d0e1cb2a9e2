"""Helpers the tests share: valid national IDs, households, publishing events, waiting for results."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any, TypeVar

import asyncpg
import httpx
import nats
from nats.js.api import ConsumerInfo

from deploy.embedded import Ports
from shared.auth import issue_token
from shared.contracts.events import make_cloudevent
from shared.contracts.identity import id_check_character
from shared.infra.bus import STREAM_EVENTS, connect
from shared.services import HTTP_BACKENDS

T = TypeVar("T")
_serial = itertools.count(1)


def national_id(region: str = "640104", born: date | str | None = None) -> str:
    """A fresh, valid 18-character national ID, unique within a test run (the birth date and the
    sequence number both come from one counter, unless ``born`` names the birth date)."""
    n = next(_serial)
    birth = date.fromisoformat(born) if isinstance(born, str) else born or date(1950, 1, 1) + timedelta(days=n // 1000)
    first17 = f"{region}{birth:%Y%m%d}{n % 1000:03d}"
    return first17 + id_check_character(first17)


def born_on(person_id: str) -> str:
    """The birth date (YYYY-MM-DD) an ID carries in its 7th-14th characters: a member's birth_date must be it."""
    return f"{person_id[6:10]}-{person_id[10:12]}-{person_id[12:14]}"


def household(person_id: str, *, region: str = "640104", urban: bool = True, categories=(),
              income_fen: int = 60000, household_id: str | None = None) -> dict[str, Any]:
    return {
        "household_id": household_id or f"hh-{uuid.uuid4().hex[:12]}",
        "region_code": region,
        "urban": urban,
        "categories": list(categories),
        "monthly_income_fen": income_fen,
        "members": [{"person_id": person_id, "name": "测试", "relation": "head",
                     "birth_date": born_on(person_id), "flags": []}],
    }


async def wait_for(probe: Callable[[], Awaitable[T | None]], timeout: float = 30.0, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def skip_time(env: Any, duration: timedelta, attempts: int = 5) -> None:
    """``env.sleep(duration)`` on the time-skipping test server, carried on where the server's sleep call
    times out before its clock got there (it did, on a loaded machine, at the end of the suite): the rest
    of the way is asked for again, from the server's own clock."""
    from temporalio.service import RPCError

    target = await env.get_current_time() + duration
    for attempt in range(1, attempts + 1):
        remaining = target - await env.get_current_time()
        if remaining <= timedelta(0):
            return
        try:
            await env.sleep(remaining)
            return
        except RPCError:
            if attempt == attempts:
                raise


async def consumer_settled(nc: nats.NATS, stream: str, durable: str, timeout: float = 60.0) -> ConsumerInfo:
    """``StackClient.settled`` on a connection of one's own."""
    js = nc.jetstream()

    async def idle() -> ConsumerInfo | None:
        info = await js.consumer_info(stream, durable)
        return info if info.num_pending == 0 and info.num_ack_pending == 0 else None

    return await wait_for(idle, timeout)


# ---- the officials registry (services/approval/officials.py) ------------------------------------------
#
# A decision on money is signed for its workflow only with the person id the officials registry holds for
# the token's subject (never a token claim). Tests that decide register their officials here: each
# registration is written to the stack's registry (directly: test set-up), or kept until the session's
# stack is up (tokens some modules build at import time).

DECIDING_ROLES = frozenset({"township_approver", "county_approver", "committee", "finance", "admin"})
_registry: dict[str, Any] = {"database_url": None, "pending": [], "done": set()}

_REGISTER = """
INSERT INTO approval.officials AS o (subject, person_id, name, roles, jurisdiction, registered_by)
VALUES ($1, $2, $1, ARRAY[$3], $4, 'tests')
ON CONFLICT (subject) DO UPDATE SET person_id = COALESCE($5, o.person_id), jurisdiction = EXCLUDED.jurisdiction,
    roles = ARRAY(SELECT DISTINCT r FROM unnest(o.roles || EXCLUDED.roles) r), active = true, updated_at = now()
"""


def _write_registrations(database_url: str, rows: list[tuple[str, str, str, str, str | None]]) -> None:
    async def write() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            for subject, generated, role, region, person_id in rows:
                await conn.execute(_REGISTER, subject, person_id or generated, role, region, person_id)
        finally:
            await conn.close()

    # a synchronous helper callable from inside a running test's event loop: its own loop, in a thread
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, write()).result()


def register_official(subject: str, role: str, region: str = "", person_id: str | None = None) -> None:
    """``subject`` is a registered official acting as ``role`` in ``region`` (its person id: ``person_id``,
    or a fresh one of no household of the tests)."""
    key = (subject, role, region, person_id)
    if key in _registry["done"]:
        return
    row = (subject, national_id("110105"), role, region, person_id)
    if _registry["database_url"] is None:
        _registry["pending"].append(row)
    else:
        _write_registrations(_registry["database_url"], [row])
    _registry["done"].add(key)


def use_officials_registry(database_url: str) -> None:
    """The session's stack is up: write the registrations kept until now, and every later one at once."""
    _registry["database_url"] = database_url
    pending, _registry["pending"] = _registry["pending"], []
    if pending:
        _write_registrations(database_url, pending)


def official_token(subject: str, role: str, *, region: str = "", person_id: str | None = None) -> str:
    """A token for ``subject``; a deciding role is registered as an official first."""
    if role in DECIDING_ROLES:
        register_official(subject, role, region, person_id)
    return issue_token(subject, role, region=region)


class StackClient:
    """Talks to a running stack the way its users do: HTTP with tokens, CloudEvents on NATS."""

    def __init__(self, api_url: str, nats_url: str, database_url: str, *, sources: dict[str, str] | None = None):
        # nats_url carries the credentials of the admin NATS user (EmbeddedStack.admin_nats_url); ``sources``
        # (source agency user -> its NATS URL with credentials) makes publish() publish as the agency that
        # owns the event, as the agencies' systems do (without it, publish() publishes as admin)
        self.sources = sources or {}
        self._source_ncs: dict[str, nats.NATS] = {}
        self.api_url = api_url
        self.nats_url = nats_url
        self.database_url = database_url
        self.http = httpx.AsyncClient(base_url=api_url, timeout=30)
        self.clerk = {"Authorization": f"Bearer {issue_token('test-clerk', 'clerk')}"}
        # categories that carry money (dibao, ...) come from the authorised roster, not from a clerk
        self.roster = {"Authorization": f"Bearer {issue_token('test-roster', 'county_approver')}"}
        self._nc: nats.NATS | None = None

    async def nc(self) -> nats.NATS:
        if self._nc is None or self._nc.is_closed:
            self._nc = await connect(self.nats_url)
        return self._nc

    async def close(self) -> None:
        await self.http.aclose()
        if self._nc is not None:
            await self._nc.close()
        for nc in self._source_ncs.values():
            await nc.close()

    async def publisher(self, name: str, as_source: str | None = None) -> tuple[nats.NATS, str]:
        """The connection to publish ``name`` on and the CloudEvents source to give it: the owning agency's
        (or ``as_source``'s) when the client knows the agencies' credentials, else admin's."""
        from shared.contracts.sources import BY_USER, owner_of

        user = as_source or (owner_of(name).user if self.sources else None)
        if user is None:
            return await self.nc(), "urn:test"
        nc = self._source_ncs.get(user)
        if nc is None or nc.is_closed:
            nc = self._source_ncs[user] = await connect(self.sources[user])
        return nc, BY_USER[user].source_uri

    async def register(self, body: dict[str, Any]) -> dict[str, Any]:
        """A clerk registers; a household with categories that carry money is on the roster (the
        authorised roster registration, services/intake/registry.py)."""
        if body.get("categories"):
            r = await self.http.post("/api/households/roster", json=body, headers=self.roster)
        else:
            r = await self.http.post("/api/households", json=body, headers=self.clerk)
        assert r.status_code == 200, r.text
        return r.json()

    async def publish(self, name: str, data: dict[str, Any], *, event_id: str | None = None,
                      msg_id: bool = True, raw: bytes | None = None, as_source: str | None = None) -> str:
        event_id = event_id or f"evt-{uuid.uuid4()}"
        nc, source = await self.publisher(name, as_source)
        body = raw if raw is not None else json.dumps(make_cloudevent(name, data, event_id=event_id,
                                                                      source=source)).encode()
        headers = {"Nats-Msg-Id": event_id} if msg_id else None
        await nc.jetstream().publish(f"doudi.events.{name}", body, headers=headers)
        return event_id

    async def publish_event(self, name: str, data: dict[str, Any], *, time: str | None = None,
                            event_id: str | None = None) -> str:
        """Publish with a CloudEvents ``time`` (the report date some pathways take their business date from)."""
        event_id = event_id or f"evt-{uuid.uuid4()}"
        nc, source = await self.publisher(name)
        envelope = make_cloudevent(name, data, event_id=event_id, source=source)
        if time:
            envelope["time"] = time
        await nc.jetstream().publish(f"doudi.events.{name}", json.dumps(envelope).encode(),
                                     headers={"Nats-Msg-Id": event_id})
        return event_id

    async def cases(self, **params: Any) -> list[dict[str, Any]]:
        r = await self.http.get("/api/cases", params=params, headers=self.clerk)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    async def case(self, case_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/api/cases/{case_id}", headers=self.clerk)
        assert r.status_code == 200, r.text
        return r.json()

    async def case_once_visible(self, case_id: str) -> dict[str, Any] | None:
        """The case, or None while the read model has not caught up with a case the roster already names."""
        r = await self.http.get(f"/api/cases/{case_id}", headers=self.clerk)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return r.json()

    async def through_enrolment_duties(self, case_id: str, visited_on: str, timeout: float = 60.0) -> None:
        """A dibao / 特困 application's duties before its confirmation (workflows/enrolment_duties): an
        undisputed home visit dated ``visited_on`` (the application's business date: a record made after the
        fact, so the public notice from that day has run its period and the case goes on to its
        confirmation), and a democratic appraisal where the pack holds one for every application (the
        national default; Ningxia's measures skip it for an undisputed one)."""
        async def at(*stages: str) -> str | None:
            case = await self.case_once_visible(case_id)
            return case["stage"] if case is not None and case["stage"] in stages else None

        await wait_for(lambda: at("awaiting_home_visit"), timeout)
        r = await self.http.post(f"/api/cases/{case_id}/home-visit", headers=self.clerk, json={
            "visited_on": visited_on, "disputed": False, "notes": "入户调查无争议"})
        assert r.status_code == 200, r.text
        if await wait_for(lambda: at("awaiting_democratic_appraisal", "awaiting_approval"), timeout) \
                == "awaiting_democratic_appraisal":
            r = await self.http.post(f"/api/cases/{case_id}/appraisal", headers=self.clerk, json={
                "held_on": visited_on, "participants": ["村委会主任", "村民代表"], "outcome": "supported",
                "minutes": "无异议"})
            assert r.status_code == 200, r.text

    async def closed_case(self, person_id: str, timeout: float = 30.0) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            items = await self.cases(person_id=person_id)
            done = [c for c in items if c["status"] == "closed"]
            # a paid case is complete in the read model once its payment row arrived too
            if done and (done[0]["outcome"] != "paid" or done[0]["payments"]):
                return done[0]
            return None

        return await wait_for(probe, timeout)

    async def ledger(self, **where: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            clause = " AND ".join(f"{k} = ${i}" for i, k in enumerate(where, 1)) or "true"
            return await conn.fetch(f"SELECT * FROM payment.ledger WHERE {clause} ORDER BY entry_seq",
                                    *where.values())
        finally:
            await conn.close()

    async def settled(self, durable: str, stream: str = STREAM_EVENTS, timeout: float = 60.0) -> ConsumerInfo:
        """Wait until the durable consumer that handles an event has nothing left: none of its stream's
        messages waiting (``num_pending``) and none delivered but not yet acknowledged (``num_ack_pending``,
        which includes a message waiting for a redelivery after a nak). A message the stream has acknowledged
        to its publisher is counted in one or the other until the handler has acknowledged it, so a test that
        proves "nothing happened" waits for this, then asserts, never sleeps."""
        return await consumer_settled(await self.nc(), stream, durable, timeout=timeout)

    async def intake_cases(self, person_id: str) -> list[asyncpg.Record]:
        """The cases intake itself opened for a person (its own table, the effect of an event's handler;
        the read model behind ``cases()`` follows it through the outbox)."""
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetch("SELECT case_id, cause_event_id FROM intake.cases WHERE person_id = $1", person_id)
        finally:
            await conn.close()

    async def fetch_stream(self, subject: str, timeout: float = 2.0) -> list[Any]:
        """Every message stored on ``subject`` (an ephemeral ordered read of the stream)."""
        js = (await self.nc()).jetstream()
        sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=nats.js.api.DeliverPolicy.ALL)
        out = []
        try:
            while True:
                try:
                    out.append(await sub.next_msg(timeout=timeout))
                except nats.errors.TimeoutError:
                    break
        finally:
            await sub.unsubscribe()
        return out


def d(value: str) -> date:
    return date.fromisoformat(value)


def free_ports_for_up() -> Ports:
    """Free ports for a `doudi up --api-port P` under test: `doudi up` puts each service at the same distance
    from the API port as on the default (shared/services.py ``port_beside``), so P and those neighbours must
    all be free, not only the ports `Ports.free()` drew."""
    for _ in range(50):
        base = Ports.free()
        wanted = [base.api] + [s.port_beside(base.api) for s in HTTP_BACKENDS]
        if all(_bindable(p) for p in wanted) and not set(wanted) & {base.nats, base.temporal, base.temporal_ui,
                                                                    base.postgres, base.nats + 4000}:
            return base
    raise RuntimeError("no free API port whose service neighbours are free too")


def _bindable(port: int) -> bool:
    if not 0 < port < 65536:
        return False
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
