"""Applying where you live (issue 17 item 5) and referrals (item 4): the pure rules, without a stack."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.intake.residence import NotFiledHere, filing_place, once_key
from services.operations.referrals import ReferralIn, deadline_rule, referral_id
from shared.contracts.api import ApplicationIn
from tests.support import national_id

JINFENG, XINZHOU = "640106", "361102"
PERSON = national_id(XINZHOU)


def app(kind: str = "graduate", region: str = JINFENG, residence: dict[str, Any] | None = None,
        **details: Any) -> ApplicationIn:
    if residence is not None:
        details["residence"] = residence
    return ApplicationIn.model_validate({"person_id": PERSON, "region_code": region, "kind": kind, "consent": True,
                                         "details": details})


def lives(basis: str = "habitual_residence", region: str = JINFENG) -> dict[str, Any]:
    return {"basis": basis, "region_code": region, "evidence": "居住证"}


def test_a_graduate_registered_elsewhere_applies_where_they_live_and_the_registration_office_is_informed():
    place = filing_place(app(residence=lives()), XINZHOU)
    assert place.basis == "habitual_residence" and place.informs_registration_office
    assert place.registered_region_code == XINZHOU and place.evidence == "居住证"


def test_a_migrant_worker_applies_where_they_work():
    place = filing_place(app("job_loss", residence=lives("work_place")), XINZHOU)
    assert place.basis == "work_place" and place.informs_registration_office


@pytest.mark.parametrize(("kind", "basis"), [("graduate", "work_place"), ("dibao", "habitual_residence"),
                                             ("job_loss", "emergency_place")])
def test_a_basis_the_measure_does_not_allow_is_refused_naming_the_field(kind: str, basis: str):
    with pytest.raises(NotFiledHere) as err:
        filing_place(app(kind, residence=lives(basis)), XINZHOU)
    assert err.value.field == "details.residence.basis"


def test_a_residence_in_another_county_than_the_office_is_refused():
    with pytest.raises(NotFiledHere) as err:
        filing_place(app(residence=lives(region="640104")), XINZHOU)
    assert err.value.field == "details.residence.region_code"


def test_nobody_is_taken_on_by_an_office_where_they_neither_live_nor_are_registered():
    with pytest.raises(NotFiledHere) as err:
        filing_place(app(), XINZHOU)
    assert err.value.field == "details.residence" and "户籍不在本县" in err.value.reason


def test_the_registered_county_takes_it_without_a_declaration_and_informs_nobody():
    assert filing_place(app(region="640106001"), JINFENG).basis == "registered"
    assert not filing_place(app(residence=lives()), JINFENG).informs_registration_office
    assert filing_place(app(), None).basis == "not_in_registry"  # as before: no registry answer to check


def test_a_stranded_person_is_helped_where_the_emergency_happens():
    place = filing_place(app("emergency", stranded=True, reason="务工不着，滞留车站"), XINZHOU)
    assert place.basis == "emergency_place" and place.informs_registration_office


def test_the_once_key_comes_from_the_cause_not_the_office():
    assert once_key(app()) == once_key(app(region=XINZHOU)) == f"graduate:{PERSON}"
    assert once_key(app("job_loss", last_income_month="2022-05")) == f"job_loss:{PERSON}:2022-05"
    assert once_key(app("medical")) is None


def test_a_referral_id_comes_from_its_cause_and_its_deadline_from_the_pack():
    body = ReferralIn(to_kind="charity_organisation", to_name="宁夏慈善总会", service="charity_aid", reason="x")
    assert referral_id("c-1", body) == referral_id("c-1", body.model_copy(update={"reason": "another"}))
    assert referral_id("c-1", body) != referral_id("c-2", body)
    rule = deadline_rule("640106", date(2026, 12, 1))
    assert (rule.figure, rule.days, rule.local_practice) == ("referral_response_days", 15, True)
