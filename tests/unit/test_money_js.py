"""The workbench's one yuan -> fen function (services/operations/static/money.js ``yuanToFen``), run in
Node: string arithmetic, no float; refuses more than two decimals, negatives, empty and anything that is
not an amount. Expected fen are written by hand (1 yuan = 100 fen)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

MONEY_JS = Path(__file__).resolve().parents[2] / "services" / "operations" / "static" / "money.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install -y nodejs)")

# input -> expected fen (by hand) or the refusal's code
CASES: list[tuple[str, int | str]] = [
    ("1950.00", 195000),          # 1950 x 100
    ("1950", 195000),
    ("1950.5", 195050),           # 1950 x 100 + 50
    ("1950.05", 195005),          # 1950 x 100 + 5
    ("0.01", 1),
    ("0.1", 10),
    ("0", 0),
    ("0.00", 0),
    ("007.10", 710),              # leading zeros are not octal
    ("1,950.00", 195000),         # thousands grouping
    ("12,345,678.90", 1234567890),
    ("¥1950.00", 195000),
    ("￥ 1950", 195000),
    ("1950元", 195000),
    ("  1300.00  ", 130000),
    ("１９５０．００", 195000),   # full-width (a Chinese input method)
    ("1299.99", 129999),          # where 0.1 + 0.2 style float error would show: 1299.99 * 100 = 129998.99999…
    ("4.35", 435),                # 4.35 * 100 = 434.99999999999994 in floating point
    ("90071992547409.91", 9007199254740991),  # Number.MAX_SAFE_INTEGER fen, exact
    ("", "empty"),
    ("   ", "empty"),
    ("¥", "empty"),
    ("-1", "negative"),
    ("-0.01", "negative"),
    ("－5", "negative"),          # full-width minus
    ("1950.005", "decimals"),
    ("0.001", "decimals"),
    ("1950.", "format"),
    (".5", "format"),
    ("1e3", "format"),
    ("19,50", "format"),          # not thousands grouping
    ("1.950,00", "format"),
    ("abc", "format"),
    ("1950.00.00", "format"),
    ("+5", "format"),
    ("NaN", "format"),
    ("Infinity", "format"),
    ("0x10", "format"),
    ("90071992547409.92", "too_large"),  # one fen past MAX_SAFE_INTEGER
    ("92233720368547758.07", "too_large"),  # 2^63 - 1 fen
]

SHOWN: list[tuple[int, str]] = [(195000, "1950.00"), (1, "0.01"), (0, "0.00"), (-250, "-2.50"), (10, "0.10")]


def run_node(tmp_path: Path, script: str) -> object:
    module = tmp_path / "money.mjs"
    module.write_text(MONEY_JS.read_text(encoding="utf-8"), encoding="utf-8")
    runner = tmp_path / "run.mjs"
    runner.write_text(f"import {{ yuanToFen, fenToYuan }} from './money.mjs';\n{script}\n", encoding="utf-8")
    assert NODE is not None
    out = subprocess.run([NODE, str(runner)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def test_yuan_typed_is_read_as_integer_fen_or_refused_by_reason(tmp_path: Path):
    inputs = [text for text, _ in CASES]
    got = run_node(tmp_path, f"console.log(JSON.stringify({json.dumps(inputs)}.map(yuanToFen)));")
    assert isinstance(got, list)
    for (text, expected), result in zip(CASES, got, strict=True):
        if isinstance(expected, int):
            assert result == {"ok": True, "fen": expected}, text
        else:
            assert result == {"ok": False, "error": expected}, text


def test_fen_is_shown_back_in_yuan(tmp_path: Path):
    fens = [fen for fen, _ in SHOWN]
    got = run_node(tmp_path, f"console.log(JSON.stringify({json.dumps(fens)}.map(fenToYuan)));")
    assert got == [text for _, text in SHOWN]


def test_the_pages_convert_yuan_in_one_function_only():
    """No workbench page multiplies a typed amount by 100 itself: every yuan field goes through yuanToFen."""
    static = MONEY_JS.parent
    scripts = list(static.glob("workbench*.js"))
    assert scripts
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        assert "* 100" not in text and "*100" not in text and "parseFloat" not in text, script.name
