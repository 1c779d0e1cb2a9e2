"""The standards register (shared/policy/standards.py, issue 13 items 1-3): standards in force until
replaced, a raise with a retroactive effective date loaded as a local pack, rural quarterly payment only
where a region's pack says so. Every expected figure is computed by hand from the seeds."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.intake.enrolment import pays_rural_quarterly, priced_standard
from shared.policy import (
    BenefitHousehold,
    PolicyLibrary,
    load_library,
    monthly_benefit,
    monthly_standard_fen,
    standards,
)

YINCHUAN = "640104"  # 银川市兴庆区: only the Ningxia notice (seed 002)
XIJI, LONGDE = "640422", "640423"  # the e2e fixtures: quarterly rural payment; 700 yuan from 2023-01-01
FIXTURES = Path(__file__).parent.parent / "fixtures" / "policy"
JAN_2024 = date(2024, 1, 15)

NINGXIA_2024 = """
pack_id: test-ningxia-2024-standard
version: "2024.1"
region_prefix: "64"
region_name_en: Ningxia (test)
region_name_zh: 宁夏回族自治区
title_zh: 测试用2024年提标
seed: 002_c6f97725f515410c.txt
effective_from: 2024-01-01
validity:
  - seed: 002_c6f97725f515410c.txt
    quote: 城乡低保标准
figures:
  dibao_urban_monthly_fen:
    value: 72000
    unit: fen_per_person_month
    seed: 002_c6f97725f515410c.txt
    quote: 城乡低保标准
    note: TEST - a hypothetical region-wide raise to 720 yuan.
  dibao_rural_yearly_fen:
    value: 600000
    unit: fen_per_person_year
    seed: 002_c6f97725f515410c.txt
    quote: 城乡低保标准
    note: TEST - a hypothetical rural raise to 6,000 yuan a year.
"""


def local_packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str, extra: str = "") -> PolicyLibrary:
    for name in names:
        shutil.copy(FIXTURES / name, tmp_path / name)
    if extra:
        (tmp_path / "extra.yaml").write_text(extra, encoding="utf-8")
    monkeypatch.setenv("DOUDI_POLICY_LOCAL_DIR", str(tmp_path))
    return load_library()


# -- item 3: a standard stays in force after the temporary measures end ---------------------------------

def test_ningxias_standards_stay_in_force_after_the_20_measures_end():
    lib = load_library()
    # seed 002 「城乡低保标准，分别提高到每人每月650元、每人每年5520元」, measures 「有效期至2023年12月31日」
    assert monthly_standard_fen(lib, YINCHUAN, JAN_2024, True) == 65000
    assert monthly_standard_fen(lib, YINCHUAN, JAN_2024, False) == 46000  # 552000 / 12
    assert lib.parameter("extreme_poverty_multiple", YINCHUAN, JAN_2024).value == Decimal("1.3")  # type: ignore[union-attr]
    assert lib.parameter("orphan_institutional_monthly_fen", YINCHUAN, JAN_2024).value == 150000  # type: ignore[union-attr]
    # (65000 x 3) - 90000 = 105000: the household keeps its dibao in January 2024
    b = monthly_benefit(lib, YINCHUAN, JAN_2024, BenefitHousehold(size=3, monthly_income_fen=90000))
    assert b.payable and b.amount_fen == 105000
    # the temporary measures do end: the one-time living subsidy figure is not in force
    assert lib.parameter("one_time_living_subsidy_fen", YINCHUAN, JAN_2024) is None
    assert lib.parameter("one_time_living_subsidy_fen", YINCHUAN, date(2023, 12, 31)).value == 60000  # type: ignore[union-attr]


def test_before_the_first_standard_there_is_none():
    assert monthly_standard_fen(load_library(), YINCHUAN, date(2022, 6, 6), True) is None


# -- 提标: a new standard is a new pack with its effective date ---------------------------------------

def test_a_raise_with_its_effective_date_replaces_the_standard_from_that_date(tmp_path, monkeypatch):
    lib = local_packs(tmp_path, monkeypatch, "test-longde-2023-standard.yaml")
    assert monthly_standard_fen(lib, LONGDE, date(2022, 12, 1), True) == 65000
    assert monthly_standard_fen(lib, LONGDE, date(2023, 1, 1), True) == 70000
    assert monthly_standard_fen(lib, LONGDE, date(2025, 6, 1), True) == 70000  # until replaced
    assert monthly_standard_fen(lib, YINCHUAN, date(2023, 1, 1), True) == 65000  # another county
    # (70000 x 3) - 90000 = 120000
    assert monthly_benefit(lib, LONGDE, date(2023, 3, 1), BenefitHousehold(size=3, monthly_income_fen=90000)
                           ).amount_fen == 120000
    # extreme poverty follows the raised standard: 1.3 x 70000 = 91000 per person (seed 002)
    p = priced_standard(LONGDE, True, "extreme_poverty", "2023-02")
    assert p is not None and p.fen == 91000
    entries = standards.series(lib, "dibao_urban_monthly_fen", LONGDE)
    assert [(e.version, int(e.value)) for e in entries] == [
        ("ningxia-2022-20-measures@2022.1", 65000), ("test-longde-2023-standard@2023.1", 70000)]


def test_the_newest_entry_wins_and_a_newer_yearly_rural_figure_replaces_the_derived_monthly_one(
        tmp_path, monkeypatch):
    lib = local_packs(tmp_path, monkeypatch, "test-longde-2023-standard.yaml", extra=NINGXIA_2024)
    # the region-wide 2024 raise replaces the county's 2023 one
    assert monthly_standard_fen(lib, LONGDE, date(2023, 12, 1), True) == 70000
    assert monthly_standard_fen(lib, LONGDE, date(2024, 1, 1), True) == 72000
    # rural: 600000 / 12 = 50000, though the 2022 pack's monthly 46000 is also a figure
    assert monthly_standard_fen(lib, YINCHUAN, date(2024, 1, 1), False) == 50000
    assert monthly_standard_fen(lib, YINCHUAN, date(2023, 12, 1), False) == 46000


# -- item 1: quarterly rural payment only where the region's pack says so ----------------------------

def test_rural_dibao_is_paid_quarterly_only_where_the_regions_pack_says_so(tmp_path, monkeypatch):
    local_packs(tmp_path, monkeypatch, "test-xiji-rural-quarterly.yaml")
    # seed 003 「农村低保金按季度发放的地区要实行季度首月发放」: Ningxia's notice does not say it pays quarterly
    assert pays_rural_quarterly(YINCHUAN, date(2022, 8, 1)) is False
    assert pays_rural_quarterly(XIJI, date(2022, 8, 1)) is True


# -- item 1 in a household's own case (time-skipping server) -----------------------------------------

async def test_a_rural_case_enrolled_in_a_quarters_second_month_pays_that_month_and_the_next(env, tmp_path,
                                                                                            monkeypatch):
    """西吉县 pays rural dibao quarterly (fixture). Enrolled in 2022-08 (the quarter's 2nd month): August
    and September are paid at once, then each quarter in its first month (seed 003). Before: August and
    September were 'paid with the quarter' and never paid."""
    from tests.unit.test_renewal_workflow import Fakes, Renewal, household, paid
    from workflows.renewal.inputs import Member

    local_packs(tmp_path, monkeypatch, "test-xiji-rural-quarterly.yaml")
    fakes = Fakes(region=XIJI)
    rural = household(members=[Member(person_id="640422198001010011"), Member(person_id="640422198201010022")],
                      monthly_income_fen=30000, urban=False)
    async with Renewal(env, fakes, household=rural, first_period="2022-08", rural_quarterly=True) as handle:
        await paid(env, fakes, 2)
        await handle.terminate("test over")
    level = 2 * 46000 - 30000  # rural 5,520 yuan a year / 12 = 460 yuan (seed 002) x 2 - income = 62000
    assert [(p.idempotency_key.rsplit(":", 1)[1], p.amount_fen) for p in fakes.payments[:2]] == [
        ("2022-08", 2 * level), ("2022-10", 3 * level)]


async def test_a_ningxia_case_is_paid_in_january_2024(env):
    """Item 3 in a household's own case: the 20 measures end 2023-12-31, the 650-yuan standard does not."""
    from tests.unit.test_renewal_workflow import Fakes, Renewal, paid

    fakes = Fakes()
    async with Renewal(env, fakes, first_period="2023-12") as handle:
        await paid(env, fakes, 2)
        await handle.terminate("test over")
    # (65000 x 3) - 90000 = 105000 in December 2023 and in January 2024
    assert [(p.idempotency_key.rsplit(":", 1)[1], p.amount_fen) for p in fakes.payments[:2]] == [
        ("2023-12", 105000), ("2024-01", 105000)]
