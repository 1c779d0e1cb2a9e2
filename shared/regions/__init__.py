"""Administrative divisions (行政区划): names for GB/T 2260 codes, and whether a code is a county doudi knows.

The table is the Ministry of Civil Affairs' 县级以上行政区划代码, shipped as data beside this module
(``gb2260.json``: its source, edition and the date it was taken are in its header; README.md says how to
refresh it). The Corps (新疆生产建设兵团, ``66``) has no GB/T 2260 province code: its codes are this
project's local practice, checked by division (``xpcc.json``, labelled so).

- ``region_name(code)``: the full name (province + prefecture + county, e.g. 宁夏回族自治区银川市兴庆区) of a
  2-, 4-, 6- or 9-digit code, None when the table does not know it. A 9-digit township is named by its county
  (the MCA table stops at counties).
- ``is_known_county(code)``: a 6-digit code (or a 9-digit township's 6-digit prefix) that names a county-level
  unit: a county, district or county-level city, a prefecture with no counties under it (东莞市 441900), or a
  company of one of the Corps' divisions (66DDxx).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent


@dataclass(frozen=True)
class _Tables:
    gb2260: dict[str, str]           # 6-digit code -> the unit's own name
    xpcc_province: str               # 新疆生产建设兵团
    xpcc_divisions: dict[str, str]   # "01" -> 第一师（阿拉尔市）
    prefectures_with_counties: frozenset[str]  # 4-digit prefixes with a county row under them


@cache
def _tables() -> _Tables:
    gb = json.loads((_HERE / "gb2260.json").read_text(encoding="utf-8"))["regions"]
    xpcc = json.loads((_HERE / "xpcc.json").read_text(encoding="utf-8"))
    return _Tables(gb2260=dict(gb), xpcc_province=xpcc["province"]["66"], xpcc_divisions=dict(xpcc["divisions"]),
                   prefectures_with_counties=frozenset(c[:4] for c in gb if c[4:] != "00"))


def _xpcc_name(code: str) -> str | None:
    t = _tables()
    if len(code) == 2:
        return t.xpcc_province
    division = t.xpcc_divisions.get(code[2:4])
    return None if division is None else f"{t.xpcc_province}{division}"


def region_name(code: str | None) -> str | None:
    """The full name of a region code (2, 4, 6 or 9 digits); None for an unknown or malformed one."""
    if not code or not code.isascii() or not code.isdigit() or len(code) not in (2, 4, 6, 9):
        return None
    if code.startswith("66"):
        return _xpcc_name(code[:4])
    t = _tables()
    six = code[:6].ljust(6, "0")
    if six not in t.gb2260:
        return None
    province, prefecture = six[:2] + "0000", six[:4] + "00"
    parts = [t.gb2260[c] for c in dict.fromkeys((province, prefecture, six)) if c in t.gb2260]
    return "".join(parts)


def is_known_county(code: str) -> bool:
    """Whether ``code`` (6 digits, or 9: checked on its 6-digit county prefix) is a county-level unit."""
    if len(code) not in (6, 9) or not code.isascii() or not code.isdigit():
        return False
    county = code[:6]
    if county.startswith("66"):  # the Corps: a company (xx ≠ 00) of a known division (local practice)
        return county[2:4] in _tables().xpcc_divisions and county[4:] != "00"
    t = _tables()
    if county not in t.gb2260 or county.endswith("0000"):
        return False  # unknown, or a province
    # a prefecture row is county-level only where no county is listed under it (东莞市, 中山市, 嘉峪关市, 儋州市)
    return not county.endswith("00") or county[:4] not in t.prefectures_with_counties


def require_known_county(code: str) -> str:
    """``code`` unchanged when it is a known county (or a township of one); ValueError naming it otherwise."""
    if not is_known_county(code):
        raise ValueError(f"未知的行政区划代码 {code[:6]}（不在民政部县级以上行政区划代码表 GB/T 2260 中，"
                         f"或不是县级单位）(unknown county code {code[:6]}: not a county-level unit of GB/T 2260)")
    return code
