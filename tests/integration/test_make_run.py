"""``make run`` from a fresh clone serves the API; stopping and starting it again keeps every case."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from deploy.embedded import Ports
from tests.support import StackClient, free_ports_for_up, household, national_id, wait_for

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]


def _fresh_clone(dest: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(dest)], check=True)
    # The clone holds what is committed; tests run on the working tree, so bring uncommitted changes too
    # (a no-op in CI, where the tree is a clean clone).
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=REPO, capture_output=True, check=True).stdout
    if diff:
        subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=dest, input=diff, check=True)
    for untracked in subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=REPO,
                                    capture_output=True, text=True, check=True).stdout.split():
        target = dest / untracked
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / untracked, target)
    return dest


def _start(clone: Path, ports: Ports, log: Path) -> subprocess.Popen[bytes]:
    args = (f"--api-port {ports.api} --nats-port {ports.nats} --temporal-port {ports.temporal} "
            f"--temporal-ui-port {ports.temporal_ui} --postgres-port {ports.postgres}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOUDI_", "VIRTUAL_ENV"))}
    env["PYTHON"] = sys.executable if sys.version_info >= (3, 11) else "python3"
    return subprocess.Popen(["make", "run", f"UP_ARGS={args}"], cwd=clone, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _admin_nats_url(clone: Path, nats_url: str) -> str:
    from shared.config import nats_url_with_credentials
    from shared.infra.nats_permissions import ADMIN, load_passwords

    return nats_url_with_credentials(nats_url, ADMIN, load_passwords(clone / ".data", create=False)[ADMIN])


def _database_url(clone: Path, port: int) -> str:
    """The stack's PostgreSQL needs the password it generated into the data folder."""
    from shared.config import database_url_with_password

    password = (clone / ".data" / "postgres-password").read_text().strip()
    return database_url_with_password(f"postgresql://postgres@127.0.0.1:{port}/doudi", password)


def _stop(proc: subprocess.Popen[bytes], clone: Path, log: Path) -> None:
    """Ctrl-C (SIGINT to the foreground process group); everything the system started must be gone."""
    os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(timeout=90)
    # make re-raises the SIGINT it received once its child has finished: that is a clean Ctrl-C
    assert code in (0, -signal.SIGINT), log.read_text()[-3000:]
    # (run from `make test`, make is a sub-make and may print "make[1]: Leaving directory" after us)
    ours = [line for line in log.read_text().splitlines() if line.strip() and not line.startswith("make[")]
    assert ours and ours[-1].strip() == "stopped", log.read_text()[-3000:]
    left = [p.info for p in psutil.process_iter(["pid", "cmdline"])
            if any(str(clone) in part for part in (p.info["cmdline"] or []))]
    assert left == [], left


async def test_make_run_serves_the_api_and_a_restart_keeps_every_case(tmp_path: Path):
    clone = _fresh_clone(tmp_path / "doudi")
    base = free_ports_for_up()
    ports = Ports(api=base.api, nats=base.nats, temporal=base.temporal, temporal_ui=base.temporal_ui,
                  postgres=base.postgres, nats_monitor=base.nats + 4000)
    log = tmp_path / "make-run.log"
    client = StackClient(f"http://127.0.0.1:{ports.api}", f"nats://127.0.0.1:{ports.nats}",
                         f"postgresql://postgres@127.0.0.1:{ports.postgres}/doudi")

    async def api_up() -> bool:
        try:
            return (await client.http.get("/openapi.json")).status_code == 200
        except Exception:
            return False

    proc = _start(clone, ports, log)
    try:
        await wait_for(api_up, timeout=300, interval=1.0)
        client.nats_url = _admin_nats_url(clone, client.nats_url)  # the stack made the NATS users
        client.database_url = _database_url(clone, ports.postgres)  # and the PostgreSQL password
        pid = national_id("640104")
        await client.register(household(pid, region="640104", categories=["dibao"]))
        await client.publish("health.quarantined", {"person_id": pid, "region_code": "640104",
                                                    "quarantined_on": "2022-08-10"})
        before = await client.closed_case(pid, timeout=60)
        assert [p["amount_fen"] for p in before["payments"]] == [195000]
        # and a case in flight when the system stops: the event is published, then Ctrl-C at once
        pid2 = national_id("640104")
        await client.register(household(pid2, region="640104", categories=["dibao"]))
        await client.publish("health.quarantined", {"person_id": pid2, "region_code": "640104",
                                                    "quarantined_on": "2022-08-11"})
    finally:
        await client.close()
        _stop(proc, clone, log)
    assert (clone / ".data" / "postgres" / "PG_VERSION").exists()

    client = StackClient(f"http://127.0.0.1:{ports.api}", f"nats://127.0.0.1:{ports.nats}",
                         f"postgresql://postgres@127.0.0.1:{ports.postgres}/doudi")
    proc = _start(clone, ports, log)
    try:
        await wait_for(api_up, timeout=180, interval=1.0)
        client.nats_url = _admin_nats_url(clone, client.nats_url)  # the stack made the NATS users
        client.database_url = _database_url(clone, ports.postgres)  # and the PostgreSQL password
        after = await client.case(before["case_id"])
        assert after["status"] == "closed" and [p["amount_fen"] for p in after["payments"]] == [195000]
        second = await client.closed_case(pid2, timeout=60)
        assert [p["amount_fen"] for p in second["payments"]] == [195000]
        assert len(await client.ledger(person_id=pid)) == 1
        assert len(await client.ledger(person_id=pid2)) == 1
    finally:
        await client.close()
        _stop(proc, clone, log)
