"""`doudi up` holds its data folder: a second `doudi up` on it exits non-zero with one line; the other
commands find the stack (on non-default ports) from the data folder's endpoints.json alone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from deploy.endpoints import ENDPOINTS_FILE
from tests.support import free_ports_for_up, wait_for

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]


def _doudi(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _up(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "deploy.cli", *args], cwd=REPO, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


async def test_a_second_up_is_refused_and_list_stalled_needs_only_the_data_folder(tmp_path: Path):
    data = (tmp_path / "data").resolve()
    ports = free_ports_for_up()
    up_args = ["up", "--data-dir", str(data), "--api-port", str(ports.api), "--nats-port", str(ports.nats),
               "--temporal-port", str(ports.temporal), "--temporal-ui-port", str(ports.temporal_ui),
               "--postgres-port", str(ports.postgres)]
    # nothing of the test's own configuration: what an operator's shell has
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOUDI_")} | {"COLUMNS": "200"}
    log = tmp_path / "up.log"
    first = _up(up_args, env, log)
    api = f"http://127.0.0.1:{ports.api}"

    async def api_up() -> bool:
        assert first.poll() is None, log.read_text()[-3000:]
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{api}/openapi.json")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await wait_for(api_up, timeout=300, interval=1.0)
        endpoints = json.loads((data / ENDPOINTS_FILE).read_text())
        assert endpoints["status"] == "running" and endpoints["api_url"] == api
        assert endpoints["nats_url"] == f"nats://127.0.0.1:{ports.nats}"
        assert endpoints["temporal_address"] == f"127.0.0.1:{ports.temporal}"

        # the same command again: a second `make run`
        second = await asyncio.to_thread(_doudi, *up_args, env=env, timeout=60)
        assert second.returncode != 0, second.stdout + second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
        assert str(data) in lines[0] and api in lines[0], lines[0]
        assert first.poll() is None  # the first stack runs on, untouched

        listed = await asyncio.to_thread(_doudi, "admin", "list-stalled", env=env | {"DOUDI_DATA_DIR": str(data)})
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert "stalled case(s)" in listed.stdout and listed.stderr == ""
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already: the failure says why
            os.killpg(first.pid, signal.SIGINT)
        code = await asyncio.to_thread(first.wait, timeout=120)
    assert code == 0, log.read_text()[-3000:]
    assert json.loads((data / ENDPOINTS_FILE).read_text())["status"] == "stopped"
