"""Named crash points for fault-injection tests.

Enabled only when ``DOUDI_FAULT_POINTS`` names a directory: a point fires (the process dies at once,
as with SIGKILL) when a file of its name exists there, and the file is removed first so it fires
once. In every other run ``crash_point`` is a no-op.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.config import get_settings


def crash_point(name: str) -> None:
    directory = get_settings().fault_points
    if not directory:
        return
    marker = Path(directory) / name
    try:
        marker.unlink()
    except FileNotFoundError:
        return
    os._exit(137)


def fault_active(name: str) -> bool:
    """A standing fault (a payment provider that is down, a deployed bug) for as long as the file of its
    name exists in the fault directory; only where fault injection is enabled."""
    directory = get_settings().fault_points
    return bool(directory) and (Path(directory) / name).exists()
