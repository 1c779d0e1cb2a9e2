"""Leaving dibao (shared/policy/exits.py, issue 13 item 8): the gradual exit's months by region and
household, and the epidemic pause only on the dates of the epidemic-control period; a region's own pack
overrides the local-practice defaults of the national pack."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from shared.policy import BenefitHousehold, load_library
from shared.policy.exits import exit_paused, gradual_exit

OCT_2022 = date(2022, 10, 1)


@pytest.mark.parametrize("special,months", [(0, 6), (1, 12), (2, 18), (3, 18)])
def test_ningxia_6_to_18_months_by_special_members(special: int, months: int):
    # seed 002 「可根据家庭情况给予不少于6个月、不超过18个月的低保渐退期」; local practice (national pack):
    # 6 + 6 per special member, at most 18
    g = gradual_exit(load_library(), "640104", OCT_2022, BenefitHousehold(size=4, special_members=special))
    assert g.months == months


def test_jiangxi_floor_xpcc_default_fujian_none():
    lib = load_library()
    two = BenefitHousehold(size=3, special_members=2)
    assert gradual_exit(lib, "361102", OCT_2022, two).months == 6  # seed 001 「不低于 6 个月」: no range to choose in
    xpcc = gradual_exit(lib, "660102", OCT_2022, two)  # seed 004 「一定时间的渐退期」: local-practice 6
    assert xpcc.months == 6 and "local-practice" in xpcc.basis
    assert gradual_exit(lib, "350102", OCT_2022, two).months is None  # Fujian's seed grants none: exit at once


@pytest.mark.parametrize("on,paused", [
    (date(2022, 10, 1), True), (date(2023, 1, 7), True), (date(2023, 1, 8), False), (date(2023, 2, 1), False)])
def test_ningxia_exits_pause_only_inside_the_epidemic_control_period(on: date, paused: bool):
    # seed 002 「疫情防控期间暂停低保退出」; the period's end (2023-01-07) is the national pack's local practice
    assert exit_paused(load_library(), "640104", on).suspended is paused


def test_no_pause_where_no_pack_sets_it():
    assert not exit_paused(load_library(), "361102", OCT_2022).suspended  # Jiangxi: no epidemic pause


LOCAL = """
pack_id: test-yinchuan-exits
version: "2022.1"
region_prefix: "6401"
region_name_en: Yinchuan (test fixture)
region_name_zh: 银川市
title_zh: 测试用渐退期与疫情防控期
seed: 002_c6f97725f515410c.txt
effective_from: 2022-06-07
effective_to: 2023-12-31
validity:
  - seed: 002_c6f97725f515410c.txt
    quote: 宁夏回族自治区人民政府办公厅
figures:
  gradual_exit_extra_months_per_special_member:
    value: 3
    unit: months
    seed: 002_c6f97725f515410c.txt
    quote: 可根据家庭情况给予不少于6个月、不超过18个月的低保渐退期
    note: TEST FIXTURE - a city's own step.
  epidemic_control_start:
    value: 2022-08-01
    unit: date
    seed: 002_c6f97725f515410c.txt
    quote: 疫情防控期间暂停低保退出
    note: TEST FIXTURE - a city's own epidemic-control period.
  epidemic_control_end:
    value: 2022-11-30
    unit: date
    seed: 002_c6f97725f515410c.txt
    quote: 待疫情防控结束后视实际情况，按照相关规定及时办理退出手续
    note: TEST FIXTURE - a city's own epidemic-control period.
"""


def test_a_regions_pack_overrides_the_local_practice_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "test-yinchuan-exits.yaml").write_text(LOCAL, encoding="utf-8")
    monkeypatch.setenv("DOUDI_POLICY_LOCAL_DIR", str(tmp_path))
    lib = load_library()
    # 6 + 3 x 2 = 12 in Yinchuan (its own step); elsewhere in Ningxia still 6 + 6 x 2 = 18
    assert gradual_exit(lib, "640104", OCT_2022, BenefitHousehold(size=3, special_members=2)).months == 12
    assert gradual_exit(lib, "640502", OCT_2022, BenefitHousehold(size=3, special_members=2)).months == 18
    assert not exit_paused(lib, "640104", date(2022, 7, 1)).suspended  # before the city's period
    assert exit_paused(lib, "640104", date(2022, 11, 30)).suspended
    assert not exit_paused(lib, "640104", date(2022, 12, 1)).suspended  # after it (nationally still paused)
    assert exit_paused(lib, "640502", date(2022, 12, 1)).suspended
