"""Where the tests read the five seed notices from.

``../shared/seeds`` beside the repository is the source of truth when it is there (a developer's
machine); a fresh clone (CI) has only the copy vendored in ``docs/seeds``. Both are the same bytes:
``tests/unit/test_seed_quotes.py`` checks it, so whichever is read, a quote checked here is checked
against the real notice.
"""

from __future__ import annotations

import functools
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SEEDS = REPO_ROOT.parent / "shared" / "seeds"
VENDORED_SEEDS = REPO_ROOT / "docs" / "seeds"


def seeds_dir() -> Path:
    """``../shared/seeds`` when present, else the vendored copy (which is always in the repository)."""
    return SHARED_SEEDS if SHARED_SEEDS.is_dir() else VENDORED_SEEDS


@functools.cache
def seed_text(name: str) -> str:
    """The text of one seed file (UTF-8); FileNotFoundError names the folder it looked in."""
    path = seeds_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"seed {name!r} is not in {seeds_dir()}")
    return path.read_text(encoding="utf-8")
