"""提标 reprices a household exactly (issue 13 item 2, follow-up): the level after a raised standard is what
shared/policy/benefit.py::monthly_benefit gives for the household's facts under the new standard, not the
old level plus (new - old) x persons. The terms that scale with the standard (XPCC's remote and
special-member add-ons, seed 004; Jiangxi's employment-cost deduction, seed 001) follow it. The cycle
prices plain households from ``level_terms`` in SQL and the rest (a member working away, at another
region's standard) with monthly_benefit itself; both figures here are computed by hand.

Fixtures (tests/fixtures/policy, TEST FIXTURES, not real figures): XPCC first division 600.05 yuan, remote
20 %, special member 10 %; its company 660105 raises the standard to 650.05 yuan from 2022-01-01. Shangrao
800 yuan; its county 361104 raises it to 850 yuan from 2023-01-01; Jiangxi's 30 % of the place of work's
standard per working member (seed 001 「扣减额度按照务工地同期月最低生活保障标准的 30% 计算」)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from services.intake.enrolment import facts_columns
from shared.policy import BenefitHousehold, PolicyLibrary, load_library, monthly_benefit
from shared.policy.benefit import WorkPlace, level_terms, needs_full_computation
from shared.policy.standards import per_person

FIXTURES = Path(__file__).parent.parent / "fixtures" / "policy"
XPCC_RAISED = "660105"
SHANGRAO_RAISED, XINZHOU = "361104", "361102"


@pytest.fixture
def lib(monkeypatch: pytest.MonkeyPatch) -> PolicyLibrary:
    monkeypatch.setenv("DOUDI_POLICY_LOCAL_DIR", str(FIXTURES))
    return load_library()


def test_xpcc_add_ons_follow_the_raised_standard(lib: PolicyLibrary) -> None:
    before = level_terms(lib, XPCC_RAISED, date(2021, 12, 1), urban=True, extreme_poverty=False)
    after = level_terms(lib, XPCC_RAISED, date(2022, 1, 1), urban=True, extreme_poverty=False)
    assert before is not None and after is not None
    # 0.20 x 60005 = 12001.0; 0.10 x 60005 = 6000.5 -> 6001 (half up)
    assert (before.standard_fen, before.remote_pp_fen, before.special_pp_fen) == (60005, 12001, 6001)
    # 0.20 x 65005 = 13001.0; 0.10 x 65005 = 6500.5 -> 6501 (half up)
    assert (after.standard_fen, after.remote_pp_fen, after.special_pp_fen) == (65005, 13001, 6501)
    assert after.employment_pp_fen is None  # no deduction ratio in the XPCC packs
    entry = per_person(lib, XPCC_RAISED, date(2022, 1, 1), urban=True, extreme_poverty=False)
    assert entry is not None and entry.version == "test-xpcc-660105-2022-standard@2022.1"


def test_xpcc_remote_household_with_a_special_member_is_repriced_exactly(lib: PolicyLibrary) -> None:
    facts = BenefitHousehold(size=3, monthly_income_fen=90000, remote=True, special_members=1)
    old = monthly_benefit(lib, XPCC_RAISED, date(2021, 12, 1), facts)
    new = monthly_benefit(lib, XPCC_RAISED, date(2022, 1, 1), facts)
    # old: (60005 x 3 - 90000) + 12001 x 3 remote + 6001 x 1 special = 90015 + 36003 + 6001 = 132019
    assert old.amount_fen == 132019
    # new: (65005 x 3 - 90000) + 13001 x 3 + 6501 x 1 = 105015 + 39003 + 6501 = 150519
    assert new.amount_fen == 150519
    # the linear repricing gave 132019 + 5000 x 3 = 147019: 3500 fen a month short (the add-ons' 20 % x 3
    # members + 10 % x 1 member of the 5000-fen raise)
    assert new.amount_fen - (132019 + 5000 * 3) == 3500
    # the cycle's SQL reads these coefficients (persons, income, special, remote, working at home, python?)
    assert facts_columns(facts)[1:] == (3, 90000, 1, True, 0, False)


def test_jiangxi_working_member_deduction_follows_the_raised_standard(lib: PolicyLibrary) -> None:
    facts = BenefitHousehold(size=3, monthly_income_fen=150000, working_members=1)
    terms = level_terms(lib, SHANGRAO_RAISED, date(2023, 1, 1), urban=True, extreme_poverty=False)
    assert terms is not None and terms.employment_pp_fen == 25500  # 0.30 x 85000
    old = monthly_benefit(lib, SHANGRAO_RAISED, date(2022, 12, 1), facts)
    new = monthly_benefit(lib, SHANGRAO_RAISED, date(2023, 1, 1), facts)
    # old: 80000 x 3 - (150000 - 0.30 x 80000) = 240000 - 126000 = 114000
    assert old.amount_fen == 114000
    # new: 85000 x 3 - (150000 - 0.30 x 85000) = 255000 - 124500 = 130500 (linear: 114000 + 15000 = 129000)
    assert new.amount_fen == 130500
    assert facts_columns(facts)[1:] == (3, 150000, 0, False, 1, False)


def test_a_member_working_away_keeps_the_place_of_works_standard_and_is_priced_by_the_policy(
        lib: PolicyLibrary) -> None:
    # the working member works in 信州区 (361102), whose standard stays 800 yuan in 2023
    facts = BenefitHousehold(size=3, monthly_income_fen=150000, working_members=1,
                             work_places=(WorkPlace(region_code=XINZHOU),))
    new = monthly_benefit(lib, SHANGRAO_RAISED, date(2023, 1, 1), facts)
    # 85000 x 3 - (150000 - 0.30 x 80000) = 255000 - 126000 = 129000
    assert new.amount_fen == 129000
    assert needs_full_computation(facts) and facts_columns(facts)[-2:] == (0, True)


@pytest.mark.parametrize("facts", [
    BenefitHousehold(size=2, monthly_income_fen=200000, single_person=True, marginal=True,
                     applicant_severely_disabled_or_ill=True),
    BenefitHousehold(size=1, extreme_poverty=True, full_care_persons=1),
    BenefitHousehold(size=1, extreme_poverty=True, orphan="dispersed"),
])
def test_single_person_care_and_orphans_are_priced_by_monthly_benefit(facts: BenefitHousehold) -> None:
    assert needs_full_computation(facts)


def test_plain_households_are_priced_from_the_table() -> None:
    assert not needs_full_computation(BenefitHousehold(size=4, monthly_income_fen=1, working_members=2,
                                                       special_members=2, remote=True))
