"""Secrets of the embedded default, each a file in the data folder, created once and atomically.

The supervisor (``deploy/embedded.py``, ``EmbeddedStack.prepare_secrets``) creates every secret before
any service starts; services only read them. Creation is still safe when several processes try at once
(two supervisors on one folder, a test): each writes its own private temporary file and hard-links it
into place, so the first writer wins, everyone reads the same content, and nobody trips over another's
temporary file (the old fixed ``codec-keys.tmp`` name did: ``FileNotFoundError`` on a fresh clone).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def create_once(path: Path, render: Callable[[], str]) -> bool:
    """Create ``path`` (mode 0600) with ``render()`` unless it exists. True when this call created it.

    The content is complete before the file has its name (link of a fully written, fsynced file), so a
    reader never sees a partial secret.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # 0600, unique
    try:
        with os.fdopen(fd, "w") as out:
            out.write(render())
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # atomic, and fails if another process linked first
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def read_secret(path: Path, what: str) -> str:
    """A secret the supervisor created; a clear error naming who creates it when it is missing."""
    try:
        return path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{what} not found at {path}: `doudi up` creates it before starting any service "
            "(or set the corresponding DOUDI_* variable)") from None
