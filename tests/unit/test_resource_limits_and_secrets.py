"""Issue 14, without the stack: secrets created once by the supervisor (concurrently too), request bodies
capped before buffering, NDJSON read line by line, and the categories that carry money."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.intake.registry import MONEY_CATEGORIES
from services.intake.roster_import import LineTooLong, ndjson_lines
from shared.contracts.api import Category
from shared.infra.codec import KEYS_FILE, load_keys
from shared.infra.process import BodyLimitMiddleware

REPO = Path(__file__).resolve().parents[2]

# -- secrets ---------------------------------------------------------------------------------------------

PREPARE = """
import hashlib, sys
from pathlib import Path
from deploy.embedded import EmbeddedStack
from shared.infra.codec import load_keys
stack = EmbeddedStack(Path(sys.argv[1]))
sys.stdin.readline()  # every process waits at the same line, then all create at once
stack.prepare_secrets()
keys, current = load_keys(None, stack.data_dir)
print(hashlib.sha256(keys[current]).hexdigest(), hashlib.sha256(stack.postgres_password.encode()).hexdigest(),
      hashlib.sha256((stack.data_dir / "assertion-signing-key").read_bytes()).hexdigest())
"""


def test_secrets_are_created_once_when_many_supervisors_start_at_once(tmp_path: Path):
    """The fresh-clone race (`FileNotFoundError: .data/codec-keys.tmp`): 12 processes create the data
    folder's secrets at the same moment; every one succeeds and all read one codec key, one signing key
    and one password."""
    env = {k: v for k, v in os.environ.items() if k != "DOUDI_CODEC_KEYS"}
    data = tmp_path / "data"
    procs = [subprocess.Popen([sys.executable, "-c", PREPARE, str(data)], cwd=REPO, env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(12)]
    for p in procs:  # all are started (and importing) before any is released
        assert p.stdin is not None
    outputs = [p.communicate("go\n", timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 12, [err[-2000:] for _, err in outputs]
    assert len({out.strip() for out, _ in outputs}) == 1
    # no temporary left over: the principal-signing key, the codec key and the password, once each
    assert sorted(f.name for f in data.iterdir()) == ["assertion-signing-key", KEYS_FILE, "postgres-password"]
    for f in data.iterdir():
        assert f.stat().st_mode & 0o777 == 0o600


def test_a_service_only_reads_the_key(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="doudi up"):
        load_keys(None, tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- body limits -----------------------------------------------------------------------------------------


class Recorder:
    """An ASGI app reading the whole body (what a JSON route does), and what the middleware sent."""

    def __init__(self) -> None:
        self.read = 0
        self.sent: list[dict[str, Any]] = []

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            self.read += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


async def call(limit: int, headers: list[tuple[bytes, bytes]], chunks: list[bytes], path: str = "/api/x") -> Recorder:
    rec = Recorder()
    mw = BodyLimitMiddleware(rec.app, default=limit, limits=[("/api/enrolments/import", limit * 10)])
    pending = list(chunks)
    given = 0

    async def receive() -> dict[str, Any]:
        nonlocal given
        body = pending.pop(0) if pending else b""
        given += len(body)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    await mw({"type": "http", "path": path, "headers": headers}, receive, rec.send)
    rec.given = given  # type: ignore[attr-defined]
    return rec


async def test_a_declared_length_over_the_limit_is_refused_without_reading():
    rec = await call(1000, [(b"content-length", b"209715200")], [b"x" * 1000] * 5)
    assert rec.sent[0]["status"] == 413 and rec.read == 0 and rec.given == 0  # type: ignore[attr-defined]
    assert (b"connection", b"close") in rec.sent[0]["headers"]
    assert "请求体过大" in json.loads(rec.sent[1]["body"])["detail"]


async def test_a_chunked_body_is_counted_and_refused_at_the_limit():
    # limit 1000: the chunk that passes it is the last one read; nothing after it
    rec = await call(1000, [(b"transfer-encoding", b"chunked")], [b"x" * 400] * 100)
    assert rec.sent[0]["status"] == 413
    assert rec.given == 1200  # type: ignore[attr-defined]  # 3 chunks of 400: the third passes 1000


async def test_bodies_at_the_limit_pass_and_imports_have_their_own():
    assert (await call(1000, [(b"content-length", b"1000")], [b"x" * 1000])).sent[0]["status"] == 200
    assert (await call(1000, [], [b"x" * 500, b"x" * 500])).sent[0]["status"] == 200
    assert (await call(1000, [], [b"x" * 500] * 3)).sent[0]["status"] == 413
    rec = await call(1000, [], [b"x" * 1000] * 10, path="/api/enrolments/import")  # limit 10,000
    assert rec.sent[0]["status"] == 200 and rec.read == 10000
    assert (await call(1000, [], [b"x" * 1000] * 11, path="/api/enrolments/import")).sent[0]["status"] == 413
    assert (await call(1000, [(b"content-length", b"12x")], [b""])).sent[0]["status"] == 413


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def test_ndjson_lines_stream_with_a_line_cap():
    body = b'{"a":1}\n\n{"b":2}\r\n{"c":3}'
    for size in (1, 2, 5, 100):
        got = [(n, raw) async for n, raw in ndjson_lines(chunks_of(body, size), 10)]
        assert got == [(1, b'{"a":1}'), (2, b""), (3, b'{"b":2}\r'), (4, b'{"c":3}')]
    with pytest.raises(LineTooLong) as exc:
        [x async for x in ndjson_lines(chunks_of(b"short\n" + b"y" * 50 + b"\nz", 7), 10)]
    assert exc.value.line == 2
    with pytest.raises(LineTooLong):  # one endless line: refused once it passes the cap, not at its end
        [x async for x in ndjson_lines(chunks_of(b"y" * 1000, 4), 10)]


# -- categories that carry money -------------------------------------------------------------------------


def _named_categories(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = set()
        for key, value in node.items():
            if key in ("eligible_categories", "excluded_categories"):
                out |= set(value or ())
            else:
                out |= _named_categories(value)
        return out
    if isinstance(node, list):
        return set().union(*(_named_categories(v) for v in node)) if node else set()
    return set()


def test_every_category_a_pack_pays_or_excludes_by_is_one_a_clerk_cannot_type():
    packs = sorted((REPO / "shared" / "policy" / "packs").glob("*.yaml"))
    named = set().union(*(_named_categories(yaml.safe_load(p.read_text(encoding="utf-8"))) for p in packs))
    assert named, "no pack names a category"
    assert named <= MONEY_CATEGORIES, named - MONEY_CATEGORIES
    assert MONEY_CATEGORIES <= {str(c) for c in Category}
