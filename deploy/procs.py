"""A supervised child process of the embedded stack (deploy/embedded.py) and where its binary is."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def _bin(name: str) -> str:
    """An executable installed by a wheel into this environment's scripts folder."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: pip install the project (it depends on the wheel)")
    return found


def _die_with_parent(sig: int) -> Callable[[], None]:
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
        # a process under another user (PostgreSQL) cannot keep the death signal: a change of user clears it
        die_with_parent = (_die_with_parent(self.stop_signal) if self.user is None and sys.platform == "linux"
                           else None)
        self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True, user=self.user,
                                      preexec_fn=die_with_parent)
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
