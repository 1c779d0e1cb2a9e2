"""The office's records show integer fen as yuan without a float (services/operations/records_format.py),
and the monthly report's totals add up (services/operations/statistics.py ``layout``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from services.operations.export_sheets import Sheet, Yuan, csv_response, xlsx_response
from services.operations.records_format import beijing_text, measure_zh, pathway_zh, yuan_decimal, yuan_text
from services.operations.statistics import GRAND_TOTAL, SUBTOTAL, Tally, layout


@pytest.mark.parametrize(("fen", "text"), [
    (0, "0.00"), (1, "0.01"), (5, "0.05"), (99, "0.99"), (100, "1.00"), (195000, "1950.00"),
    (-5, "-0.05"), (-195001, "-1950.01"),
    # beyond what a double holds exactly (2^53): still exact, digit for digit
    (2**63 - 1, "92233720368547758.07"), (-(2**63), "-92233720368547758.08"),
])
def test_fen_as_yuan_is_exact(fen: int, text: str):
    assert yuan_text(fen) == text
    assert yuan_decimal(fen) == Decimal(text) and yuan_decimal(fen) * 100 == fen


def test_beijing_time_and_chinese_names():
    assert beijing_text(datetime(2026, 12, 1, 20, 30, 5, tzinfo=UTC)) == "2026-12-02 04:30:05"  # UTC+8
    assert beijing_text(None) == ""
    assert pathway_zh("emergency_relief") == "急难救助（先行救助）"
    assert pathway_zh("event_one_off") == "一次性救助"  # an older name of one_off
    assert measure_zh("price_linkage") == "价格临时补贴" and measure_zh("unknown_measure") == "unknown_measure"


def test_the_report_adds_each_county_and_each_category_once():
    by_county = {
        "640104": {"城市低保": Tally(roster_households=2, roster_persons=5, payments=2, paid_households=2,
                                    paid_persons=2, amount_fen=210000),
                   "临时救助": Tally(payments=1, paid_households=1, paid_persons=1, amount_fen=195000)},
        "640105": {"农村低保": Tally(roster_households=1, roster_persons=2, payments=1, paid_households=1,
                                    paid_persons=1, amount_fen=62000)},
    }
    rows = {(r.region_code, r.category): r.tally for r in layout(by_county, "6401")}
    # by hand: 640104: 2100.00 + 1950.00 = 4050.00 yuan; 640105: 620.00; all: 4670.00 yuan, 4 payments
    assert rows[("640104", SUBTOTAL)].amount_fen == 210000 + 195000
    assert rows[("640105", SUBTOTAL)].amount_fen == 62000
    assert rows[("6401", "合计：城市低保")] == by_county["640104"]["城市低保"]
    grand = rows[("6401", GRAND_TOTAL)]
    assert (grand.roster_households, grand.roster_persons, grand.payments, grand.amount_fen) == (3, 7, 4, 467000)
    # every county shows every standing category, an empty one at zero; an empty optional one is left out
    assert rows[("640105", "特困人员")] == Tally() and ("640105", "其他救助") not in rows


async def _sheet_bodies(rows: list[list[Any]], masked: bool) -> tuple[str, list[list[Any]]]:
    async def stream() -> AsyncIterator[list[Any]]:
        for row in rows:
            yield row

    csv_body = b"".join([bytes(chunk) async for chunk in csv_response(
        Sheet("t", ["姓名", "金额（元）"], stream(), "t"), masked=masked).body_iterator]).decode("utf-8")
    response = await xlsx_response(Sheet("t", ["姓名", "金额（元）"], stream(), "t"), masked=masked)
    return csv_body, _cells_of(Path(response.path))


def _cells_of(path: Path) -> list[list[Any]]:
    cells = [[(c.value, c.data_type) for c in row] for row in load_workbook(path).worksheets[0].iter_rows()]
    path.unlink()
    return cells


async def test_a_formula_in_a_name_stays_text_and_ids_are_masked_in_both_formats():
    pid = "640104198003151020"
    text, cells = await _sheet_bodies([["=HYPERLINK(\"http://x\")", Yuan(-5)], [f"户主 {pid}", Yuan(195000)]],
                                      masked=True)
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[1] == "\"'=HYPERLINK(\"\"http://x\"\")\",-0.05"  # the amount's minus is a number's, not text
    assert lines[2] == "户主 640104********1020,1950.00" and pid not in text
    assert cells[1][0] == ("=HYPERLINK(\"http://x\")", "s") and cells[2][0] == ("户主 640104********1020", "s")
    assert [Decimal(str(cells[1][1][0])), Decimal(str(cells[2][1][0]))] == [Decimal("-0.05"), Decimal("1950")]
    assert (cells[1][1][1], cells[2][1][1]) == ("n", "n")  # numbers a sheet can add up
    _, unmasked = await _sheet_bodies([[f"户主 {pid}", Yuan(1)]], masked=False)
    assert unmasked[1][0] == (f"户主 {pid}", "s")
