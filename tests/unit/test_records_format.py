"""The office's records show integer fen as yuan without a float (services/operations/records_format.py),
and the monthly report's totals add up (services/operations/statistics.py ``layout``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

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
