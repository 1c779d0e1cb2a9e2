"""The figures of the enrolment duties and the care visits, as the packs give them (expected values by hand
from the packs and their seeds; LOCAL PRACTICE where the national pack labels them so)."""

from __future__ import annotations

from datetime import date

import pytest

from services.operations.care_visits import CareLevel, cadence
from workflows.enrolment_duties.inputs import DutiesQuery
from workflows.enrolment_duties.policy import duty_terms


@pytest.mark.parametrize(("region", "on", "skips"), [
    ("640104", date(2022, 9, 1), True),    # Ningxia seed 002 「对没有争议的救助申请家庭或个人，不再进行民主评议」
    ("640104", date(2024, 2, 1), False),   # after Ningxia's measures (to 2023-12-31): the national default
    ("660102", date(2022, 9, 1), True),    # XPCC seed 004 「对没有争议的救助申请家庭，可不再进行民主评议」
    ("361104", date(2022, 9, 1), False),   # Jiangxi: no rule of its own, the national LOCAL PRACTICE default
])
def test_who_skips_the_appraisal_for_an_undisputed_application(region: str, on: date, skips: bool) -> None:
    terms = duty_terms(DutiesQuery(region_code=region, on=on))
    assert terms.appraisal_when_undisputed is not skips
    assert "民主评议" in terms.appraisal_rule
    # national LOCAL PRACTICE: 7 days of notice, 10 days for the visit and the appraisal, reminded 2 days before
    assert (terms.public_notice_days, terms.home_visit_days, terms.appraisal_days, terms.reminder_days_before) \
        == (7, 10, 10, 2)


@pytest.mark.parametrize(("level", "days"), [("full_care", 7), ("partial_care", 15), ("self_care", 30)])
def test_care_visit_cadence_by_care_level(level: CareLevel, days: int) -> None:
    every, rule = cadence("640324101", level, date(2026, 12, 1))
    assert every == days and "定期探访" in rule and f"care_visit_days_{level}" in rule
