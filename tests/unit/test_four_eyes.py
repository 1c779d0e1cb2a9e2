"""Four eyes by registered person (shared/infra/officials_registry.py): the rule, without a stack."""

from __future__ import annotations

import pytest

from shared.auth import Principal, Role
from shared.infra.officials_registry import RegisteredOfficial, second_official_refusal

PERSON_A = "110105198001010011"
PERSON_B = "110105198202020022"


def registered(subject: str, person_id: str, role: str = "finance", jurisdiction: str = "",
               active: bool = True) -> RegisteredOfficial:
    return RegisteredOfficial(subject=subject, person_id=person_id, roles=[role], jurisdiction=jurisdiction,
                              active=active)


def refusal(second: Principal, registered_second: RegisteredOfficial | None,
            first: RegisteredOfficial | None = None) -> str | None:
    first = first if first is not None else registered("fin-a", PERSON_A)
    return second_official_refusal(first_subject="fin-a", first=first, second=second,
                                   registered_second=registered_second)


def test_another_registered_person_may_be_the_second():
    assert refusal(Principal(subject="fin-b", role=Role.finance), registered("fin-b", PERSON_B)) is None


@pytest.mark.parametrize(("second", "entry", "why"), [
    (Principal(subject="fin-a", role=Role.finance), registered("fin-a", PERSON_A), "who asked"),
    (Principal(subject="fin-a2", role=Role.finance), registered("fin-a2", PERSON_A), "same registered person"),
    (Principal(subject="fin-c", role=Role.finance), None, "not an active registered official"),
    (Principal(subject="fin-c", role=Role.finance), registered("fin-c", PERSON_B, active=False),
     "not an active registered official"),
    (Principal(subject="fin-c", role=Role.finance), registered("fin-c", PERSON_B, role="auditor"), "registered as"),
    (Principal(subject="fin-c", role=Role.finance, region="6401"), registered("fin-c", PERSON_B), "registered as"),
])
def test_the_same_person_the_unregistered_and_the_mislabelled_are_refused(second, entry, why):
    assert why in (refusal(second, entry) or "")


def test_an_unregistered_first_official_leaves_no_second_person_to_establish():
    why = second_official_refusal(first_subject="fin-x", first=None,
                                  second=Principal(subject="fin-b", role=Role.finance),
                                  registered_second=registered("fin-b", PERSON_B))
    assert why is not None and "ask again as a registered official" in why
