"""Township codes for tests that fund reserves: each one handed out once per session, so two tests (or two
parameters of one) never share a reserve (the session's stack is one database)."""
from __future__ import annotations

import random

_given: set[str] = set()


def fresh_township(county: str) -> str:
    """A 9-digit township code under the 6-digit county, unused so far in this session."""
    free = [f"{county}{n:03d}" for n in range(100, 1000) if f"{county}{n:03d}" not in _given]
    if not free:
        raise RuntimeError(f"every test township under {county} is taken")
    code = random.choice(free)
    _given.add(code)
    return code
