"""What a dead letter's correction changes (services/operations/dead_letters.py): a person or an amount
needs a second official before the redelivery is published."""

from __future__ import annotations

import json

from services.operations.dead_letters import changes


def event(**data) -> bytes:
    return json.dumps({"specversion": "1.0", "id": "e-1", "type": "health.quarantined", "data": data}).encode()


ORIGINAL = event(person_id="640104198001010011", region_code="640104", quarantined_on="2022-13-45")


def test_no_correction_or_the_same_body_changes_nothing():
    assert changes(ORIGINAL, None) == []
    assert changes(ORIGINAL, ORIGINAL) == []


def test_a_corrected_date_is_no_person_and_no_amount():
    assert changes(ORIGINAL, event(person_id="640104198001010011", region_code="640104",
                                   quarantined_on="2022-08-10")) == []


def test_a_changed_person_or_household_is_a_person_change():
    assert changes(ORIGINAL, event(person_id="640104198001010029", region_code="640104",
                                   quarantined_on="2022-13-45")) == ["person"]
    assert changes(event(household_id="hh-1", monthly_income_fen=1), event(household_id="hh-2",
                                                                           monthly_income_fen=1)) == ["person"]


def test_a_changed_or_added_fen_figure_is_an_amount_change():
    before = event(household_id="hh-1", monthly_income_fen=100)
    assert changes(before, event(household_id="hh-1", monthly_income_fen=99)) == ["amount"]
    assert changes(event(region_code="64"), event(region_code="64", per_person_fen=1_000_000_000)) == ["amount"]
    assert changes(before, event(household_id="hh-2", monthly_income_fen=0)) == ["person", "amount"]


def test_an_unreadable_original_cannot_be_compared_so_both_are_assumed():
    assert changes(b"{not json", event(person_id="640104198001010011")) == ["person", "amount"]
    assert changes(b"[" * 3000 + b"]" * 3000, event(person_id="x")) == ["person", "amount"]


def test_a_masked_id_left_as_it_was_is_the_original_id():
    from services.operations.dead_letters import unmask

    original = event(person_id="640104198001010011", region_code="640104", quarantined_on="2022-13-45")
    masked_view = json.loads(original)
    masked_view["data"]["person_id"] = "640104********0011"
    masked_view["data"]["quarantined_on"] = "2022-08-10"
    restored = unmask(original, masked_view)
    assert restored["data"]["person_id"] == "640104198001010011"
    assert changes(original, json.dumps(restored).encode()) == []
    # another masked ID (not the original's) is not taken for it
    masked_view["data"]["person_id"] = "640104********0029"
    assert unmask(original, masked_view)["data"]["person_id"] == "640104********0029"
