"""What the data folder says about the stack running on it, for `doudi up` and every other command.

``doudi.lock``: `doudi up` holds an exclusive ``flock`` on it for its whole life, so a second `doudi up` on
the same folder is refused while the first runs, and a crashed stack leaves no stale lock (the kernel
releases it with the process). ``endpoints.json``: where that stack answers (API, NATS, Temporal, the
Temporal UI, each service), written by `doudi up` before it starts anything and marked ``stopped`` on a
clean exit; the other commands read it from ``DOUDI_DATA_DIR`` (default ``.data``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

LOCK_FILE = "doudi.lock"
ENDPOINTS_FILE = "endpoints.json"
DEFAULT_DATA_DIR = Path(".data")


class Endpoints(BaseModel):
    """Where a stack started by `doudi up` answers (``endpoints.json`` in its data folder)."""

    status: Literal["running", "stopped"] = "running"
    pid: int
    api_url: str
    nats_url: str  # without credentials: each NATS user's password is in nats-users.json
    temporal_address: str
    temporal_ui_url: str
    postgres_url: str  # without the password (postgres-password)
    services: dict[str, str]  # each HTTP service's URL, by its name in shared/services.py


class StackAlreadyRunning(Exception):
    """Another `doudi up` holds the data folder's lock."""

    def __init__(self, data_dir: Path, api_url: str | None):
        where = f" (its API: {api_url})" if api_url else ""
        super().__init__(f"a doudi stack already runs on the data folder {data_dir}{where}; stop it first, or "
                         "start this one with another --data-dir")


def data_dir_from_env() -> Path:
    """The data folder the commands use: ``DOUDI_DATA_DIR``, default ``.data``."""
    return Path(os.environ.get("DOUDI_DATA_DIR") or DEFAULT_DATA_DIR)


def hold_lock(data_dir: Path) -> int:
    """Take the data folder's lock for this process's life (the descriptor is returned and kept open; it is
    not inherited by the stack's children). Raises ``StackAlreadyRunning`` naming the running stack."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        running = read_endpoints(data_dir, running_only=False)
        raise StackAlreadyRunning(data_dir.resolve(), running.api_url if running else None) from None
    return fd


def release_lock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_endpoints(data_dir: Path, endpoints: Endpoints) -> None:
    """Write atomically (a reader never sees half a file)."""
    target = data_dir / ENDPOINTS_FILE
    tmp = target.with_suffix(".tmp")
    tmp.write_text(endpoints.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)


def mark_stopped(data_dir: Path) -> None:
    endpoints = read_endpoints(data_dir, running_only=False)
    if endpoints is not None:
        write_endpoints(data_dir, endpoints.model_copy(update={"status": "stopped"}))


def read_endpoints(data_dir: Path | None = None, *, running_only: bool = True) -> Endpoints | None:
    """The endpoints of the stack on ``data_dir`` (default: ``DOUDI_DATA_DIR``); None when there is no
    file, it cannot be read, or (``running_only``) the stack stopped cleanly."""
    path = (data_dir or data_dir_from_env()) / ENDPOINTS_FILE
    try:
        endpoints = Endpoints.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError):
        return None
    if running_only and endpoints.status != "running":
        return None
    return endpoints
