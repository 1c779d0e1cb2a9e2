"""Every quote is verbatim from its seed: the policy packs (shipped and the tests' local packs) and
every row of the conformance table. Runs everywhere, CI included: the seeds are vendored in
``docs/seeds`` and must be the same bytes as ``../shared/seeds`` wherever that folder exists."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.seeds import REPO_ROOT, SHARED_SEEDS, VENDORED_SEEDS, seed_text, seeds_dir

# Data only: nothing here imports the policy code, so the check runs even when that code does not load.
PACKS_DIR = REPO_ROOT / "shared" / "policy" / "packs"
CONFORMANCE_DIR = REPO_ROOT / "tests" / "conformance"
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures"
SEED_FILES = frozenset(line.split()[1] for line in (VENDORED_SEEDS / "SHA256SUMS").read_text(encoding="utf-8")
                       .splitlines() if line.strip())


def _citations(node: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """(where, seed, quote) for every mapping that carries both a ``seed`` and a ``quote``, at any depth:
    figures, measures, validity, standards, rows, and whatever a later pack format adds."""
    if isinstance(node, dict):
        if isinstance(node.get("seed"), str) and "quote" in node:
            yield where, node["seed"], node["quote"]
        for key, value in node.items():
            yield from _citations(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _citations(value, f"{where}[{i}]")


def _pack_files() -> list[Path]:
    shipped = sorted(PACKS_DIR.glob("*.yaml"))
    local = sorted(f for f in FIXTURES_DIR.rglob("*.yaml")
                   if isinstance(data := yaml.safe_load(f.read_text(encoding="utf-8")), dict) and "pack_id" in data)
    return shipped + local


def _check(files: list[Path]) -> tuple[int, list[str]]:
    count, wrong = 0, []
    for f in files:
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        name = f.relative_to(REPO_ROOT)
        if isinstance(data, dict) and isinstance(data.get("seed"), str) and data["seed"] not in SEED_FILES:
            wrong.append(f"{name}: seed: {data['seed']!r} is not one of the five seed files")
        for where, seed, quote in _citations(data, str(name)):
            count += 1
            if seed not in SEED_FILES:
                wrong.append(f"{where}: seed {seed!r} is not one of the five seed files")
            elif not isinstance(quote, str) or not quote.strip() or quote != quote.strip():
                wrong.append(f"{where}: quote {quote!r} must be a non-empty excerpt without surrounding whitespace")
            elif quote not in seed_text(seed):
                wrong.append(f"{where}: {quote!r} is not verbatim in {seed}")
    return count, wrong


def test_the_vendored_seeds_are_the_five_files_with_the_recorded_bytes() -> None:
    recorded = dict(reversed(line.split(None, 1)) for line in
                    (VENDORED_SEEDS / "SHA256SUMS").read_text(encoding="utf-8").splitlines() if line.strip())
    assert set(recorded) == SEED_FILES
    assert {p.name for p in VENDORED_SEEDS.glob("*.txt")} == SEED_FILES
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDORED_SEEDS / name).read_bytes()).hexdigest() == digest, name


def test_the_policy_layer_knows_the_same_five_seeds() -> None:
    from shared.policy import SEED_FILES as POLICY_SEED_FILES

    assert POLICY_SEED_FILES == SEED_FILES


def test_the_shared_seeds_are_byte_identical_to_the_vendored_copy() -> None:
    """Where ``../shared/seeds`` exists (it is the source of truth) the vendored copy must be the same
    bytes; in a fresh clone there is nothing to compare and the copy stands alone (checked above)."""
    if not SHARED_SEEDS.is_dir():
        assert seeds_dir() == VENDORED_SEEDS
        return
    assert seeds_dir() == SHARED_SEEDS
    shared = {p.name for p in SHARED_SEEDS.glob("*.txt")}
    assert shared == SEED_FILES, f"{SHARED_SEEDS} holds {sorted(shared)}"
    for name in sorted(SEED_FILES):
        assert (SHARED_SEEDS / name).read_bytes() == (VENDORED_SEEDS / name).read_bytes(), (
            f"docs/seeds/{name} differs from {SHARED_SEEDS / name}: refresh the vendored copy (docs/seeds/README.md)")


def test_every_pack_quotes_its_seed_verbatim() -> None:
    files = _pack_files()
    assert len(files) >= 6
    count, wrong = _check(files)
    assert not wrong, "\n".join(wrong)
    assert count > 100


def test_every_conformance_row_quotes_its_seed_verbatim() -> None:
    files = sorted(CONFORMANCE_DIR.glob("*.yaml"))
    assert files, f"no conformance table in {CONFORMANCE_DIR}"
    count, wrong = _check(files)
    assert not wrong, "\n".join(wrong)
    rows = sum(len(yaml.safe_load(f.read_text(encoding="utf-8"))["rows"]) for f in files)
    assert count >= rows >= 60  # every row cites its seed


@pytest.mark.parametrize(("quote", "seed"), [
    ("每人每月650元", "002_c6f97725f515410c.txt"),
    ("每人每月 650元", "002_c6f97725f515410c.txt"),  # one space too many: not verbatim
])
def test_the_check_is_character_exact(quote: str, seed: str) -> None:
    count, wrong = _check_text({"seed": seed, "quote": quote})
    assert count == 1 and bool(wrong) is (" " in quote)


def _check_text(data: dict[str, Any]) -> tuple[int, list[str]]:
    found = list(_citations(data, "inline"))
    return len(found), [w for w, s, q in found if q not in seed_text(s)]
