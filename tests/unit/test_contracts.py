"""Inbound event contracts, national IDs and region codes (pure; no stack)."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.contracts.events import INBOUND_EVENTS, InvalidEvent, event_type, make_cloudevent, parse_inbound
from shared.contracts.identity import NationalId, id_check_character, mask_national_id, validate_region_code

ID = TypeAdapter(NationalId)


def test_check_character_of_the_standard_example():
    # GB 11643-1999 worked example: 11010519491231002X
    assert id_check_character("11010519491231002") == "X"
    assert ID.validate_python("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize("bad", ["110105194912310021", "1101051949123100", "11010519491231002Y", "A1010519491231002X"])
def test_invalid_national_ids_are_refused(bad: str):
    with pytest.raises(ValidationError):
        ID.validate_python(bad)


def test_masking_hides_birth_date_and_sequence():
    assert mask_national_id("11010519491231002X") == "110105********002X"


@pytest.mark.parametrize("code", ["640104", "640104001"])
def test_region_codes(code: str):
    assert validate_region_code(code) == code


@pytest.mark.parametrize("code", ["6401", "64010400", "000000", "64a104"])
def test_bad_region_codes(code: str):
    with pytest.raises(ValueError):
        validate_region_code(code)


def _raw(name: str, data: dict, **over) -> bytes:
    return json.dumps({**make_cloudevent(name, data, event_id="e-1"), **over}).encode()


def test_every_inbound_event_type_parses():
    samples = {
        "health.covid_diagnosed": {"person_id": "11010519491231002X", "region_code": "640104",
                                   "diagnosed_on": "2022-08-12"},
        "health.quarantined": {"person_id": "11010519491231002X", "region_code": "640104",
                               "quarantined_on": "2022-08-10"},
        "employment.job_lost": {"person_id": "11010519491231002X", "region_code": "640104",
                                "last_income_month": "2022-05", "unemployment_insured": False},
        "education.graduate_unemployed": {"person_id": "11010519491231002X", "region_code": "361102",
                                          "graduated_on": "2022-07-01"},
        "medical.self_pay_reported": {"person_id": "11010519491231002X", "region_code": "640104", "year": 2022,
                                      "self_pay_fen": 2000000},
        "household.income_changed": {"household_id": "hh-1", "monthly_income_fen": 100000, "reason": "employment",
                                     "effective_on": "2022-09-01"},
        "household.member_deceased": {"person_id": "11010519491231002X", "died_on": "2022-09-03"},
        "disaster.affected": {"person_id": "11010519491231002X", "region_code": "650102", "disaster_id": "flood-7",
                              "occurred_on": "2022-07-20"},
        "price.linkage_triggered": {"region_code": "6501", "month": "2022-06", "subsidy_fen_per_person": 2000},
    }
    assert set(samples) == set(INBOUND_EVENTS)
    for name, data in samples.items():
        event = parse_inbound(f"doudi.events.{name}", _raw(name, data))
        assert event.id == "e-1" and event.name == name


@pytest.mark.parametrize(("raw", "reason"), [
    (b"not json", "not JSON"),
    (b"[1,2]", "not a JSON object"),
    (_raw("health.quarantined", {"person_id": "110105194912310021", "region_code": "640104",
                                 "quarantined_on": "2022-08-10"}), "data.person_id"),
    (_raw("health.quarantined", {"person_id": "11010519491231002X", "region_code": "640104"}), "quarantined_on"),
    (_raw("health.quarantined", {"person_id": "11010519491231002X", "region_code": "640104",
                                 "quarantined_on": "2022-08-10"}, type=event_type("health.covid_diagnosed")),
     "does not match subject"),
    (_raw("health.quarantined", {}, specversion="0.3"), "specversion"),
])
def test_contract_breaches_carry_a_reason(raw: bytes, reason: str):
    with pytest.raises(InvalidEvent) as err:
        parse_inbound("doudi.events.health.quarantined", raw)
    assert reason in err.value.reason


def test_money_fields_refuse_floats_and_negatives():
    for bad in (2000000.5, -1, "100"):
        with pytest.raises(InvalidEvent):
            parse_inbound("doudi.events.medical.self_pay_reported", _raw("medical.self_pay_reported", {
                "person_id": "11010519491231002X", "region_code": "640104", "year": 2022, "self_pay_fen": bad}))


def test_unknown_event_name_is_refused():
    with pytest.raises(InvalidEvent, match="unknown event name"):
        parse_inbound("doudi.events.health.sneezed", _raw("health.sneezed", {}))
