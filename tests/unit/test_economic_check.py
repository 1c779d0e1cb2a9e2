"""The economic status check's rule (services/verification/rules.py), the department adapters and the
policy figures the check resolves. No I/O: adapters run on an in-memory backend."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.verification import rules
from services.verification.checks import (
    members_of,
    resolve_asset_limits,
    resolve_employment_cost,
    resolve_standard,
)
from services.verification.sources import (
    BANKS,
    DEPARTMENT_BY_NAME,
    DISABILITY,
    HRSS,
    LOW_INCOME_DB,
    MEDICAL_INSURANCE,
    REAL_ESTATE,
    RURAL_REVITALISATION,
    VEHICLES,
    AssetItem,
    DepartmentSource,
    FlagItem,
    IncomeItem,
    SourceDataError,
    StaticBackend,
    department_sources,
)
from services.verification.sources import payloads as p
from shared.contracts.activities import EconomicCheckRequest
from shared.policy import load_library
from tests.support import national_id

ON = date(2022, 8, 1)
URBAN_NINGXIA = rules.Standard(figure="dibao_urban_monthly_fen", monthly_fen=65000, area="urban",
                               region_code="640104", on=ON.isoformat(), region_name="Ningxia")
NOT_CONFIGURED = rules.Standard(figure="dibao_urban_monthly_fen", monthly_fen=None, area="urban",
                                region_code="660101", on=ON.isoformat())
A, B, C = national_id(), national_id(), national_id()


def wage(person_id: str, fen: int) -> IncomeItem:
    return IncomeItem(source="hrss", department_zh="人力资源和社会保障部门", person_id=person_id,
                      detail="wage from 银川某公司", kind="wage", monthly_fen=fen)


def asset(kind: str, person_id: str = A, *, value: int | None = None, subtype: str = "") -> AssetItem:
    dept = {"property": ("real_estate", "不动产登记部门"), "vehicle": ("vehicles", "公安交通管理部门（机动车登记）"),
            "financial": ("banks", "银行业金融机构")}[kind]
    return AssetItem(source=dept[0], department_zh=dept[1], person_id=person_id, detail=f"{kind} x",
                     kind=kind, value_fen=value, subtype=subtype)  # type: ignore[arg-type]


def assess(findings: rules.Findings = rules.Findings(), *, declared: int = 0, size: int = 3, members: int = 3,
           standard: rules.Standard = URBAN_NINGXIA, **kw) -> rules.Assessment:
    return rules.assess(declared_monthly_income_fen=declared, household_size=size, members_queried=members,
                        findings=findings, standard=standard, **kw)


# ---- income against the standard -------------------------------------------------------------------------

def test_per_capita_income_under_the_standard_is_eligible():
    # household of 3, wages 900 yuan: 300 yuan per person < 650 yuan (seed 002)
    a = assess(rules.Findings(income=(wage(A, 90000),)))
    assert a.outcome == "eligible"
    assert (a.verified_income_fen, a.counted_income_fen, a.per_capita_income_fen) == (90000, 90000, 30000)
    assert a.limit_fen_per_capita == 65000 and a.income_qualifies is True
    assert a.reasons[0].startswith("eligible: per-capita income 300.00 yuan/month is under the Ningxia urban")


def test_per_capita_income_above_the_standard_is_ineligible_and_names_the_source():
    a = assess(rules.Findings(income=(wage(A, 140000), wage(B, 70000))))
    assert a.outcome == "ineligible"
    assert a.per_capita_income_fen == 70000
    assert a.reasons[0].startswith("ineligible: per-capita income 700.00 yuan/month (2,100.00 yuan / 3 persons) "
                                   "is not under the Ningxia urban dibao standard (dibao_urban_monthly_fen) 650.00")
    income_reason = a.reasons[1]
    assert "人力资源和社会保障部门 (hrss)" in income_reason and "1,400.00 yuan" in income_reason
    assert A not in " ".join(a.reasons), "national IDs are masked in reasons"


@pytest.mark.parametrize(("income", "eligible"), [
    (195000, False),   # exactly 650.00 per person: equal is NOT under the standard
    (194999, True),    # 649.9966... per person: under
    (195001, False),
    (195002, False),   # 650.0066 per person; floors to 650.00 - still not under
])
def test_the_boundary_equal_to_the_standard_is_not_under_it(income: int, eligible: bool):
    a = assess(declared=income)
    assert (a.outcome == "eligible") is eligible
    assert rules.income_under_standard(income, 3, 65000) is eligible


def test_income_under_standard_is_exact_in_fen():
    assert rules.income_under_standard(0, 1, 1) is True
    assert rules.income_under_standard(64999, 1, 65000) is True
    assert rules.income_under_standard(65000, 1, 65000) is False
    with pytest.raises(ValueError):
        rules.income_under_standard(0, 0, 65000)


def test_per_capita_income_is_rounded_down_to_the_fen():
    a = assess(declared=100, size=3)
    assert a.per_capita_income_fen == 33


def test_the_larger_of_declared_and_verified_income_counts():
    found = rules.Findings(income=(wage(A, 90000),))
    declared_larger = assess(found, declared=120000)
    assert declared_larger.counted_income_fen == 120000 and declared_larger.per_capita_income_fen == 40000
    assert "counted: the declared income" in declared_larger.reasons[1]
    verified_larger = assess(found, declared=30000)
    assert verified_larger.counted_income_fen == 90000
    assert "counted: the verified income" in verified_larger.reasons[1]
    # not added: a declared wage the department also reports is counted once
    assert assess(found, declared=90000).counted_income_fen == 90000


def test_every_income_kind_counts():
    items = (wage(A, 50000),
             IncomeItem(source="hrss", department_zh="人力资源和社会保障部门", person_id=B, kind="pension",
                        monthly_fen=80000),
             IncomeItem(source="hrss", department_zh="人力资源和社会保障部门", person_id=C,
                        kind="unemployment_insurance", monthly_fen=70000))
    a = assess(rules.Findings(income=items))
    assert a.verified_income_fen == 200000 and a.outcome == "ineligible"


def test_household_size_is_at_least_the_members_checked():
    a = assess(declared=120000, size=1, members=3)
    assert a.household_size == 3 and a.per_capita_income_fen == 40000
    assert any("household size taken as 3" in r for r in a.reasons)
    fewer = assess(declared=0, size=3, members=1)
    assert fewer.household_size == 3 and any("only 1 of 3" in r for r in fewer.reasons)


def test_negative_declared_income_is_refused():
    with pytest.raises(ValueError):
        assess(declared=-1)


def test_employment_cost_deduction_applies_the_pack_ratio_per_working_member():
    # Jiangxi (seed 001): 30% of the monthly standard per working member, at most that member's wage
    found = rules.Findings(income=(wage(A, 150000), wage(B, 10000)))
    a = assess(found, employment_cost_ratio=Decimal("0.30"))
    assert a.deductions_fen == 19500 + 10000
    assert a.counted_income_fen == 160000 - 29500
    assert any("employment-cost deduction" in r for r in a.reasons)
    assert assess(found).deductions_fen == 0   # no ratio in the pack: no deduction


def test_without_a_configured_standard_the_outcome_rests_on_assets():
    a = assess(declared=500000, standard=NOT_CONFIGURED)
    assert a.outcome == "eligible" and a.limit_fen_per_capita is None and a.income_qualifies is None
    assert "not configured" in a.reasons[0]
    assert any("is not configured for region 660101 on 2022-08-01" in r for r in a.reasons)
    two_homes = assess(rules.Findings(assets=(asset("property"), asset("property", B))), standard=NOT_CONFIGURED)
    assert two_homes.outcome == "ineligible"


# ---- assets ----------------------------------------------------------------------------------------------

def test_more_than_one_property_disqualifies():
    one = assess(rules.Findings(assets=(asset("property", subtype="residential"),)))
    assert one.outcome == "eligible"
    two = assess(rules.Findings(assets=(asset("property", subtype="residential"), asset("property", B))))
    assert two.outcome == "ineligible"
    assert "2 properties held (不动产登记部门 (real_estate))" in two.reasons[0]
    assert "asset_max_properties: local practice, pending pack figure" in two.reasons[0]


def test_a_pack_figure_overrides_the_local_practice_limit():
    limits = rules.AssetLimits(max_properties=2, basis={"asset_max_properties": "pack figure, x"})
    a = assess(rules.Findings(assets=(asset("property"), asset("property", B))), asset_limits=limits)
    assert a.outcome == "eligible"


@pytest.mark.parametrize(("kind", "value", "eligible"), [
    ("car", rules.LOCAL_PRACTICE_VEHICLE_VALUE_LIMIT_FEN + 1, False),
    ("car", rules.LOCAL_PRACTICE_VEHICLE_VALUE_LIMIT_FEN, True),        # at the limit: not above it
    ("truck", 9_000_000, False),
    ("motorcycle", 9_000_000, True),                                     # exempt kind
    ("disability_mobility", 9_000_000, True),
    ("car", None, True),                                                 # unknown value: caseworker assesses
])
def test_a_vehicle_above_the_value_limit_disqualifies(kind: str, value: int | None, eligible: bool):
    a = assess(rules.Findings(assets=(asset("vehicle", value=value, subtype=kind),)))
    assert (a.outcome == "eligible") is eligible
    if value is None:
        assert any("no assessed value" in r for r in a.reasons)


def test_financial_assets_above_months_of_the_standard_disqualify():
    cap = rules.LOCAL_PRACTICE_FINANCIAL_MONTHS * 65000 * 3
    at_cap = assess(rules.Findings(assets=(asset("financial", value=cap - 100), asset("financial", B, value=100))))
    assert at_cap.outcome == "eligible"
    above = assess(rules.Findings(assets=(asset("financial", value=cap + 1),)))
    assert above.outcome == "ineligible" and "financial assets" in above.reasons[0]
    unassessable = assess(rules.Findings(assets=(asset("financial", value=cap * 10),)), standard=NOT_CONFIGURED)
    assert unassessable.outcome == "eligible"
    assert any("not assessed" in r for r in unassessable.reasons)


def test_income_and_assets_both_reported_when_both_disqualify():
    a = assess(rules.Findings(income=(wage(A, 300000),), assets=(asset("property"), asset("property"))))
    assert a.outcome == "ineligible" and len(a.disqualifiers) == 2


def test_flags_and_expenditure_are_reported_never_disqualifying():
    flags = (FlagItem(source="low_income_db", department_zh="民政部门低收入人口库", person_id=A,
                      detail="in the low-income database", flag="low_income_db"),)
    a = assess(rules.Findings(flags=flags), declared=30000)
    assert a.outcome == "eligible"
    assert any("民政部门低收入人口库 (low_income_db)" in r for r in a.reasons)


# ---- adapters --------------------------------------------------------------------------------------------

async def test_hrss_counts_what_is_in_force_on_the_business_date():
    backend = StaticBackend({"hrss": {A: {
        "employments": [
            {"employer": "现职", "monthly_wage_fen": 90000, "start_on": "2021-01-01"},
            {"employer": "旧职", "monthly_wage_fen": 500000, "start_on": "2015-01-01", "end_on": "2020-12-31"},
            {"employer": "未来", "monthly_wage_fen": 700000, "start_on": "2023-01-01"},
        ],
        "unemployment_insured": True,
        "unemployment_benefits": [{"monthly_benefit_fen": 120000, "start_on": "2022-07-01", "end_on": "2022-08-01"}],
        "pensions": [{"monthly_pension_fen": 200000, "start_on": "2022-09-01"}],
    }}})
    report = await HRSS(backend).query([A, B], ON)
    assert report.source == "hrss" and report.department_zh == "人力资源和社会保障部门"
    assert report.queried == [A, B] and set(report.records) == {A}
    assert [(i.kind, i.monthly_fen) for i in report.income] == [("wage", 90000), ("unemployment_insurance", 120000)]
    assert [f.flag for f in report.flags] == ["unemployment_insured"]
    assert report.backend == "static"
    evidence = report.evidence()
    assert evidence["records"][A]["employments"][0]["employer"] == "现职"


async def test_assets_held_on_the_business_date():
    backend = StaticBackend({
        "real_estate": {A: {"properties": [
            {"certificate_no": "宁(2020)1", "usage": "residential", "area_m2": 85.5, "registered_on": "2020-01-01"},
            {"certificate_no": "宁(2018)2", "usage": "residential", "registered_on": "2018-01-01",
             "disposed_on": "2022-08-01"},   # sold on the business date: not held any more
        ]}},
        "vehicles": {A: {"vehicles": [{"plate": "宁A12345", "kind": "car", "assessed_value_fen": 8_000_000,
                                       "registered_on": "2021-05-01"}]}},
        "banks": {B: {"accounts": [{"institution": "银行", "balance_fen": 1_000_000, "as_of": "2022-07-31"}]}},
    })
    estate = await REAL_ESTATE(backend).query([A], ON)
    assert [(a.kind, a.subtype) for a in estate.assets] == [("property", "residential")]
    cars = await VEHICLES(backend).query([A], ON)
    assert [(a.subtype, a.value_fen) for a in cars.assets] == [("car", 8_000_000)]
    money = await BANKS(backend).query([A, B], ON)
    assert [(a.person_id, a.value_fen) for a in money.assets] == [(B, 1_000_000)]


async def test_flags_from_disability_low_income_and_rural_revitalisation():
    backend = StaticBackend({
        "disability_federation": {A: {"certificate_no": "64010419800101001X11", "category": "physical", "grade": 2,
                                      "issued_on": "2019-01-01"}},
        "low_income_db": {A: {"categories": ["marginal"], "start_on": "2021-03-01"}},
        "rural_revitalisation": {B: {"certification": "edge_prone", "start_on": "2023-01-01"}},  # not yet
        "medical_insurance": {A: {"self_pay": [{"year": 2021, "self_pay_fen": 2_100_000},
                                               {"year": 2023, "self_pay_fen": 1}]}},
    })
    disability = await DISABILITY(backend).query([A], ON)
    assert [f.flag for f in disability.flags] == ["disabled", "severely_disabled"]
    low = await LOW_INCOME_DB(backend).query([A], ON)
    assert [f.flag for f in low.flags] == ["low_income_db"]
    rural = await RURAL_REVITALISATION(backend).query([B], ON)
    assert rural.flags == [] and set(rural.records) == {B}
    medical = await MEDICAL_INSURANCE(backend).query([A], ON)
    assert [(e.year, e.annual_fen) for e in medical.expenditure] == [(2021, 2_100_000)]


async def test_an_unreadable_record_fails_the_query_naming_the_field():
    backend = StaticBackend({"hrss": {A: {"employments": [{"employer": "x", "monthly_wage_fen": "lots",
                                                            "start_on": "2021-01-01"}]}}})
    with pytest.raises(SourceDataError, match=r"hrss .* employments\.0\.monthly_wage_fen"):
        await HRSS(backend).query([A], ON)


def test_every_department_the_seeds_name_has_an_adapter_behind_one_interface():
    assert set(DEPARTMENT_BY_NAME) == {"hrss", "medical_insurance", "disability_federation", "real_estate",
                                    "vehicles", "banks", "low_income_db", "rural_revitalisation"}
    backend = StaticBackend()
    sources = department_sources(backend)
    assert all(isinstance(s, DepartmentSource) for s in sources)
    assert all(s.backend is backend for s in sources)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("model", "payload", "field"), [
    (p.HrssRecord, {"employments": [{"employer": "x", "monthly_wage_fen": 900.5, "start_on": "2021-01-01"}]},
     ("employments", 0, "monthly_wage_fen")),
    (p.HrssRecord, {"employment": []}, ("employment",)),
    (p.VehicleRecord, {"vehicles": [{"plate": "宁A1", "kind": "spaceship", "registered_on": "2021-01-01"}]},
     ("vehicles", 0, "kind")),
    (p.DisabilityRecord, {"certificate_no": "1", "category": "physical", "grade": 5, "issued_on": "2020-01-01"},
     ("grade",)),
    (p.LowIncomeDbRecord, {"categories": ["dibao"], "start_on": "2022-01-01", "end_on": "2021-01-01"}, ("end_on",)),
])
def test_payload_models_refuse_bad_records(model, payload, field):
    with pytest.raises(ValidationError) as info:
        model.model_validate(payload)
    assert info.value.errors()[0]["loc"] == field


# ---- policy the check resolves ---------------------------------------------------------------------------

def request(region: str = "640104", *, urban: bool = True, on: date = ON) -> EconomicCheckRequest:
    return EconomicCheckRequest(check_id="c:1", case_id="c", person_id=A, member_ids=[B, A, C],
                                region_code=region, business_date=on, urban=urban, household_size=3)


def test_members_are_the_applicant_then_the_others_once():
    assert members_of(request()) == [A, B, C]


def test_the_standard_comes_from_the_pack_in_force_on_the_business_date():
    lib = load_library()
    urban = resolve_standard(lib, request())
    assert (urban.figure, urban.monthly_fen, urban.region_name) == ("dibao_urban_monthly_fen", 65000, "Ningxia")
    assert urban.citation.startswith("002_c6f97725f515410c.txt")
    rural = resolve_standard(lib, request("640122", urban=False))
    assert (rural.figure, rural.monthly_fen) == ("dibao_rural_monthly_fen", 46000)
    # the 20 measures end 2023-12-31, the 650-yuan standard they raised does not (in force until replaced)
    after = resolve_standard(lib, request(on=date(2024, 3, 1)))
    assert (after.monthly_fen, after.region_name) == (65000, "Ningxia")
    assert resolve_standard(lib, request("660101")).monthly_fen is None               # XPCC: set by the division


def test_asset_limits_and_employment_cost_from_the_packs():
    lib = load_library()
    limits = resolve_asset_limits(lib, request())
    assert limits.max_properties == rules.LOCAL_PRACTICE_MAX_PROPERTIES
    assert set(limits.basis.values()) == {rules.LOCAL_PRACTICE}
    assert resolve_employment_cost(lib, request()) == (None, "")
    ratio, cite = resolve_employment_cost(lib, request("361102"))
    assert ratio == Decimal("0.30") and cite.startswith("001_e4998f21954ea220.txt")
