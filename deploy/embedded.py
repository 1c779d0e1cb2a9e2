"""The embedded default: PostgreSQL, NATS JetStream and the Temporal dev server from PyPI wheels,
plus every doudi process, supervised from one data folder.

``doudi up`` runs this; the test suite runs the same class against a temporary folder and free ports,
so what the tests exercise is what an operator runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from deploy import postgres
from deploy.endpoints import Endpoints
from deploy.nats_cluster import SYNC_INTERVAL, NatsCluster, free_ports, jetstream_block
from deploy.postgres import DATABASE, PG_HBA, PG_PASSWORD_FILE, PG_SUPERUSER, scram_verifier
from deploy.procs import Proc, _bin
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
from shared.services import API_PORT, BY_NAME, FRONT_DOOR, HTTP_BACKENDS, Service
from shared.services import SERVICES as REGISTRY

log = logging.getLogger("doudi.embedded")

# the Temporal dev server's Go garbage collector collects when its heap has grown fivefold, not twofold
TEMPORAL_GOGC = "400"

__all__ = ["DATABASE", "PG_HBA", "PG_PASSWORD_FILE", "PG_SUPERUSER", "SERVICES", "EmbeddedStack", "Ports",
           "Proc", "_bin", "scram_verifier"]


def _default_port(name: str) -> int:
    port = BY_NAME[name].default_port
    assert port is not None, f"{name} serves no HTTP"
    return port


@dataclass
class Ports:
    api: int = API_PORT
    nats: int = 4222
    nats_monitor: int = 8222
    temporal: int = 7233
    temporal_ui: int = 8233
    postgres: int = 55432
    # one field per HTTP backend of shared/services.py, named after it (``http_port``)
    intake: int = _default_port("intake")
    verification: int = _default_port("verification")
    approval: int = _default_port("approval")
    payment: int = _default_port("payment")

    @classmethod
    def free(cls) -> Ports:
        """Free ports on loopback, for tests that run beside a developer's own stack."""
        return cls(*free_ports(10))

    def http_port(self, service: Service) -> int:
        """A service's HTTP port: the front door on the API port, every other on the field named after it
        (0: it serves no HTTP)."""
        if service.default_port is None:
            return 0
        port = self.api if service.name == FRONT_DOOR else getattr(self, service.name)
        assert isinstance(port, int), f"Ports has no field for the service {service.name}"
        return port


# the processes the stack starts, in order (shared/services.py)
SERVICES: tuple[str, ...] = tuple(s.name for s in REGISTRY)


@dataclass
class EmbeddedStack:
    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    # NATS on several nodes (deploy/nats_cluster.py) in place of the single embedded server: its nodes are
    # supervised like every other process, and the streams get one replica per node
    nats_cluster: NatsCluster | None = None

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
        """The server address (a cluster's: every node's, comma-separated), without credentials (every
        NATS user needs its own, see nats_url_for)."""
        if self.nats_cluster is not None:
            return self.nats_cluster.url
        return f"nats://127.0.0.1:{self.ports.nats}"

    @property
    def nats_replicas(self) -> int:
        """Each stream's replicas: one per cluster node, else 1."""
        return self.nats_cluster.size if self.nats_cluster is not None else 1

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
        service = BY_NAME[name]
        env = {
            **os.environ,
            "DOUDI_ENV": os.environ.get("DOUDI_ENV", "embedded"),
            "DOUDI_DATA_DIR": str(self.data_dir),
            "DOUDI_DATABASE_URL": self.database_url,
            "DOUDI_NATS_URL": self.nats_url,
            "DOUDI_NATS_STREAM_REPLICAS": str(self.nats_replicas),
            "DOUDI_TEMPORAL_ADDRESS": self.temporal_address,
            "DOUDI_TEMPORAL_NAMESPACE": "doudi",
            "DOUDI_TEMPORAL_UI_URL": f"http://127.0.0.1:{p.temporal_ui}",
            "DOUDI_HTTP_HOST": "127.0.0.1",
            "DOUDI_HTTP_PORT": str(p.http_port(service)),
            # where each backend answers (DOUDI_INTAKE_URL ...)
            **{f"DOUDI_{b.name.upper()}_URL": f"http://127.0.0.1:{p.http_port(b)}" for b in HTTP_BACKENDS},
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        env.pop("DOUDI_NATS_USER", None)
        env.pop("DOUDI_NATS_PASSWORD", None)
        # Temporal's workflow sandbox imports a workflow's modules afresh for every case it runs: without
        # their bytecode cache it compiles them from source each time (a fifth of the worker's CPU in the
        # storm bench). A shell that says PYTHONDONTWRITEBYTECODE leaves doudi's own sources uncompiled
        # (pip compiled the installed packages): the stack's processes may write theirs (__pycache__,
        # ignored by git; nothing is written where the tree is read-only).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if name in SERVICE_USERS:  # the workflow worker does not use NATS and gets no user
            env["DOUDI_NATS_USER"] = name
            env["DOUDI_NATS_PASSWORD"] = self.nats_passwords[name]
        return env

    # -- infrastructure --------------------------------------------------------------------------

    def _postgres_proc(self) -> Proc:
        pgdata, user = postgres.prepare(self.data_dir / "postgres")
        postgres.require_password_auth(pgdata, user, self.postgres_password,
                                       force=getattr(self, "_new_postgres_password", False))
        sockdir = postgres.socket_dir_for(self.postgres_socket_dir, user)
        return postgres.server_proc(pgdata, user, self.ports.postgres, sockdir, self.logs / "postgres.log")

    def _nats_proc(self) -> Proc:
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        # Users and permissions (shared/infra/nats_permissions.py); rewritten at every start. No
        # anonymous access: every connection is one of those users.
        conf = self.data_dir / "nats-auth.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(render_authorization(self.nats_passwords))
            # fsync before acknowledging (docs/adr/0019-jetstream-sync-policy.md); -sd names the store
            out.write(jetstream_block(SYNC_INTERVAL))
        conf.chmod(0o600)
        return Proc("nats", [_bin("nats-server"), "-c", str(conf), "-js", "-sd", str(store),
                             "-a", "127.0.0.1", "-p", str(self.ports.nats), "-m", str(self.ports.nats_monitor),
                             "--server_name", "doudi-embedded"],
                    env=dict(os.environ), log_path=self.logs / "nats.log")

    def _temporal_proc(self) -> Proc:
        db = self.data_dir / "temporal" / "temporal.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        argv = [_bin("temporal"), "server", "start-dev", "--db-filename", str(db), "--ip", "127.0.0.1",
                "--port", str(self.ports.temporal), "--ui-port", str(self.ports.temporal_ui),
                "--namespace", "doudi", "--log-level", "warn", "--ui-disable-news-fetch",
                # write-ahead log instead of the rollback journal: one fsync per commit instead of several,
                # and readers (the UI, the sweep's describes) no longer block the writer. Still synchronous:
                # an acknowledged workflow transition is on disk.
                "--sqlite-pragma", "journal_mode=wal",
                # one partition per task queue: one matching engine serves them all here, and with Temporal's
                # default four a poll that lands on an empty partition is forwarded to the root one (a tenth
                # of a case's CPU in the storm bench; docs/adr/0020). A cluster keeps its own setting.
                "--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
                "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
                # the UI decodes sealed payloads through the operations service (admin token, audited)
                "--ui-codec-endpoint", f"{self.api_url}/codec"]
        for key, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{key}={kind}"]
        env = dict(os.environ)
        # The dev server's Go heap churns with every workflow task: at Go's default (GOGC=100) it collected
        # 26 times in a burst of 200 cases, 6 times at 400, for about 150 MB more heap (docs/adr/0020).
        # An operator's own GOGC wins.
        env.setdefault("GOGC", TEMPORAL_GOGC)
        return Proc("temporal", argv, env=env, log_path=self.logs / "temporal.log")

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
                    raise TimeoutError(f"PostgreSQL did not start; see {self.logs / 'postgres.log'}") from None
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

    async def _wait_temporal(self, timeout: float = 90, start_attempts: int = 3) -> None:
        from temporalio.client import Client

        deadline = time.monotonic() + timeout
        attempt = 1
        while True:
            try:
                client = await Client.connect(self.temporal_address, namespace="doudi")
                await client.count_workflows()  # the namespace answers: it exists
                return
            except Exception:
                proc = self.procs.get("temporal")
                if proc is not None and not proc.alive and attempt < start_attempts:
                    # the dev server draws its inner services' ports (history, matching, HTTP, metrics) by
                    # binding port 0 and letting go; another process can take one before it binds again, and
                    # it then panics at start. Its database is untouched by then: start it again.
                    attempt += 1
                    log.warning("temporal exited at start (%s); starting it again (attempt %d/%d)",
                                proc.popen.returncode if proc.popen else "?", attempt, start_attempts)
                    proc.restarts += 1
                    proc.start()
                    await asyncio.sleep(0.5)
                    continue
                self._check_alive("temporal")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Temporal dev server did not start; see {self.logs / 'temporal.log'}"
                                       ) from None
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
        # the key the front door signs human updates with; the worker trusts its public half
        # (shared/assertions.py)
        signing_key = "DOUDI_ASSERTION_SIGNING_KEY"
        if not self.extra_env.get(signing_key) and not os.environ.get(signing_key):
            assertions.create_signing_key(self.data_dir)

    async def start_infrastructure(self) -> None:
        self.prepare_secrets()
        nats = ([self._nats_proc()] if self.nats_cluster is None
                else self.nats_cluster.procs(self.nats_passwords, self.logs))
        for proc in (self._postgres_proc(), *nats, self._temporal_proc()):
            self.procs[proc.name] = proc
            proc.start()
        await self._wait_postgres()
        await self.wait_nats()
        await ensure_streams(self.admin_nats_url, replicas=self.nats_replicas)
        if self.nats_cluster is not None:
            # each new stream's replicas elect a leader and catch up (a node's /healthz says when) before a
            # service asks about it at its start
            await self.nats_cluster.wait_ready()
        await self._wait_temporal()

    async def wait_nats(self, timeout: float = 90) -> None:
        """JetStream answers: the single server's, or every cluster node's (a meta leader elected)."""
        if self.nats_cluster is not None:
            await self.nats_cluster.wait_ready(timeout)
        else:
            await self._wait_http("nats", f"http://127.0.0.1:{self.ports.nats_monitor}/healthz?js-enabled-only=true",
                                  timeout=timeout)

    @staticmethod
    def migration_folders() -> list[tuple[str, Path]]:
        services = Path(__file__).resolve().parent.parent / "services"
        return [(s.name, services / s.name / "migrations") for s in REGISTRY if (services / s.name).is_dir()]

    async def migrate_all(self) -> None:
        for schema, folder in self.migration_folders():
            await migrate(self.database_url, schema, folder)

    def _service_proc(self, service: Service) -> Proc:
        return Proc(service.name, [sys.executable, "-m", service.module], env=self.service_env(service.name),
                    log_path=self.logs / f"{service.name}.log")

    async def start_services(self) -> None:
        for service in REGISTRY:
            self.procs[service.name] = self._service_proc(service)
            self.procs[service.name].start()
        await self.wait_services()
        self._write_pids()

    async def wait_services(self) -> None:
        await asyncio.gather(*(
            self._wait_http(s.name, f"http://127.0.0.1:{self.ports.http_port(s)}/healthz")
            for s in REGISTRY if s.default_port is not None
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
        nats = ["nats"] if self.nats_cluster is None else self.nats_cluster.node_names
        order = [*SERVICES, "temporal", *nats, "postgres"]
        for name in order:
            proc = self.procs.get(name)
            if proc is not None:
                proc.stop()
        postgres_alive = self.procs.get("postgres") is not None and self.procs["postgres"].alive
        if hasattr(self, "_postgres_socket_dir") and not postgres_alive:
            shutil.rmtree(self._postgres_socket_dir, ignore_errors=True)

    def endpoints(self) -> Endpoints:
        """Where this stack answers, for the data folder's ``endpoints.json`` (deploy/endpoints.py)."""
        return Endpoints(pid=os.getpid(), api_url=self.api_url, nats_url=self.nats_url,
                         temporal_address=self.temporal_address,
                         temporal_ui_url=f"http://127.0.0.1:{self.ports.temporal_ui}",
                         postgres_url=self.postgres_url(with_password=False),
                         services={s.name: f"http://127.0.0.1:{self.ports.http_port(s)}"
                                   for s in REGISTRY if s.default_port is not None})

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
