"""Policy packs: loading, validation, seed citations and the pure evaluation API."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.policy import (
    CATEGORIES,
    Entitlement,
    HouseholdProfile,
    PolicyLibrary,
    PolicyPack,
    PolicyPackError,
    UnknownMeasureError,
    load_library,
)
from shared.policy.library import PACKS_DIR
from shared.policy.models import DECIMAL_UNITS, MONEY_UNITS

NINGXIA = "640104"  # Yinchuan, Xingqing district
JIANGXI = "361102"  # Shangrao, Xinzhou district
XINJIANG = "650102"  # Urumqi, Tianshan district
FUJIAN = "350102"
XPCC = "660101"
AUG_10 = date(2022, 8, 10)
AUG_12 = date(2022, 8, 12)


@pytest.fixture(scope="module")
def lib() -> PolicyLibrary:
    return load_library()


def p(*categories: str, **kw: object) -> HouseholdProfile:
    return HouseholdProfile(categories=frozenset(categories), **kw)  # type: ignore[arg-type]


def library_with(tmp_path: Path, *extra: tuple[str, str]) -> PolicyLibrary:
    """The shipped packs plus extra (file name, YAML text) packs, loaded from tmp_path."""
    folder = tmp_path / "packs"
    shutil.copytree(PACKS_DIR, folder)
    for name, text in extra:
        (folder / name).write_text(text, encoding="utf-8")
    return load_library(folder)


SHANGRAO_FIXTURE = """
pack_id: test-shangrao
version: "2022.1"
region_prefix: "3611"
region_name_en: Shangrao (test fixture)
region_name_zh: 上饶市
title_zh: 测试用上饶市配置
seed: 001_e4998f21954ea220.txt
effective_from: 2022-07-01
validity:
  - seed: 001_e4998f21954ea220.txt
    quote: 2022年7月1日印发
figures:
  dibao_urban_monthly_fen:
    value: 80000
    unit: fen_per_person_month
    seed: 001_e4998f21954ea220.txt
    quote: 上饶市民政局
    note: TEST FIXTURE - not a real Shangrao figure.
"""


# ---- Ningxia amounts ------------------------------------------------------------------------------------


def test_ningxia_quarantine_is_three_times_city_standard_paid_directly(lib: PolicyLibrary) -> None:
    e = lib.entitlement("quarantine", NINGXIA, AUG_10, p("dibao"))
    assert isinstance(e, Entitlement)
    assert (e.payable, e.amount_fen) == (True, 195000)
    assert e.direct_payment and not e.requires_application and not e.economic_check_required
    assert (e.pack_id, e.pack_version, e.region_prefix) == ("ningxia-2022-20-measures", "2022.1", "64")
    assert "隔离" in e.reason and any(c.startswith("002_c6f97725f515410c.txt") for c in e.citations)


def test_ningxia_quarantine_other_household_needs_the_check(lib: PolicyLibrary) -> None:
    e = lib.entitlement("quarantine", NINGXIA, AUG_10, p())
    assert e.payable and e.amount_fen == 195000 and e.economic_check_required


@pytest.mark.parametrize(("urban", "amount"), [(True, 300000), (False, 200000)])
def test_ningxia_covid_diagnosis_urban_rural(lib: PolicyLibrary, urban: bool, amount: int) -> None:
    e = lib.entitlement("covid_diagnosis", NINGXIA, AUG_12, p("dibao", urban=urban))
    assert (e.payable, e.amount_fen, e.amount_is_minimum) == (True, amount, True)
    assert not e.economic_check_required


@pytest.mark.parametrize("category", ["extreme_poverty", "orphan", "street_person", "old_age_allowance"])
def test_ningxia_covid_diagnosis_other_eligible_categories(lib: PolicyLibrary, category: str) -> None:
    assert lib.entitlement("covid_diagnosis", NINGXIA, AUG_12, p(category)).amount_fen == 300000


def test_ningxia_covid_after_expiry_is_not_in_force(lib: PolicyLibrary) -> None:
    e = lib.entitlement("covid_diagnosis", NINGXIA, date(2024, 3, 1), p("dibao"))
    assert (e.payable, e.amount_fen) == (False, 0)
    assert e.reason.startswith("not in force: Ningxia measure covid_diagnosis applies 2022-06-07..2023-12-31")
    assert lib.entitlement("covid_diagnosis", NINGXIA, date(2023, 12, 31), p("dibao")).payable


def test_non_eligible_category_is_not_payable_and_names_the_categories(lib: PolicyLibrary) -> None:
    e = lib.entitlement("covid_diagnosis", NINGXIA, AUG_12, p("marginal"))
    assert (e.payable, e.amount_fen) == (False, 0)
    assert "not eligible" in e.reason
    for cat in ("dibao", "extreme_poverty", "orphan", "street_person", "old_age_allowance"):
        assert cat in e.reason


@pytest.mark.parametrize(
    ("categories", "check"),
    [
        (("low_income_db",), False),
        (("rural_revitalisation_certified",), False),
        ((), True),
        # seed 002: marginal households are in the low-income monitoring database (measure 8), so
        # 「已纳入民政部门低收入人口数据库的……不再进行家庭经济状况核查」 applies to them (issue 13 item 18)
        (("marginal",), False),
    ],
)
def test_job_loss_economic_check_waiver(lib: PolicyLibrary, categories: tuple[str, ...], check: bool) -> None:
    e = lib.entitlement("job_loss", NINGXIA, AUG_12, p(*categories, unemployment_insured=False))
    assert (e.payable, e.amount_fen) == (True, 195000)
    assert e.economic_check_required is check
    assert e.requires_application and not e.direct_payment


def test_job_loss_not_for_the_insured_nor_dibao_nor_unknown_insurance(lib: PolicyLibrary) -> None:
    insured = lib.entitlement("job_loss", NINGXIA, AUG_12, p("low_income_db", unemployment_insured=True))
    assert (insured.payable, insured.amount_fen) == (False, 0) and "insur" in insured.reason
    on_dibao = lib.entitlement("job_loss", NINGXIA, AUG_12, p("dibao", unemployment_insured=False))
    assert not on_dibao.payable and "dibao" in on_dibao.reason
    unknown = lib.entitlement("job_loss", NINGXIA, AUG_12, p())
    assert not unknown.payable and "unknown" in unknown.reason


def test_graduate_ningxia_same_rule_no_insurance_condition(lib: PolicyLibrary) -> None:
    e = lib.entitlement("graduate", NINGXIA, AUG_12, p("low_income_db"))
    assert (e.payable, e.amount_fen, e.economic_check_required) == (True, 195000, False)
    assert lib.entitlement("graduate", NINGXIA, AUG_12, p()).economic_check_required
    assert not lib.entitlement("graduate", NINGXIA, AUG_12, p("dibao")).payable


@pytest.mark.parametrize(("self_pay", "payable"), [(1999900, False), (2000000, True), (5000000, True)])
def test_medical_self_pay_threshold_is_inclusive(lib: PolicyLibrary, self_pay: int, payable: bool) -> None:
    e = lib.entitlement(
        "medical_self_pay", NINGXIA, AUG_12, p("marginal", annual_medical_self_pay_fen=self_pay)
    )
    assert e.payable is payable
    assert e.amount_fen == (195000 if payable else 0)


def test_medical_self_pay_is_per_capita_and_needs_monitoring(lib: PolicyLibrary) -> None:
    three = lib.entitlement(
        "medical_self_pay", NINGXIA, AUG_12, p("dibao", household_size=3, annual_medical_self_pay_fen=2000000)
    )
    assert three.amount_fen == 3 * 195000
    outsider = lib.entitlement("medical_self_pay", NINGXIA, AUG_12, p(annual_medical_self_pay_fen=3000000))
    assert not outsider.payable
    unknown = lib.entitlement("medical_self_pay", NINGXIA, AUG_12, p("dibao"))
    assert not unknown.payable and "unknown" in unknown.reason


@pytest.mark.parametrize(
    ("measure", "amount"),
    [
        ("temporary_assistance_individual", 97500),
        ("temporary_assistance_emergency_household", 130000),
        ("temporary_assistance_expenditure_household", 195000),
    ],
)
def test_ningxia_temporary_assistance_multiples(lib: PolicyLibrary, measure: str, amount: int) -> None:
    e = lib.entitlement(measure, NINGXIA, AUG_12, p())
    assert (e.payable, e.amount_fen, e.amount_is_minimum) == (True, amount, True)


def test_ningxia_one_time_living_subsidy_installments(lib: PolicyLibrary) -> None:
    e = lib.entitlement("one_time_living_subsidy", NINGXIA, date(2022, 6, 15), p("extreme_poverty"))
    assert (e.payable, e.amount_fen) == (True, 60000)
    assert [(i.sequence, i.month, i.amount_fen) for i in e.installments] == [
        (1, "2022-06", 20000),
        (2, "2022-07", 20000),
        (3, "2022-08", 20000),
    ]
    assert sum(i.amount_fen for i in e.installments) == e.amount_fen
    late = lib.entitlement("one_time_living_subsidy", NINGXIA, date(2022, 9, 1), p("dibao"))
    assert not late.payable and late.reason.startswith(
        "not in force: Ningxia measure one_time_living_subsidy"
    )


def test_ningxia_standards_and_derived_rural_month(lib: PolicyLibrary) -> None:
    urban = lib.parameter("dibao_urban_monthly_fen", NINGXIA, AUG_12)
    rural_m = lib.parameter("dibao_rural_monthly_fen", NINGXIA, AUG_12)
    rural_y = lib.parameter("dibao_rural_yearly_fen", NINGXIA, AUG_12)
    assert urban and rural_m and rural_y
    assert urban.value == 65000 and rural_y.value == 552000 and rural_m.value * 12 == rural_y.value  # type: ignore[operator]
    ep = lib.parameter("extreme_poverty_multiple", NINGXIA, AUG_12)
    assert ep is not None and ep.value == Decimal("1.3")
    assert lib.parameter("gradual_exit_min_months", NINGXIA, AUG_12).value == 6  # type: ignore[union-attr]
    assert lib.parameter("gradual_exit_max_months", NINGXIA, AUG_12).value == 18  # type: ignore[union-attr]
    assert lib.parameter("epidemic_suspends_dibao_exit", NINGXIA, AUG_12).value is True  # type: ignore[union-attr]


# ---- other regions ------------------------------------------------------------------------------------


def test_xinjiang_township_limit_is_200000_inclusive(lib: PolicyLibrary) -> None:
    assert lib.township_limit_fen(XINJIANG, AUG_12) == 200000
    assert lib.township_limit_inclusive(XINJIANG, AUG_12) is True
    # "2000元以下": 以下 includes the figure (Civil Code art. 1259): 2,000 yuan = 200000 fen is still the
    # township's; 200001 fen goes to the county.
    assert lib.township_may_approve(XINJIANG, AUG_12, 199999) is True
    assert lib.township_may_approve(XINJIANG, AUG_12, 200000) is True
    assert lib.township_may_approve(XINJIANG, AUG_12, 200001) is False
    assert lib.township_limit_fen(NINGXIA, AUG_12) is None
    assert lib.township_may_approve(NINGXIA, AUG_12, 100) is None
    assert lib.township_limit_fen("650102001", AUG_12) == 200000  # township-level code


def test_xinjiang_one_time_subsidy_and_price_linkage(lib: PolicyLibrary) -> None:
    sub = lib.entitlement("one_time_living_subsidy", XINJIANG, AUG_12, p("dibao"))
    assert (sub.payable, sub.amount_fen, sub.amount_is_minimum) == (True, 30000, True)
    price = lib.entitlement("price_linkage", XINJIANG, AUG_12, p("extreme_poverty"))
    assert (price.payable, price.amount_fen) == (True, 2000)
    assert not lib.entitlement("price_linkage", XINJIANG, AUG_12, p()).payable
    # No amount fixed by the seed: not payable, with the reason.
    job = lib.entitlement("job_loss", XINJIANG, AUG_12, p(unemployment_insured=False))
    assert not job.payable and "no amount" in job.reason


def test_jiangxi_standard_is_set_locally_so_nothing_is_payable_without_it(lib: PolicyLibrary) -> None:
    e = lib.entitlement("graduate", JIANGXI, AUG_12, p())
    assert (e.payable, e.amount_fen) == (False, 0)
    assert "set by the county/prefecture" in e.reason
    fig = lib.parameter("dibao_urban_monthly_fen", JIANGXI, AUG_12)
    assert fig is not None and fig.value is None and fig.set_by
    ratio = lib.parameter("employment_cost_deduction_ratio", JIANGXI, AUG_12)
    assert ratio is not None and ratio.value == Decimal("0.30")
    mult = lib.parameter("graduate_multiple", JIANGXI, AUG_12)
    assert mult is not None and (mult.minimum, mult.value, mult.maximum) == (
        Decimal(2),
        Decimal(2),
        Decimal(4),
    )


def test_jiangxi_default_multiple_once_a_prefecture_sets_the_standard(tmp_path: Path) -> None:
    lib = library_with(tmp_path, ("test-shangrao.yaml", SHANGRAO_FIXTURE))
    e = lib.entitlement("graduate", JIANGXI, AUG_12, p())
    assert (e.payable, e.amount_fen, e.pack_id) == (True, 160000, "jiangxi-2022-ganminzi-40")
    assert "default" in e.reason and e.economic_check_required
    job = lib.entitlement("job_loss", JIANGXI, AUG_12, p(unemployment_insured=False))
    assert job.amount_fen == 160000 and job.requires_application
    # Before the fixture pack's window, and in another prefecture, the standard is still open.
    assert not lib.entitlement("graduate", JIANGXI, date(2022, 6, 30), p()).payable
    assert not lib.entitlement("graduate", "360102", AUG_12, p()).payable


def test_xpcc_review_cadence_marginal_line_and_addons(lib: PolicyLibrary) -> None:
    assert lib.parameter("review_interval_stable_months", XPCC, AUG_12).value == 12  # type: ignore[union-attr]
    assert lib.parameter("review_interval_unstable_months", XPCC, AUG_12).value == 6  # type: ignore[union-attr]
    assert lib.parameter("marginal_line_multiple", XPCC, AUG_12).value == Decimal("1.5")  # type: ignore[union-attr]
    addon = lib.parameter("special_member_addon_ratio", XPCC, AUG_12)
    assert addon is not None and (addon.minimum, addon.maximum) == (Decimal("0.10"), Decimal("0.30"))
    # The XPCC standard is synchronised with the autonomous region's, which the seeds do not give.
    assert not lib.entitlement("dibao", XPCC, AUG_12, p()).payable


def test_xpcc_dibao_pays_the_difference_when_a_division_sets_the_standard(tmp_path: Path) -> None:
    division = (
        SHANGRAO_FIXTURE.replace("test-shangrao", "test-xpcc-division")
        .replace('"3611"', '"6601"')
        .replace("seed: 001_e4998f21954ea220.txt", "seed: 004_583196fe4354a547.txt")
        .replace("2022年7月1日印发", "2021年7月17日")
        .replace("上饶市民政局", "与自治区同步调整救助标准")
    )
    lib = library_with(tmp_path, ("test-xpcc.yaml", division))
    e = lib.entitlement("dibao", XPCC, AUG_12, p(household_size=2, monthly_income_fen=100000))
    assert (e.payable, e.amount_fen) == (True, 2 * 80000 - 100000)
    assert not lib.entitlement("dibao", XPCC, AUG_12, p(monthly_income_fen=80000)).payable


def test_fujian_benchmark_scale_figures(lib: PolicyLibrary) -> None:
    expected = {
        "recipients_dibao_extreme_poverty_persons": 617800,
        "dibao_average_standard_yearly_fen": 991300,
        "extreme_poverty_average_standard_yearly_fen": 2491200,
        "temporary_assistance_person_times": 135700,
        "temporary_assistance_spent_fen": 18600000000,
        "suspected_hardship_records_pushed": 620000,
    }
    for name, value in expected.items():
        fig = lib.parameter(name, FUJIAN, AUG_12)
        assert fig is not None and fig.value == value, name


def test_national_baseline_rules(lib: PolicyLibrary) -> None:
    for region in (NINGXIA, "110101"):
        assert lib.parameter("rural_dibao_quarterly_payment_month_of_quarter", region, AUG_12).value == 1  # type: ignore[union-attr]
        assert lib.parameter("two_level_approval", region, AUG_12).value is True  # type: ignore[union-attr]
    e = lib.entitlement("disaster_assistance", "110101", AUG_12, p())
    assert not e.payable and e.direct_payment and e.pack_id == "national-2019-mca-95"


# ---- lookups, purity, input validation ----------------------------------------------------------------


def test_pack_for_picks_most_specific_prefix_and_respects_dates(lib: PolicyLibrary, tmp_path: Path) -> None:
    assert lib.pack_for(NINGXIA, AUG_12).pack_id == "ningxia-2022-20-measures"  # type: ignore[union-attr]
    assert lib.pack_for("640104001", AUG_12).pack_id == "ningxia-2022-20-measures"  # type: ignore[union-attr]
    assert lib.pack_for(NINGXIA, date(2022, 6, 6)).pack_id == "national-2019-mca-95"  # type: ignore[union-attr]
    assert lib.pack_for(NINGXIA, date(2024, 1, 1)).pack_id == "national-2019-mca-95"  # type: ignore[union-attr]
    assert lib.pack_for("110101", AUG_12).pack_id == "national-2019-mca-95"  # type: ignore[union-attr]
    assert lib.pack_for(NINGXIA, date(2019, 1, 1)) is None
    assert lib.pack_for(XPCC, AUG_12).pack_id == "xpcc-2021-social-assistance-reform"  # type: ignore[union-attr]
    with_city = library_with(tmp_path, ("test-shangrao.yaml", SHANGRAO_FIXTURE))
    assert with_city.pack_for(JIANGXI, AUG_12).pack_id == "test-shangrao"  # type: ignore[union-attr]
    assert with_city.pack_for(JIANGXI, date(2022, 6, 30)).pack_id == "jiangxi-2022-ganminzi-40"  # type: ignore[union-attr]
    assert with_city.pack_for("360102", AUG_12).pack_id == "jiangxi-2022-ganminzi-40"  # type: ignore[union-attr]


def test_region_without_the_measure_or_without_a_pack(lib: PolicyLibrary) -> None:
    e = lib.entitlement("quarantine", FUJIAN, AUG_12, p("dibao"))
    assert not e.payable and "quarantine" in e.reason
    e = lib.entitlement("quarantine", NINGXIA, date(2019, 1, 1), p("dibao"))
    assert not e.payable and e.reason.startswith("not in force: Ningxia measure quarantine")


def test_load_library_is_cached_and_evaluation_is_deterministic(lib: PolicyLibrary) -> None:
    assert load_library() is lib
    profile = p("dibao", urban=False)
    first = lib.entitlement("covid_diagnosis", NINGXIA, AUG_12, profile)
    assert first == lib.entitlement("covid_diagnosis", NINGXIA, AUG_12, profile)
    assert Entitlement.model_validate_json(first.model_dump_json()) == first


def test_bad_inputs_raise(lib: PolicyLibrary) -> None:
    with pytest.raises(UnknownMeasureError):
        lib.entitlement("quarantaine", NINGXIA, AUG_12, p())
    with pytest.raises(ValueError, match="region_code"):
        lib.pack_for("64010", AUG_12)
    # Unknown categories are accepted (profiles are built in workflow code) but match nothing and are named.
    typo = lib.entitlement("covid_diagnosis", NINGXIA, AUG_12, p("dibaoo"))
    assert not typo.payable and "unknown categories ignored: dibaoo" in typo.reason
    with pytest.raises(ValidationError):
        HouseholdProfile(household_size=0)


def test_exact_types_everywhere(lib: PolicyLibrary) -> None:
    assert {"dibao", "low_income_db"} <= CATEGORIES
    for pack in lib.packs:
        assert isinstance(pack, PolicyPack)
        for name, fig in pack.figures.items():
            for v in (fig.value, fig.minimum, fig.maximum):
                assert not isinstance(v, float), (pack.pack_id, name)
                if v is not None and fig.unit in MONEY_UNITS:
                    assert type(v) is int, (pack.pack_id, name)
                if v is not None and fig.unit in DECIMAL_UNITS:
                    assert isinstance(v, Decimal), (pack.pack_id, name)


# ---- seed citations -----------------------------------------------------------------------------------


# The seed-quote check (every quote verbatim, in CI too, from ../shared/seeds or the vendored copy
# docs/seeds) is tests/unit/test_seed_quotes.py.


# ---- broken packs -------------------------------------------------------------------------------------

NINGXIA_FILE = "ningxia-2022-20-measures.yaml"


def _broken(tmp_path: Path, old: str, new: str, file: str = NINGXIA_FILE) -> Path:
    folder = tmp_path / "packs"
    shutil.copytree(PACKS_DIR, folder)
    text = (folder / file).read_text(encoding="utf-8")
    assert old in text, old
    (folder / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ('value: "1.5"', "value: 1.5", "figures.temporary_assistance_individual_multiple", "float"),
        ("value: 65000", "value: 650.00", "figures.dibao_urban_monthly_fen", "float"),
        (
            "seed: 002_c6f97725f515410c.txt\n    quote: 增发",
            "seed: 999_nope.txt\n    quote: 增发",
            "seed",
            "five seed files",
        ),
        ("effective_to: 2023-12-31", "effective_to: 2021-12-31", "(pack)", "after effective_to"),
        ('value: "1.3"', 'value: "13"', "figures.extreme_poverty_multiple", "declared range"),
        (
            "multiple: quarantine_multiple",
            "multiple: quarantine_multiplier",
            "measures.quarantine.amount.multiple",
            "not declared",
        ),
        (
            "eligible_categories: [dibao, extreme_poverty]\n    economic_check: not_required",
            "eligible_categories: [dibao, paupers]\n    economic_check: not_required",
            "measures",
            "unknown categories",
        ),
        ("  graduate:\n", "  graduates:\n", "measures", "unknown measure ids"),
        (
            "    effective_to: 2022-08-31",
            "    effective_to: 2024-08-31",
            "measures",
            "outside the pack window",
        ),
        (
            "pathway: staged_aid",
            "pathway: staged",
            "measures.one_time_living_subsidy.pathway",
            "unknown pathway",
        ),
    ],
)
def test_broken_pack_fails_naming_file_and_field(
    tmp_path: Path, old: str, new: str, field: str, message: str
) -> None:
    folder = _broken(tmp_path, old, new)
    with pytest.raises(PolicyPackError) as info:
        load_library(folder)
    text = str(info.value)
    assert NINGXIA_FILE in text and field in text and message in text, text


def test_duplicate_yaml_key_fails(tmp_path: Path) -> None:
    folder = _broken(tmp_path, "  orphan_dispersed_monthly_fen:", "  orphan_institutional_monthly_fen:")
    with pytest.raises(PolicyPackError, match=f"{NINGXIA_FILE}.*duplicate key"):
        load_library(folder)


def test_duplicate_prefix_version_fails(tmp_path: Path) -> None:
    folder = tmp_path / "packs"
    shutil.copytree(PACKS_DIR, folder)
    text = (folder / NINGXIA_FILE).read_text(encoding="utf-8")
    (folder / "ningxia-copy.yaml").write_text(
        text.replace("ningxia-2022-20-measures", "ningxia-copy"), encoding="utf-8"
    )
    with pytest.raises(PolicyPackError, match="duplicate pack") as info:
        load_library(folder)
    assert "ningxia-copy.yaml" in str(info.value)


def test_prefecture_override_must_stay_inside_the_provincial_range(tmp_path: Path) -> None:
    bad = (
        SHANGRAO_FIXTURE
        + """  graduate_multiple:
    value: "5"
    unit: multiple
    seed: 001_e4998f21954ea220.txt
    quote: 2-4 倍
"""
    )
    with pytest.raises(
        PolicyPackError, match=r"test-shangrao.yaml: figures.graduate_multiple.value: 5 outside"
    ):
        library_with(tmp_path, ("test-shangrao.yaml", bad))
