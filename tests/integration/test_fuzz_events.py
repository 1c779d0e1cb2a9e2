"""Bad input on the bus: property-based inbound events (hypothesis) against the real embedded stack.

Hypothesis draws well-formed CloudEvents of every inbound type (random but valid fields, extension
attributes, extra data fields, odd but valid dates and ids) and mutations of them (missing and extra
fields, wrong types, bad ID check characters, bad region codes, dates out of range, huge strings,
control characters, non-UTF-8 and non-JSON bytes, JSON that is not an object, wrong content types,
a ``type`` that does not match the subject, unknown event names). Each is published to
``doudi.events.<name>``; the test then asserts that every one of them either had an outcome (a case or a
screening in intake, a batch in payment for a price linkage) or was dead-lettered on
``doudi.dlq.events`` with a reason and its original bytes, that no invalid one opened a case, that no
valid one was left in a redelivery loop, and that no process crashed (same pid, same restart count).

Which messages are valid is the contract's own verdict (``parse_inbound``); every mutation is also
asserted to be one the contract rejects, so a mutation that slipped through is a failure too.

Script mode (longer runs outside CI): ``DOUDI_FUZZ_EXAMPLES=2000 DOUDI_FUZZ_SEED=7 .venv/bin/pytest -s -q
tests/integration/test_fuzz_events.py``; it prints one summary line with the counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import nats
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from deploy.embedded import EmbeddedStack
from shared.contracts.events import (
    DLQ_EVENTS_SUBJECT,
    INBOUND_EVENTS,
    InvalidEvent,
    PriceLinkageTriggered,
    event_type,
    parse_inbound,
)
from shared.contracts.identity import id_check_character
from shared.contracts.money import MAX_FEN
from shared.infra.bus import STREAM_DLQ
from shared.policy import load_library
from tests.support import StackClient
from workflows.batch_subsidy.inputs import batch_id_for, price_linkage_amount, price_linkage_occasion

pytestmark = pytest.mark.stack

EXAMPLES = int(os.environ.get("DOUDI_FUZZ_EXAMPLES", "240"))
SEED = int(os.environ.get("DOUDI_FUZZ_SEED", "20220810"))
SETTLE_S = float(os.environ.get("DOUDI_FUZZ_SETTLE_S", str(max(45.0, EXAMPLES * 0.2))))

# Prefectures no other test touches (the stack is shared by the session): cases, screenings and price-linkage
# batches the fuzz causes stay out of every other test's counts and cohorts. Each has a policy pack in force
# (Fujian, Jiangxi, Ningxia, Xinjiang, XPCC) so the routing and the pack lookups run for real, plus two with no
# pack at all (Beijing's 1102 and Taiwan's 71xx codes are shapes the contract accepts).
FUZZ_PREFECTURES = ("3507", "3608", "6403", "6531", "6690", "1102", "7101")
NAMES = sorted(INBOUND_EVENTS)
DATE_FIELDS = {"diagnosed_on", "quarantined_on", "graduated_on", "effective_on", "died_on", "occurred_on"}

# --- valid values -----------------------------------------------------------------------------------

county = st.builds(lambda p, c: p + c, st.sampled_from(FUZZ_PREFECTURES), st.from_regex(r"\A[0-9]{2}\Z"))
region_code = st.one_of(county, st.builds(lambda c, t: c + t, county, st.from_regex(r"\A[0-9]{3}\Z")))


@st.composite
def person_id(draw: st.DrawFn) -> str:
    born = draw(st.dates(date(1900, 1, 1), date(2024, 12, 31)))
    first17 = f"{draw(county)}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + id_check_character(first17)


# Mostly plausible business dates, sometimes the calendar's ends (the contract says "ISO 8601 date").
any_date = st.one_of(st.dates(date(2019, 1, 1), date(2026, 12, 31)), st.dates(), st.sampled_from(
    [date.min, date.max, date(1970, 1, 1), date(2000, 2, 29)]))
year_month = st.one_of(
    st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.one_of(st.integers(2000, 2030), st.integers(1, 9999)),
              st.integers(1, 12)),
    st.sampled_from(["0001-01", "9999-12", "9999-10", "1970-01"]))
fen = st.one_of(st.integers(0, 10_000_000), st.integers(0, MAX_FEN))
# CloudEvents strings: any Unicode but control characters and surrogates
ce_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=40)
short_id = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=64)


def data_strategy(name: str) -> st.SearchStrategy[dict[str, Any]]:
    pid, reg = person_id(), region_code
    fields: dict[str, st.SearchStrategy[Any]] = {
        "health.covid_diagnosed": {"person_id": pid, "region_code": reg, "diagnosed_on": any_date},
        "health.quarantined": {"person_id": pid, "region_code": reg, "quarantined_on": any_date},
        "employment.job_lost": {"person_id": pid, "region_code": reg, "last_income_month": year_month,
                                "unemployment_insured": st.booleans()},
        "education.graduate_unemployed": {"person_id": pid, "region_code": reg, "graduated_on": any_date},
        "medical.self_pay_reported": {"person_id": pid, "region_code": reg, "year": st.integers(2000, 2100),
                                      "self_pay_fen": fen},
        "household.income_changed": {"household_id": short_id, "monthly_income_fen": fen,
                                     "reason": st.sampled_from(["employment", "other"]), "effective_on": any_date},
        "household.member_deceased": {"person_id": pid, "died_on": any_date},
        "disaster.affected": {"person_id": pid, "region_code": reg, "disaster_id": short_id, "occurred_on": any_date},
        "price.linkage_triggered": {
            "region_code": st.one_of(st.sampled_from(FUZZ_PREFECTURES), region_code),
            "month": year_month, "price_index_rise_permille": st.just(35), "subsidy_fen_per_person": fen},
    }[name]
    extra = st.dictionaries(st.from_regex(r"\Ax_[a-z]{1,8}\Z"), st.one_of(st.integers(), ce_text, st.none()),
                            max_size=2)
    return st.builds(lambda d, e: {**e, **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in d.items()}},
                     st.fixed_dictionaries(fields), extra)


any_time = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(UTC))


@st.composite
def valid_event(draw: st.DrawFn, name: str | None = None) -> tuple[str, dict[str, Any]]:
    name = name or draw(st.sampled_from(NAMES))
    envelope: dict[str, Any] = {"specversion": "1.0", "id": draw(ce_text), "source": draw(ce_text),
                                "type": event_type(name), "data": draw(data_strategy(name))}
    if draw(st.booleans()):
        envelope["datacontenttype"] = draw(st.sampled_from(["application/json", "application/cloudevents+json",
                                                            "application/json; charset=utf-8"]))
    if draw(st.booleans()):
        envelope["time"] = draw(st.one_of(
            st.datetimes(datetime(2019, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)), any_time)).isoformat()
    if draw(st.booleans()):
        envelope["subject"] = draw(ce_text)
    if draw(st.booleans()):
        envelope["doudiext"] = draw(st.one_of(ce_text, st.integers(), st.booleans()))
    return name, envelope


# --- mutations ---------------------------------------------------------------------------------------

BAD_REGIONS = ["64010", "6401041", "64010412", "0010104", "001234", "64O104", "６４０１０４", " 640104", "640104\n",
               "", "6401041234", "64-0104"]
BAD_DATES = ["2022-02-30", "2022-13-01", "2022-00-10", "10000-01-01", "0000-01-01", "-0001-01-01", "20220810x",
             "2022/08/10", "yesterday", "2022-8-1x", "", "2022-08-10T25:00:00"]
BAD_MONTHS = ["2022-13", "2022-00", "22-01", "2022-1", "2022/01", "202201", "10000-01", "0000-06", "２０２２-01", ""]
HUGE = 300_000
MAX_PAYLOAD = 1024 * 1024  # the embedded nats-server's default max_payload


def _is_str_field(name: str, key: str) -> bool:
    return key in {"person_id", "region_code", "household_id", "disaster_id", "last_income_month", "month",
                   "reason"} | DATE_FIELDS


MUTATIONS = ("missing_data_field", "missing_envelope_field", "wrong_type", "bad_check_character", "bad_region",
             "bad_date", "out_of_range_number", "huge_string", "control_characters", "too_long_id", "not_utf8",
             "not_json", "not_an_object", "wrong_content_type", "type_mismatch", "wrong_specversion",
             "unknown_event_name", "data_not_an_object", "at_the_size_limit")


@st.composite
def mutated_event(draw: st.DrawFn, kind: str) -> Message:
    needs = {"bad_check_character": "person_id", "bad_region": "region_code"}.get(kind)
    name, env = draw(valid_event(draw(st.sampled_from(
        [n for n in NAMES if needs is None or needs in INBOUND_EVENTS[n].model_fields]))))
    subject = f"doudi.events.{name}"
    data = dict(env["data"])
    keys = [k for k in INBOUND_EVENTS[name].model_fields if k in data]
    headers: dict[str, str] = {}
    raw: bytes | None = None
    if kind == "missing_data_field":
        del data[draw(st.sampled_from(keys))]
    elif kind == "missing_envelope_field":
        del env[draw(st.sampled_from(["specversion", "id", "source", "type", "data"]))]
    elif kind == "wrong_type":
        key = draw(st.sampled_from(keys))
        wrong = [[], {}, None, 1.5]
        wrong += [12345, True] if _is_str_field(name, key) else ["12345", "true"]
        data[key] = draw(st.sampled_from(wrong))
    elif kind == "bad_check_character":
        pid = data["person_id"]
        data["person_id"] = pid[:17] + draw(st.sampled_from([c for c in "0123456789X" if c != pid[17]]))
    elif kind == "bad_region":
        data["region_code"] = draw(st.sampled_from(BAD_REGIONS + ["64x", "1"]))
    elif kind == "bad_date":
        date_keys = [k for k in keys if k in DATE_FIELDS or k in {"last_income_month", "month"}]
        key = draw(st.sampled_from(date_keys)) if date_keys else "x"
        if key in {"last_income_month", "month"}:
            data[key] = draw(st.sampled_from(BAD_MONTHS))
        elif key == "x":  # medical.self_pay_reported: the year is the date
            data["year"] = draw(st.sampled_from([1999, 2101, -1, 10**12]))
        else:
            data[key] = draw(st.sampled_from(BAD_DATES))
    elif kind == "out_of_range_number":
        num_keys = [k for k in keys if k in {"year", "self_pay_fen", "monthly_income_fen", "subsidy_fen_per_person"}]
        if num_keys:
            data[draw(st.sampled_from(num_keys))] = draw(st.sampled_from([-1, -(10**20), MAX_FEN + 1, 10**400, 1e300]))
        else:
            env["time"] = draw(st.sampled_from(["2022-08-10T99:00:00Z", "not a time", "10000-01-01T00:00:00Z"]))
    elif kind == "huge_string":
        key = draw(st.sampled_from([*keys, "$id"]))
        big = draw(st.sampled_from(["9", "中", "a"])) * HUGE
        if key == "$id":
            env["id"] = big
        elif key in {"unemployment_insured", "year", "self_pay_fen", "monthly_income_fen",
                     "subsidy_fen_per_person"}:
            data[key] = big
        else:
            data[key] = data[key] + big if isinstance(data[key], str) else big
    elif kind == "control_characters":
        where = draw(st.sampled_from(["id", "source", "type", "data"]))
        ctl = draw(st.sampled_from(["\x00", "\r\n", "\x1b[31m", "\x7f", "\x85"]))
        if where == "data":
            key = draw(st.sampled_from(keys))
            data[key] = f"{data[key]}{ctl}" if isinstance(data[key], str) else ctl
        else:
            env[where] = f"{env[where]}{ctl}"
    elif kind == "too_long_id":
        env["id"] = "x" * draw(st.integers(201, 5000))
    elif kind == "not_utf8":
        body = json.dumps(env | {"data": data}, ensure_ascii=False).encode()
        cut = draw(st.integers(1, len(body) - 1))
        raw = body[:cut] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x80"])) + body[cut:]
    elif kind == "not_json":
        raw = draw(st.one_of(
            st.binary(min_size=1, max_size=200).filter(lambda b: not b.strip().startswith((b"{", b"[", b'"'))),
            st.sampled_from([b"<event><id>1</id></event>", b"{", b"{'id': 'single quotes'}", b"",
                             b"{\"specversion\": \"1.0\",}", b"NaN", b"\x00\x00\x00"])))
        headers["content-type"] = draw(st.sampled_from(["text/plain", "application/xml", "application/octet-stream"]))
    elif kind == "not_an_object":
        raw = json.dumps(draw(st.sampled_from([[env], "a string", 42, None, True, []]))).encode()
    elif kind == "wrong_content_type":
        env["datacontenttype"] = draw(st.sampled_from(["application/xml", "text/plain", "image/png",
                                                       "application/x-www-form-urlencoded"]))
        if draw(st.booleans()):
            data = "<data/>"  # type: ignore[assignment]
        headers["content-type"] = env["datacontenttype"]
    elif kind == "type_mismatch":
        other = draw(st.sampled_from([n for n in NAMES if n != name]))
        env["type"] = draw(st.sampled_from([event_type(other), f"doudi.{name}.v2", name, "com.example.thing"]))
    elif kind == "wrong_specversion":
        env["specversion"] = draw(st.sampled_from(["0.3", "1", "2.0", 1.0, None]))
    elif kind == "unknown_event_name":
        family = name.split(".")[0]
        subject = f"doudi.events.{family}.{draw(st.sampled_from(['sneezed', 'v2', 'x_y']))}"
    elif kind == "at_the_size_limit":  # as large as NATS takes (1 MB by default), with a huge id: no room for headers
        env["id"] = "x" * draw(st.integers(201, 1000))
        env["padding"] = ""
        size = len(json.dumps(env).encode())
        env["padding"] = "p" * (MAX_PAYLOAD - 256 - size - draw(st.integers(0, 64)))  # 256: our publish headers
    elif kind == "data_not_an_object":
        data = draw(st.sampled_from([[data], "data", 7, None]))  # type: ignore[assignment]
    if raw is None:
        if "data" in env:
            env["data"] = data
        raw = json.dumps(env, ensure_ascii=draw(st.booleans())).encode()
    return Message(subject=subject, raw=raw, headers=headers, mutation=kind)


@dataclass
class Message:
    subject: str
    raw: bytes
    headers: dict[str, str] = field(default_factory=dict)
    mutation: str | None = None  # None: drawn as a valid event
    event_id: str | None = None
    valid: bool = False
    reason: str = ""
    expect: Any = None  # a valid one: what its outcome is keyed by


@st.composite
def valid_message(draw: st.DrawFn, name: str) -> Message:
    name, env = draw(valid_event(name))
    return Message(subject=f"doudi.events.{name}", raw=json.dumps(env, ensure_ascii=draw(st.booleans())).encode())


def _collect(strategy: st.SearchStrategy[Message], n: int, fixed_seed: int) -> list[Message]:
    out: list[Message] = []

    @seed(fixed_seed)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(m: Message) -> None:
        out.append(m)

    collect()
    return out[:n]


def draw_messages(n: int, fixed_seed: int) -> list[Message]:
    """About 40 % valid events, spread over every inbound type, and 60 % mutations, spread over every kind
    (one hypothesis run each, so a small ``n`` still covers them all)."""
    per_name = max(2, round(0.4 * n / len(NAMES)))
    per_kind = max(2, round(0.6 * n / len(MUTATIONS)))
    out = [m for name in NAMES for m in _collect(valid_message(name), per_name, fixed_seed)]
    return out + [m for kind in MUTATIONS for m in _collect(mutated_event(kind), per_kind, fixed_seed)]


def _unique_ids(messages: list[Message], run: str) -> list[Message]:
    """Give every message a fresh event id (the inbox dedupes by id: two drawn alike would be one event),
    keeping the drawn id's characters as a suffix; a message that is not a JSON object keeps its bytes."""
    unique: dict[tuple[str, bytes], Message] = {}
    for i, m in enumerate(messages):
        try:
            env = json.loads(m.raw)
        except (UnicodeDecodeError, ValueError):
            env = None
        if isinstance(env, dict) and isinstance(env.get("id"), str) and m.mutation != "too_long_id":
            drawn = env["id"]
            prefix = f"fz-{run}-{i}-"
            env["id"] = prefix + (drawn[: 200 - len(prefix)] if len(drawn) <= 200 else drawn)
            m.raw = json.dumps(env, ensure_ascii=False).encode("utf-8", "surrogatepass")
        unique.setdefault((m.subject, m.raw), m)
    return list(unique.values())


def _classify(m: Message) -> None:
    """The contract's verdict on one message, and what its outcome will be keyed by."""
    try:
        event = parse_inbound(m.subject, m.raw)
    except InvalidEvent as invalid:
        m.valid, m.reason, m.event_id = False, invalid.reason, invalid.event_id
        return
    m.valid, m.event_id = True, event.id
    if isinstance(event.data, PriceLinkageTriggered):
        # the amount is doudi's, computed from the pack and the event's price index: where nothing can be
        # computed (no index, no standard, no pack minimum) the event is dead-lettered with the reason
        year, month = (int(x) for x in event.data.month.split("-"))
        amount, why = price_linkage_amount(load_library(), event.data.region_code, date(year, month, 1),
                                           event.data.price_index_rise_permille)
        if amount is None:
            m.valid, m.reason = False, why
            return
        m.expect = batch_id_for("price_linkage", event.data.region_code, price_linkage_occasion(event.data.month))
    else:
        m.expect = event.id


# --- the run -------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    cases: set[str] = field(default_factory=set)
    screenings: set[str] = field(default_factory=set)
    batches: set[str] = field(default_factory=set)
    dead: dict[tuple[str, bytes], Any] = field(default_factory=dict)


async def _read_dlq(js: Any, start_seq: int, into: dict[tuple[str, bytes], Any]) -> None:
    sub = await js.subscribe(DLQ_EVENTS_SUBJECT, ordered_consumer=True, config=nats.js.api.ConsumerConfig(
        deliver_policy=nats.js.api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start_seq))
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                return
            headers = msg.headers or {}
            original = headers.get("Doudi-Original-Subject", "")
            into[(original, msg.data)] = msg
            if "Doudi-Dlq-Truncated" in headers:  # "original N bytes, sha256 HEX": keyed by the digest
                into[(original, headers["Doudi-Dlq-Truncated"].rsplit(" ", 1)[-1].encode())] = msg
    finally:
        await sub.unsubscribe()


async def _outcomes(conn: asyncpg.Connection, ids: list[str], batch_ids: list[str], out: Outcome) -> None:
    out.cases |= {r[0] for r in await conn.fetch(
        "SELECT event_id FROM intake.case_causes WHERE event_id = ANY($1::text[])", ids)}
    out.screenings |= {r[0] for r in await conn.fetch(
        "SELECT event_id FROM intake.screenings WHERE event_id = ANY($1::text[])", ids)}
    out.batches |= {r[0] for r in await conn.fetch(
        "SELECT batch_id FROM payment.batches WHERE batch_id = ANY($1::text[])", batch_ids)}


def _dlq_key(m: Message) -> tuple[str, bytes]:
    """A dead letter is found by its original subject and bytes; one at the size limit by the bytes' digest."""
    if len(m.raw) > MAX_PAYLOAD - 16 * 1024:
        return m.subject, hashlib.sha256(m.raw).hexdigest().encode()
    return m.subject, m.raw


def _procs(stack: EmbeddedStack) -> dict[str, tuple[int | None, int, bool]]:
    return {name: (p.pid, p.restarts, p.alive) for name, p in stack.procs.items()}


async def fuzz_events(client: StackClient, stack: EmbeddedStack, n: int, fixed_seed: int) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    messages = _unique_ids(draw_messages(n, fixed_seed), run)
    for m in messages:
        _classify(m)
    slipped = [m for m in messages if m.mutation and m.valid]
    assert not slipped, "mutations the contract accepts: " + "; ".join(
        f"{m.mutation}: {m.raw[:300]!r}" for m in slipped)
    assert {m.subject.removeprefix("doudi.events.") for m in messages if m.valid} == set(NAMES)
    summary, _ = await send_and_settle(client, stack, messages, run, "FUZZ EVENTS")
    return summary


async def send_and_settle(client: StackClient, stack: EmbeddedStack, messages: list[Message], run: str,
                          label: str) -> tuple[dict[str, Any], Outcome]:
    """Publish classified messages, wait for every outcome and dead letter, and assert on them all."""
    valid = [m for m in messages if m.valid]
    invalid = [m for m in messages if not m.valid]

    before = _procs(stack)
    log_path = stack.logs / "intake.log"
    log_offset = log_path.stat().st_size
    nc = await client.nc()
    js = nc.jetstream()
    dlq_start = (await js.stream_info(STREAM_DLQ)).state.last_seq + 1

    started = time.monotonic()
    for m in messages:
        await js.publish(m.subject, m.raw, headers={"Nats-Msg-Id": f"fuzz-{uuid.uuid4()}", **m.headers})

    out = Outcome()
    case_ids = [m.expect for m in valid if not m.subject.startswith("doudi.events.price.")]
    batch_ids = sorted({m.expect for m in valid if m.subject.startswith("doudi.events.price.")})
    conn = await asyncpg.connect(client.database_url)
    try:
        deadline = time.monotonic() + SETTLE_S
        while True:
            await _read_dlq(js, dlq_start, out.dead)
            await _outcomes(conn, case_ids, batch_ids, out)
            missing_valid = [m for m in valid if m.expect not in out.cases | out.screenings | out.batches]
            missing_dead = [m for m in invalid if _dlq_key(m) not in out.dead]
            if (not missing_valid and not missing_dead) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        # nothing invalid opened a case or was screened as if it were an event
        invalid_ids = [m.event_id for m in invalid if m.event_id and m.event_id.isprintable()]
        wrongly = await conn.fetch("SELECT event_id FROM intake.inbox WHERE event_id = ANY($1::text[])", invalid_ids)
    finally:
        await conn.close()
    elapsed = time.monotonic() - started

    redelivered = [line for line in log_path.read_text(errors="replace")[log_offset:].splitlines()
                   if "will be redelivered" in line and f"fz-{run}-" in line]
    after = _procs(stack)
    summary = {
        "events_sent": len(messages), "valid": len(valid), "invalid": len(invalid),
        "cases": len([m for m in valid if m.expect in out.cases]),
        "screenings": len([m for m in valid if m.expect in out.screenings]),
        "batches": len([m for m in valid if m.expect in out.batches]),
        "dead_letters": len([m for m in invalid if _dlq_key(m) in out.dead]),
        "unaccounted": len(missing_valid) + len(missing_dead), "redelivery_loops": len(redelivered),
        "crashes": sum(1 for k in before if before[k] != after[k]), "seconds": round(elapsed, 1),
        "mutations": sorted({m.mutation for m in invalid if m.mutation}),
    }
    print(f"\n{label} " + " ".join(f"{k}={v}" for k, v in summary.items() if k != "mutations"))

    assert after == before, f"a process died or was restarted during the fuzz: {before} -> {after}"
    assert all(alive for _, _, alive in after.values())
    assert not missing_valid, "valid events with no case, screening or batch: " + "; ".join(
        f"{m.subject} {m.raw[:300]!r}" for m in missing_valid[:10])
    assert not missing_dead, "invalid events not dead-lettered: " + "; ".join(
        f"{m.mutation} {m.subject} {m.raw[:200]!r} ({m.reason})" for m in missing_dead[:10])
    assert not redelivered, ("valid events the consumer could not take (redelivery loop):\n"
                             + "\n".join(redelivered[:10]))
    assert [r[0] for r in wrongly] == []
    for m in invalid:
        letter = out.dead[_dlq_key(m)]
        if _dlq_key(m)[1] == m.raw:
            assert letter.data == m.raw  # the original bytes
        else:  # too large to carry with the headers: cut, with the original's size and digest
            assert m.raw.startswith(letter.data) and len(letter.data) > MAX_PAYLOAD - 16 * 1024
            assert letter.headers["Doudi-Dlq-Truncated"].startswith(f"original {len(m.raw)} bytes")
        assert letter.headers["Doudi-Original-Subject"] == m.subject
        assert letter.headers["Doudi-Dlq-Reason"].strip(), m.raw[:200]
    return summary, out


async def test_fuzzed_events_each_end_in_an_outcome_or_a_dead_letter_and_no_consumer_crashes(
        client: StackClient, stack: EmbeddedStack):
    summary = await fuzz_events(client, stack, EXAMPLES, SEED)
    assert summary["cases"] + summary["screenings"] + summary["batches"] == summary["valid"]
    assert summary["dead_letters"] == summary["invalid"] and summary["crashes"] == 0
    # every kind of mutation was exercised, and every event type in its valid form
    assert len(summary["mutations"]) >= 15, summary["mutations"]


def _event(name: str, data: dict[str, Any], event_id: str, **envelope: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": "urn:fuzz-regression", "type": event_type(name),
            "data": data, **envelope}


async def test_what_the_fuzz_found_is_dead_lettered_with_its_reason_and_the_consumer_goes_on(
        client: StackClient, stack: EmbeddedStack):
    """One message for each defect the fuzz found (each was a redelivery loop, a consumer gone deaf, or an event
    the contract wrongly accepted), then valid events behind them that must still be consumed."""
    run = uuid.uuid4().hex[:8]
    pid = "350702" + "19800101" + "123"
    pid += id_check_character(pid)
    quarantined = {"person_id": pid, "region_code": "350702", "quarantined_on": "2022-08-10"}
    price = {"region_code": "3507", "month": "2022-07", "subsidy_fen_per_person": 1500}

    def msg(name: str, body: dict[str, Any] | bytes, expect: str) -> tuple[Message, str]:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        return Message(subject=f"doudi.events.{name}", raw=raw), expect

    padded = _event("health.quarantined", quarantined, "y" * 500)
    padded["padding"] = ""
    padded["padding"] = "p" * (MAX_PAYLOAD - 256 - len(json.dumps(padded).encode()))
    cases = [
        # a price linkage the batch could never take: was nacked and redelivered forever
        msg("price.linkage_triggered", _event("price.linkage_triggered", {**price, "subsidy_fen_per_person": 0},
                                              f"r-{run}-1"), "subsidy_fen_per_person"),
        msg("price.linkage_triggered", _event("price.linkage_triggered",
                                              {**price, "subsidy_fen_per_person": 1612196094513}, f"r-{run}-2"),
            "subsidy_fen_per_person"),
        msg("price.linkage_triggered", _event("price.linkage_triggered", {**price, "month": "0000-06"},
                                              f"r-{run}-3"), "data.month"),
        # an id of 300,000 characters went into a DLQ header: the intake's NATS connection was closed by the
        # server (maximum payload exceeded) and every consumer of the process went deaf
        msg("health.quarantined", _event("health.quarantined", quarantined, "中" * 300_000), "cloudevent.id"),
        # as large as NATS takes: no room left for the DLQ headers (cut, with the original's size and digest)
        msg("health.quarantined", padded, "cloudevent.id"),
        # control characters in CloudEvents strings (a NUL cannot be stored, CR/LF broke the DLQ header)
        msg("health.quarantined", _event("health.quarantined", quarantined, f"r-{run}-4\r\nX-Injected: 1"),
            "cloudevent.id"),
        msg("disaster.affected", _event("disaster.affected", {**quarantined, "disaster_id": "flood\x00",
                                                              "occurred_on": "2022-08-10"}, f"r-{run}-5"),
            "data.disaster_id"),
        # full-width digits and a trailing newline passed the region and ID checks (\d and $ in re)
        msg("health.quarantined", _event("health.quarantined", {**quarantined, "region_code": "３５０７０２"},
                                         f"r-{run}-6"), "data.region_code"),
        msg("health.quarantined", _event("health.quarantined", {**quarantined, "region_code": "350702\n"},
                                         f"r-{run}-7"), "data.region_code"),
        # a UTF-8-encoded lone surrogate passed json.loads(bytes)
        msg("health.quarantined", json.dumps(_event("health.quarantined", quarantined, f"r-{run}-8")).encode()
            .replace(b'"urn:fuzz-regression"', b'"urn:\xed\xa0\x80"'), "not JSON"),
        # data declared as XML
        msg("health.quarantined", _event("health.quarantined", quarantined, f"r-{run}-9",
                                         datacontenttype="application/xml"), "datacontenttype"),
        # more fen than the ledger's bigint holds
        msg("household.income_changed", _event("household.income_changed", {
            "household_id": f"hh-{run}", "monthly_income_fen": 2**63, "reason": "other",
            "effective_on": "2022-08-10"}, f"r-{run}-10"), "monthly_income_fen"),
    ]
    behind = [msg("health.quarantined", _event("health.quarantined", quarantined, f"r-{run}-ok"), ""),
              # Xinjiang's pack minimum (seed 000, 20 yuan) gives an amount without a price index
              msg("price.linkage_triggered", _event("price.linkage_triggered", {**price, "region_code": "6531"},
                                                    f"r-{run}-ok-price"), "")]
    messages = [m for m, _ in cases + behind]
    for m in messages:
        _classify(m)
    assert [m.valid for m in messages] == [False] * len(cases) + [True] * len(behind)
    summary, out = await send_and_settle(client, stack, messages, run, "FUZZ REGRESSIONS")
    assert summary["dead_letters"] == len(cases) and summary["cases"] == 1 and summary["batches"] == 1
    for m, expect in cases:
        reason = out.dead[_dlq_key(m)].headers["Doudi-Dlq-Reason"]
        assert expect in reason, (expect, reason)
    by_id = {(out.dead[_dlq_key(m)].headers or {}).get("Doudi-Event-Id") for m, _ in cases}
    assert f"r-{run}-4\\r\\nX-Injected: 1" in by_id  # escaped, one header line
    assert "中" * 300_000 not in by_id
