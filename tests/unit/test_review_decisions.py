"""The review decisions read from a household's level steps (services/intake/review_decisions.py): a lowered
level is a 减发 with the level before it, a raise is no decision, a gradual exit is a 停发 decided once (its
end, ``terminated``, carries it out), amounts in yuan from fen by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.intake.review_decisions import decisions_of
from services.intake.store.review_decisions import Enrolled, LevelStep

E = Enrolled(household_id="hh-1", enrolment_id="enr-hh-1-dibao", person_id="640105198001010011",
             region_code="640105", kind="dibao", status="active")
AT = datetime(2022, 11, 30, 17, 0, tzinfo=UTC)  # Beijing 2022-12-01 01:00


def step(period: str, outcome: str, level: int, kind: str = "scheduled") -> LevelStep:
    return LevelStep(period=period, kind=kind, outcome=outcome, level_fen=level, case_id=None,
                     cycle_id="cycle-6401-x", at=AT)


def test_a_lowered_level_and_a_gradual_exit_are_decisions_a_raise_is_not() -> None:
    steps = [step("2022-06", "enrolment", 105000, "enrolment"), step("2022-08", "adjust", 120000),
             step("2022-09", "back_pay", 126000, "back_pay"), step("2022-10", "continue", 126000),
             step("2022-11", "adjust", 45000), step("2023-05", "gradual_exit", 45000),
             step("2023-11", "terminated", 45000, "exit")]
    reduced, leaving = decisions_of(E, steps)
    # 减发 from the back-paid 1,260.00 to 450.00 (the raise and the back-pay are no decision of theirs)
    assert (reduced.period, reduced.old_level_fen, reduced.new_level_fen) == ("2022-11", 126000, 45000)
    assert (reduced.old_level_yuan, reduced.new_level_yuan) == ("1,260.00", "450.00")
    assert (reduced.record.outcome, reduced.record.outcome_zh, reduced.record.amount_fen) == ("reduced", "减发", 45000)
    assert reduced.record.decided_by == "policy"  # the cycle reviewed it as a set
    assert "1,260.00" in reduced.record.reason and "450.00" in reduced.record.reason
    # decided on Beijing's 2022-12-01; 复核 within 60 days (national pack, local practice): 2023-01-30
    assert reduced.record.decided_on == date(2022, 12, 1)
    assert reduced.record.remedies.reconsideration_deadline == date(2022, 12, 1) + timedelta(days=60)
    assert (leaving.period, leaving.old_level_fen, leaving.new_level_fen) == ("2023-05", 45000, 0)
    assert (leaving.record.outcome, leaving.record.outcome_zh) == ("exit", "停发（渐退）")
    assert leaving.letter_url == "/api/enrolments/hh-1/decisions/2023-05/letter.pdf"


def test_a_first_adjustment_without_a_level_before_it_is_not_called_a_reduction() -> None:
    assert decisions_of(E, [step("2022-11", "adjust", 45000)]) == []
