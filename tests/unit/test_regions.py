"""Region names from the official table (shared/regions: the MCA's 县级以上行政区划代码, GB/T 2260) and the
refusal of a county the table does not list (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.contracts.api import ApplicationIn, CaseSummary, HouseholdIn
from shared.regions import is_known_county, region_name

TESTS = Path(__file__).parent.parent
# codes the fixtures use on purpose as unknown or malformed (bad-input tests), and 沙湾县 654223, abolished in 2021
# (沙湾市 654203 since), which the batch-subsidy test seeds straight into the database as an older record would be
NOT_COUNTIES = {"000000", "001234", "0010104", "100000", "120000", "180000", "200000", "300000", "202201",
                "64010400", "6401041", "64010412", "65010200", "640199", "654223"}


def _household(region: str, **member: object) -> dict[str, object]:
    return {"household_id": "hh-r", "region_code": region, "urban": True, "monthly_income_fen": 0,
            "members": [{"person_id": "11010519491231002X", "name": "张三", "relation": "head",
                         "birth_date": "1949-12-31", **member}]}


@pytest.mark.parametrize(("code", "name"), [
    ("640104", "宁夏回族自治区银川市兴庆区"),
    ("640104001", "宁夏回族自治区银川市兴庆区"),          # a township is named by its county
    ("110101", "北京市东城区"),                          # a municipality: no 市辖区 row in the MCA table
    ("441900", "广东省东莞市"),                          # a prefecture with no counties: county-level
    ("659001", "新疆维吾尔自治区石河子市"),              # a Corps city in GB/T 2260 (no 659000 row)
    ("654203", "新疆维吾尔自治区塔城地区沙湾市"),        # 2021: 沙湾县 654223 became 沙湾市 654203
    ("660102", "新疆生产建设兵团第一师（阿拉尔市）"),    # the Corps' 66: local practice, by division
    ("64", "宁夏回族自治区"),
    ("6401", "宁夏回族自治区银川市"),
])
def test_names_come_from_the_table(code: str, name: str):
    assert region_name(code) == name


@pytest.mark.parametrize("code", ["640199", "654223", "669901", "000000", "6401x4", "", None, "６４０１０４"])
def test_an_unknown_code_has_no_name(code: str | None):
    assert region_name(code) is None


@pytest.mark.parametrize(("code", "known"), [
    ("640104", True), ("640104123", True), ("660101", True), ("661401", True), ("441900", True),
    ("640100", False),   # 银川市 has districts: a prefecture, not a county
    ("640000", False),   # a province
    ("810000", False),   # 香港: a province-level row
    ("640199", False), ("640199001", False), ("661501", False), ("660100", False), ("6401", False),
])
def test_county_level(code: str, known: bool):
    assert is_known_county(code) is known


def test_every_region_code_the_tests_use_is_in_the_table():
    """Each 6-9 digit code in tests/ that is meant as a region (not a bad-input fixture) is a known county."""
    found: set[str] = set()
    for path in list(TESTS.rglob("*.py")) + list(TESTS.rglob("*.yaml")):
        if path.name in (Path(__file__).name, "test_data_quality.py"):  # these two name unknown codes on purpose
            continue
        found |= set(re.findall(r"\"([0-9]{6}|[0-9]{9})\"", path.read_text(encoding="utf-8")))
    regions = {c for c in found if c[:2] in {"11", "35", "36", "44", "64", "65", "66"}} - NOT_COUNTIES
    assert regions and not {c for c in regions if not is_known_county(c)}


def test_an_unknown_county_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as caught:
        HouseholdIn.model_validate(_household("640199"))
    (error,) = caught.value.errors()
    assert error["loc"] == ("region_code",) and "未知的行政区划代码 640199" in error["msg"]
    with pytest.raises(ValidationError) as caught:  # a township: checked on its county prefix
        ApplicationIn.model_validate({"person_id": "11010519491231002X", "region_code": "640199001",
                                      "kind": "dibao", "consent": True})
    assert caught.value.errors()[0]["loc"] == ("region_code",)
    with pytest.raises(ValidationError) as caught:  # 务工地 too
        HouseholdIn.model_validate(_household("640104", work_region_code="661501"))
    assert caught.value.errors()[0]["loc"] == ("members", 0, "work_region_code")
    assert HouseholdIn.model_validate(_household("640104001")).region_code == "640104001"


def test_views_carry_the_name_beside_the_code():
    summary = CaseSummary(case_id="c", pathway="p", status="open", stage="s", person_id=None, household_id=None,
                          region_code="640104")
    assert summary.model_dump()["region_name"] == "宁夏回族自治区银川市兴庆区"
    assert "region_name" in CaseSummary.model_json_schema(mode="serialization")["properties"]
