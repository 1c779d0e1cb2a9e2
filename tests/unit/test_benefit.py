"""The monthly benefit (shared/policy/benefit.py): numbers only from the packs, integer fen."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from shared.policy import BenefitHousehold, PolicyLibrary, load_library, monthly_benefit

NINGXIA = "640104"  # 银川市兴庆区
XINZHOU = "361102"  # 上饶市信州区 (the Shangrao test fixture sets the standard: 800 yuan)
XPCC = "660102"  # a company of the XPCC's first division (test pack sets the standard and the add-ons)
SEP_2022 = date(2022, 9, 1)
FIXTURES = Path(__file__).parent.parent / "fixtures" / "policy"

# TEST FIXTURE: the XPCC plan (seed 004) leaves the standard and the add-on ratios to the division.


def local_packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PolicyLibrary:
    """The shipped packs plus the test fixtures (Shangrao, XPCC first division) as local packs."""
    for name in ("test-shangrao.yaml", "test-xpcc-first-division.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    monkeypatch.setenv("DOUDI_POLICY_LOCAL_DIR", str(tmp_path))
    return load_library()


def test_ningxia_urban_household_of_three_at_300_yuan_each_gets_1050_yuan():
    b = monthly_benefit(load_library(), NINGXIA, SEP_2022, BenefitHousehold(size=3, monthly_income_fen=90000))
    assert b.payable and b.amount_fen == 105000 == (65000 - 30000) * 3
    assert b.standard_fen == 65000 and b.pack_id == "ningxia-2022-20-measures"
    assert any("650元" in c for c in b.citations)


def test_income_reaching_the_standard_pays_nothing_and_says_above_standard():
    b = monthly_benefit(load_library(), NINGXIA, SEP_2022, BenefitHousehold(size=3, monthly_income_fen=195000))
    assert not b.payable and b.above_standard and b.amount_fen == 0 and b.decidable


def test_extreme_poverty_is_1_3_times_the_urban_or_rural_standard_per_person():
    lib = load_library()
    urban = monthly_benefit(lib, NINGXIA, SEP_2022, BenefitHousehold(size=1, extreme_poverty=True))
    rural = monthly_benefit(lib, NINGXIA, SEP_2022, BenefitHousehold(size=2, urban=False, extreme_poverty=True))
    assert urban.amount_fen == 84500 and rural.amount_fen == 2 * 59800


def test_jiangxi_deducts_30_percent_of_the_standard_per_working_member(tmp_path, monkeypatch):
    lib = local_packs(tmp_path, monkeypatch)
    hh = BenefitHousehold(size=3, monthly_income_fen=150000, working_members=1)
    b = monthly_benefit(lib, XINZHOU, SEP_2022, hh)
    # standard 80000 (fixture); counted income 150000 - 0.30 x 80000 = 126000; 3 x 80000 - 126000
    assert b.counted_income_fen == 126000 and b.amount_fen == 114000
    assert monthly_benefit(lib, NINGXIA, SEP_2022, hh).amount_fen == 195000 - 150000  # no deduction in Ningxia


def test_xpcc_add_ons_round_half_up_per_person(tmp_path, monkeypatch):
    lib = local_packs(tmp_path, monkeypatch)
    b = monthly_benefit(lib, XPCC, SEP_2022, BenefitHousehold(size=2, remote=True, special_members=1))
    # 0.20 x 60005 = 12001.0 per member; 0.10 x 60005 = 6000.5 -> 6001 (half up) per special member
    assert [(ln.label, ln.amount_fen) for ln in b.lines] == [
        ("dibao_differential", 120010), ("remote_addon", 24002), ("special_member_addon", 6001)]
    assert b.amount_fen == 150013


def test_add_ons_left_to_the_division_are_not_applied_and_an_unset_standard_is_undecidable():
    b = monthly_benefit(load_library(), XPCC, SEP_2022, BenefitHousehold(size=2, remote=True))
    assert not b.decidable and not b.payable and "standard" in b.reason


def test_rigid_expenditure_is_deducted_from_counted_income_where_a_pack_declares_it():
    # Ningxia (seed 002 「刚性支出……予以扣减」): 3 persons, 2,000 yuan income, 500 yuan/month for illness
    hh = BenefitHousehold(size=3, monthly_income_fen=200000, monthly_rigid_expenditure_fen=50000)
    b = monthly_benefit(load_library(), NINGXIA, SEP_2022, hh)
    assert b.counted_income_fen == 150000 and b.amount_fen == 3 * 65000 - 150000
    assert [ln.label for ln in b.lines] == ["dibao_differential", "rigid_expenditure_deduction"]
    # without it the household is above the standard: no dibao
    assert not monthly_benefit(load_library(), NINGXIA, SEP_2022, hh.model_copy(
        update={"monthly_rigid_expenditure_fen": 0})).payable


def test_single_person_inclusion_of_a_low_income_households_severely_disabled_member(tmp_path, monkeypatch):
    lib = local_packs(tmp_path, monkeypatch)  # XPCC first division (fixture standard 60005), line 1.5x (seed 004)
    member = dict(size=3, single_person=True, applicant_severely_disabled_or_ill=True)
    b = monthly_benefit(lib, XPCC, SEP_2022, BenefitHousehold(monthly_income_fen=200000, **member))
    # 60005 alone, + the fixture's 10% special-member add-on (6000.5 -> 6001, half up)
    assert b.payable and b.amount_fen == 60005 + 6001 and b.lines[0].label == "single_person_inclusion"
    above_line = monthly_benefit(lib, XPCC, SEP_2022, BenefitHousehold(monthly_income_fen=270023, **member))
    assert not above_line.payable and "not a low-income household" in above_line.reason  # 1.5 x 180015 = 270023
    under_standard = monthly_benefit(lib, XPCC, SEP_2022, BenefitHousehold(monthly_income_fen=150000, **member))
    assert not under_standard.payable and "applies as a whole" in under_standard.reason
    # Ningxia (seed 002): a recognised 低保边缘 household above the line still qualifies; no add-on ratio in its pack
    ningxia = monthly_benefit(load_library(), NINGXIA, SEP_2022, BenefitHousehold(monthly_income_fen=400000,
                                                                                 marginal=True, **member))
    assert ningxia.payable and ningxia.amount_fen == 65000
