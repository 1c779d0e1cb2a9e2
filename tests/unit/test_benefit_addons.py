"""Issue 13 items 12, 14a and 15: single-person inclusion, the place of work's standard for the
employment-cost deduction, the remote add-on from the registry, the care allowance of extreme-poverty
persons, the orphan allowance, and the categories 事实无人抚养儿童 / 脱贫人口. Every expected amount is
computed by hand from the seeds (and the test fixtures where a seed leaves a figure to a lower tier)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.intake.enrolment import household_from_registry
from shared.contracts.api import HouseholdIn
from shared.policy import CATEGORIES, BenefitHousehold, HouseholdProfile, load_library, monthly_benefit
from shared.policy.benefit import WorkPlace
from tests.unit.test_benefit import NINGXIA, SEP_2022, XINZHOU, XPCC, local_packs

HEAD, SPOUSE, CHILD = "640104198001010013", "640104198201010026", "640104201001010034"


def registry_members(*flags: list[str], work: str | None = None) -> list[dict]:
    births = [date(1980, 1, 1), date(1982, 1, 1), date(1985, 6, 1)]
    return [dict(person_id=pid, relation="head" if i == 0 else "spouse", birth_date=births[i], flags=f,
                 work_region_code=work if i == 0 else None)
            for i, (pid, f) in enumerate(zip((HEAD, SPOUSE, CHILD), flags, strict=False))]


# ---- item 12: 单人保 ------------------------------------------------------------------------------------

# seed 002 「对低保边缘家庭中的重残人员、重病患者等特殊困难人员，经本人申请，参照“单人户”纳入低保」
# Ningxia urban standard 「每人每月650元」: 3 persons at 4,000 yuan is above 3 x 650 = 1,950 yuan.
SINGLE = dict(size=3, monthly_income_fen=400000, single_person=True)


def test_single_person_inclusion_needs_a_marginal_household_and_a_severely_disabled_or_ill_applicant():
    lib = load_library()
    ok = monthly_benefit(lib, NINGXIA, SEP_2022, BenefitHousehold(
        **SINGLE, marginal=True, applicant_severely_disabled_or_ill=True))
    assert ok.payable and ok.amount_fen == 65000  # a one-person household: 650 yuan - own income 0
    not_marginal = monthly_benefit(lib, NINGXIA, SEP_2022, BenefitHousehold(
        **SINGLE, applicant_severely_disabled_or_ill=True))
    assert not not_marginal.payable and not_marginal.amount_fen == 0 and "低保边缘" in not_marginal.reason
    not_disabled = monthly_benefit(lib, NINGXIA, SEP_2022, BenefitHousehold(**SINGLE, marginal=True))
    assert not not_disabled.payable and not_disabled.amount_fen == 0 and "重残" in not_disabled.reason


def test_single_person_facts_come_from_the_registry_the_applicant_first():
    members = registry_members([], ["severely_disabled"], [])
    on = date(2022, 9, 1)
    marginal = household_from_registry(members, monthly_income_fen=400000, urban=True, extreme_poverty=False, on=on,
                                       categories=["marginal"], applicant=SPOUSE)
    marginal = marginal.model_copy(update={"single_person": True})
    assert marginal.members[0].person_id == SPOUSE
    assert monthly_benefit(load_library(), NINGXIA, SEP_2022, marginal.benefit_facts()).amount_fen == 65000
    plain = household_from_registry(members, monthly_income_fen=400000, urban=True, extreme_poverty=False, on=on,
                                    categories=[], applicant=SPOUSE).model_copy(update={"single_person": True})
    assert not monthly_benefit(load_library(), NINGXIA, SEP_2022, plain.benefit_facts()).payable
    head = household_from_registry(members, monthly_income_fen=400000, urban=True, extreme_poverty=False, on=on,
                                   categories=["low_income_db"], applicant=HEAD,
                                   ).model_copy(update={"single_person": True})
    assert not monthly_benefit(load_library(), NINGXIA, SEP_2022, head.benefit_facts()).payable  # the head is not


def test_xpcc_single_person_keeps_its_income_line_and_needs_the_applicants_condition(tmp_path, monkeypatch):
    lib = local_packs(tmp_path, monkeypatch)  # XPCC first division: standard 60005 (fixture), line 1.5x (seed 004)
    hh = BenefitHousehold(size=3, monthly_income_fen=200000, single_person=True)
    assert not monthly_benefit(lib, XPCC, SEP_2022, hh).payable
    b = monthly_benefit(lib, XPCC, SEP_2022, hh.model_copy(update={"applicant_severely_disabled_or_ill": True}))
    # 200000 is above 3 x 60005 = 180015 and under 1.5 x 180015 = 270022.5 -> 270023: 60005 alone,
    # + the fixture's 10% special-member add-on (6000.5 -> 6001, half up)
    assert b.payable and b.amount_fen == 60005 + 6001


# ---- item 14a: 务工地 ---------------------------------------------------------------------------------

def test_employment_cost_deduction_uses_the_place_of_works_standard(tmp_path, monkeypatch):
    lib = local_packs(tmp_path, monkeypatch)  # Xinzhou (Shangrao fixture): 800 yuan
    # seed 001 「扣减额度按照务工地同期月最低生活保障标准的 30% 计算」: the head works in Yinchuan, whose urban
    # standard is 650 yuan (seed 002): 0.30 x 65000 = 19500 deducted; counted 150000 - 19500 = 130500;
    # dibao 3 x 80000 - 130500 = 109500 (the household's own standard would deduct 24000: 114000)
    away = BenefitHousehold(size=3, monthly_income_fen=150000, working_members=1,
                            work_places=(WorkPlace(region_code=NINGXIA),))
    b = monthly_benefit(lib, XINZHOU, SEP_2022, away)
    assert b.counted_income_fen == 130500 and b.amount_fen == 109500
    # two working: one at home (0.30 x 80000 = 24000), one in Yinchuan (19500): 150000 - 43500 = 106500;
    # 240000 - 106500 = 133500
    both = away.model_copy(update={"working_members": 2})
    assert monthly_benefit(lib, XINZHOU, SEP_2022, both).amount_fen == 133500
    # a place of work whose standard no pack sets: no amount is guessed
    unknown = away.model_copy(update={"work_places": (WorkPlace(region_code="440106"),)})
    u = monthly_benefit(lib, XINZHOU, SEP_2022, unknown)
    assert not u.decidable and u.amount_fen == 0 and "440106" in u.reason


def test_the_place_of_work_comes_from_the_registry():
    members = registry_members(["employed"], [], work=NINGXIA)
    h = household_from_registry(members, monthly_income_fen=150000, urban=True, extreme_poverty=False,
                                on=date(2022, 9, 1))
    facts = h.benefit_facts()
    assert facts.working_members == 1 and facts.work_places == (WorkPlace(region_code=NINGXIA),)
    with pytest.raises(ValidationError):
        BenefitHousehold(size=2, working_members=0, work_places=(WorkPlace(region_code=NINGXIA),))


# ---- item 15: the remote add-on, care, orphans, categories ---------------------------------------------

def test_a_registered_remote_household_gets_the_xpcc_remote_add_on(tmp_path, monkeypatch):
    lib = local_packs(tmp_path, monkeypatch)
    reg = HouseholdIn.model_validate(dict(
        household_id="hh-remote", region_code=XPCC, urban=True, monthly_income_fen=0, remote=True,
        members=[dict(person_id=HEAD, name="甲", relation="head", birth_date="1980-01-01"),
                 dict(person_id=SPOUSE, name="乙", relation="spouse", birth_date="1982-01-01")]))
    h = household_from_registry([m.model_dump() for m in reg.members], monthly_income_fen=0, urban=True,
                                extreme_poverty=False, on=date(2022, 9, 1), remote=reg.remote)
    b = monthly_benefit(lib, XPCC, SEP_2022, h.benefit_facts())
    # seed 004 「对距离团部 30 公里以上的连队或边境团场的低保对象……按照不高于低保标准 20% 的比例增发救助金」
    # (fixture 20%):
    # differential 2 x 60005 = 120010; remote 0.20 x 60005 = 12001 x 2 = 24002; total 144012
    assert [(ln.label, ln.amount_fen) for ln in b.lines] == [("dibao_differential", 120010), ("remote_addon", 24002)]
    assert b.amount_fen == 144012


def test_full_care_allowance_of_an_extreme_poverty_person_at_least_70_percent_of_the_minimum_wage(
        tmp_path, monkeypatch):
    lib = local_packs(tmp_path, monkeypatch)
    b = monthly_benefit(lib, XPCC, SEP_2022, BenefitHousehold(size=1, extreme_poverty=True, full_care_persons=1))
    # support: 1.3 x 60005 = 78006.5 -> 78007 (half up, fixture multiple); care: seed 004
    # 「确保全护理特困对象照料护理标准不低于当地最低工资标准的 70%」, 0.70 x 190001 (fixture minimum wage) = 133000.7
    # -> 133001 (a floor: rounded up); total 78007 + 133001 = 211008
    assert [(ln.label, ln.amount_fen) for ln in b.lines] == [("extreme_poverty_support", 78007),
                                                            ("full_care_allowance", 133001)]
    assert b.payable and b.amount_fen == 211008
    # Ningxia sets no care standard (seed 003 leaves it to the provinces): not decidable, nothing guessed
    n = monthly_benefit(load_library(), NINGXIA, SEP_2022, BenefitHousehold(size=1, extreme_poverty=True,
                                                                           full_care_persons=1))
    assert not n.decidable and n.amount_fen == 0 and "照料护理" in n.reason
    # the care fact comes from the registry's full_care flag
    h = household_from_registry(registry_members(["full_care"]), monthly_income_fen=0, urban=True,
                                extreme_poverty=True, on=date(2022, 9, 1))
    assert h.benefit_facts().full_care_persons == 1


def test_ningxia_orphan_allowance_1500_in_an_institution_1000_dispersed():
    lib = load_library()
    # seed 002 「机构内养育孤儿和社会散居孤儿津贴标准，分别提高到每人每月1500元、1000元」
    inst = monthly_benefit(lib, NINGXIA, SEP_2022, BenefitHousehold(size=1, extreme_poverty=True,
                                                                    orphan="institutional"))
    assert inst.payable and inst.amount_fen == 150000 and inst.lines[0].label == "orphan_allowance"
    two = monthly_benefit(lib, NINGXIA, SEP_2022, BenefitHousehold(size=2, extreme_poverty=True, orphan="dispersed"))
    assert two.amount_fen == 2 * 100000  # two dispersed orphan siblings: 1,000 yuan each
    # from the registry: an orphan household carried as extreme-poverty kind, raised in an institution
    h = household_from_registry(registry_members(["raised_in_institution"]), monthly_income_fen=0, urban=True,
                                extreme_poverty=True, on=date(2022, 9, 1), categories=["orphan", "extreme_poverty"])
    assert h.orphan == "institutional"
    assert monthly_benefit(lib, NINGXIA, SEP_2022, h.benefit_facts()).amount_fen == 150000


def test_categories_for_de_facto_unsupported_children_and_people_lifted_out_of_poverty():
    assert {"de_facto_unsupported_child", "poverty_alleviated"} <= CATEGORIES
    HouseholdIn.model_validate(dict(household_id="hh-c", region_code="361102", urban=True, monthly_income_fen=0,
                                    categories=["de_facto_unsupported_child", "poverty_alleviated"],
                                    members=[dict(person_id=CHILD, name="甲", relation="head",
                                                  birth_date="2010-01-01")]))
    lib = load_library()
    on = date(2022, 7, 1)
    # seed 001 「为低保对象、特困人员、孤儿及事实无人抚养儿童按照 6 月份发放标准增发一次性生活补贴」
    child = HouseholdProfile(categories=frozenset({"de_facto_unsupported_child"}))
    m = lib.measure("one_time_living_subsidy", "361102", on)
    assert m is not None and "de_facto_unsupported_child" in m.eligible_categories
    # seed 001 「对低保对象、特困人员以及脱贫人口中的新冠肺炎患者」
    covid = lib.measure("covid_diagnosis", "361102", on)
    assert covid is not None and "poverty_alleviated" in covid.eligible_categories
    assert "事实无人抚养儿童" not in lib.entitlement("one_time_living_subsidy", "361102", on, child).reason
