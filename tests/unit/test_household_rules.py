"""A household's data checked on the way in and updated only over the version read (issue 16): the birth date
against the ID, the If-Match precondition (ETag = the household's data version), and the 409 naming the other
household of a member who already belongs to one."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.registry import IfMatch, RegistrationRefused, _elsewhere, etag, masked_household_id
from shared.contracts.api import HouseholdIn
from shared.contracts.identity import birth_date_of, id_check_character

HEAD = "11010519491231002X"  # born 1949-12-31 (characters 7-14: 19491231), check character X


def _household(*members: dict[str, object]) -> dict[str, object]:
    return {"household_id": "hh-rules", "region_code": "640104", "urban": True, "monthly_income_fen": 0,
            "members": list(members)}


def _member(person_id: str, born: str) -> dict[str, object]:
    return {"person_id": person_id, "name": "张三", "relation": "head", "birth_date": born}


def test_the_birth_date_is_the_ids():
    assert HouseholdIn.model_validate(_household(_member(HEAD, "1949-12-31"))).members[0].person_id == HEAD
    assert birth_date_of(HEAD).isoformat() == "1949-12-31"


@pytest.mark.parametrize("born", ["1949-12-30", "1950-12-31", "1949-01-31"])
def test_a_birth_date_the_id_does_not_carry_is_refused_naming_the_field(born: str):
    with pytest.raises(ValidationError) as caught:
        HouseholdIn.model_validate(_household(_member(HEAD, born)))
    (error,) = caught.value.errors()
    assert error["loc"] == ("members", 0, "birth_date")
    assert "与身份证号码第 7-14 位（19491231）不一致" in error["msg"]


def test_the_second_member_is_named():
    spouse17 = "64010419520229001"  # 1952 was a leap year: 29 February exists
    spouse = spouse17 + id_check_character(spouse17)
    with pytest.raises(ValidationError) as caught:
        HouseholdIn.model_validate(_household(_member(HEAD, "1949-12-31"), _member(spouse, "1952-03-01")))
    assert [e["loc"] for e in caught.value.errors()] == [("members", 1, "birth_date")]
    assert HouseholdIn.model_validate(_household(_member(HEAD, "1949-12-31"), _member(spouse, "1952-02-29")))


def test_a_wrong_check_character_is_refused_before_the_birth_date_is_compared():
    with pytest.raises(ValidationError) as caught:
        HouseholdIn.model_validate(_household(_member("110105194912310021", "1980-01-01")))
    assert [e["loc"] for e in caught.value.errors()] == [("members", 0, "person_id")]  # one error: the ID's


# ---- If-Match ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "versions", "any_version"), [
    ('"3"', {3}, False), ('W/"3"', {3}, False), ('"3", "4"', {3, 4}, False), ("*", set(), True),
    (' "7" ', {7}, False),
])
def test_if_match_is_read(header: str, versions: set[int], any_version: bool):
    assert IfMatch.parse(header) == IfMatch(frozenset(versions), any_version)


@pytest.mark.parametrize("header", [None, "", "  "])
def test_without_if_match_there_is_no_precondition(header: str | None):
    assert IfMatch.parse(header) is None


@pytest.mark.parametrize("header", ['"abc"', '"-1"', '"1.5"', '"３"', '"9999999999"', '"3" "4"'])
def test_a_malformed_if_match_is_400_naming_the_header(header: str):
    with pytest.raises(RegistrationRefused) as caught:
        IfMatch.parse(header)
    assert caught.value.status_code == 400 and caught.value.loc == ["header", "If-Match"]


@pytest.mark.parametrize(("header", "current", "ok"), [
    ('"3"', 3, True),
    ('"3"', 4, False),      # someone changed it since it was read: 412
    ('"2", "3"', 3, True),
    ('"3"', None, False),   # gone (or never there): an update of what one read cannot create
    ("*", 1, True),
    ("*", None, False),
])
def test_the_precondition(header: str, current: int | None, ok: bool):
    precondition = IfMatch.parse(header)
    assert precondition is not None
    if ok:
        precondition.check("hh-1", current)
        return
    with pytest.raises(RegistrationRefused) as caught:
        precondition.check("hh-1", current)
    assert caught.value.status_code == 412 and caught.value.loc == ["header", "If-Match"]
    assert "家庭 hh-1 已被修改或不存在" in caught.value.msg and "未作任何更改" in caught.value.msg


def test_the_etag_is_the_version_quoted():
    assert etag(3) == '"3"' and IfMatch.parse(etag(3)) == IfMatch(frozenset({3}))


# ---- one household per person ------------------------------------------------------------------------------

def test_another_jurisdictions_household_is_named_masked_with_its_county():
    h = HouseholdIn.model_validate(_household(_member(HEAD, "1949-12-31")))
    refused = _elsewhere(h, HEAD, "hh-xj-000123", "650102001")
    assert refused.status_code == 409 and refused.loc == ["body", "members", 0, "person_id"]
    assert "hh-***23" in refused.msg and "hh-xj-000123" not in refused.msg
    assert "新疆维吾尔自治区乌鲁木齐市天山区" in refused.msg
    assert masked_household_id("hh-1") == "***"   # too short to show any of it
