"""A raised standard (提标) reaches a household its own renewal case carries (issue 13 item 2: in gradual
exit, or under review, ``managed_by='case'``): the region's cycle does not reprice it, so the case does,
behind ``workflow.patched("renewal-standard-follows")``. The months already paid at the old level (by
the case, or by the cycle before the case opened) are back-paid the difference once, under
``dibao-topup:<household>:<first month>:<standard-version>``, and the level follows from the next period.

The raise is published late, as in life: the case pays 2023-01 and 2023-02 at Shangrao's 800 yuan
(TEST FIXTURE test-shangrao.yaml), then county 361104's pack raising the standard to 850 yuan from
2023-01-01 (TEST FIXTURE test-shangrao-361104-2023-standard.yaml) is loaded before 2023-03."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.unit.test_renewal_workflow import HEAD, SPOUSE, Fakes, Renewal, paid
from workflows.renewal.inputs import Household, IncomeChange, Member, PendingChange, RenewalState

FIXTURES = Path(__file__).parent.parent / "fixtures" / "policy"
COUNTY = "361104"
RAISE = "test-shangrao-361104-2023-standard@2023.1"
CHILD = "361104201001010033"


def packs(folder: Path, *names: str) -> str:
    folder.mkdir()
    for name in names:
        shutil.copy(FIXTURES / name, folder / name)
    return str(folder)


@pytest.mark.parametrize("status,income", [
    ("gradual_exit", 300000),  # employed, income above 3 x 80000: the level of 114000 kept for the exit months
    ("active", 150000),  # under review: a reported change takes effect only in 2024
])
async def test_a_case_carried_household_follows_a_late_raise_and_is_back_paid_once(
        env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: str, income: int):
    monkeypatch.setenv("DOUDI_POLICY_LOCAL_DIR", packs(tmp_path / "before", "test-shangrao.yaml"))
    h = Household(members=[Member(person_id=HEAD, working_age=True, working=True), Member(person_id=SPOUSE),
                           Member(person_id=CHILD, special=True)], monthly_income_fen=income)
    # 80000 x 3 - (150000 - 0.30 x 80000) = 240000 - 126000 = 114000, priced at Shangrao's 800 (2022-07-01),
    # paid by the cycle 2022-10..2022-12 before the case opened
    state = RenewalState(
        period="2023-01", household=h, status=status, level_fen=114000, exit_months_left=12,
        last_income_reason="employment", priced_from=date(2022, 7, 1), priced_version="test-shangrao@2022.1",
        reviews=[{"period": "2022-10", "kind": "roster", "outcome": "enrolled", "level_fen": 114000}],
        pending=[] if status != "active" else [PendingChange(
            kind="income_changed", effective_on=date(2024, 1, 1),
            income=IncomeChange(monthly_income_fen=150000, reason="other", effective_on=date(2024, 1, 1)))])
    fakes = Fakes(region=COUNTY)
    async with Renewal(env, fakes, region_code=COUNTY, household=h, household_id="hh-raise", hand_back=True,
                       first_period="2023-01", enrolled_from="2022-10", opening_state=state,
                       enrolment_id="en-raise") as handle:
        await paid(env, fakes, 2)  # 2023-01, 2023-02 at 114000: the raise is not published yet
        monkeypatch.setenv("DOUDI_POLICY_LOCAL_DIR", packs(tmp_path / "after", "test-shangrao.yaml",
                                                           "test-shangrao-361104-2023-standard.yaml"))
        await paid(env, fakes, 5)  # the back-pay, 2023-03, 2023-04
        for _ in range(8):  # and nothing more for the raise in later months
            await env.sleep(timedelta(days=7))
        await handle.terminate("test over")
    # new level: 85000 x 3 - (150000 - 0.30 x 85000) = 255000 - 124500 = 130500 (exact, active); in gradual
    # exit the kept 114000 + 5000 x 3 + 0.30 x 5000 = 130500 (the same members, income-independent)
    # back-pay: (130500 - 114000) x 2 months (2023-01, 2023-02) = 33000, once
    keys = [(p.idempotency_key, p.amount_fen) for p in fakes.payments]
    assert keys[:5] == [("dibao:hh-raise:2023-01", 114000), ("dibao:hh-raise:2023-02", 114000),
                        (f"dibao-topup:hh-raise:2023-01:{RAISE}", 33000), ("dibao:hh-raise:2023-03", 130500),
                        ("dibao:hh-raise:2023-04", 130500)]
    assert [k for k, _ in keys].count(f"dibao-topup:hh-raise:2023-01:{RAISE}") == 1
    assert all(a == 130500 for k, a in keys[3:] if k.startswith("dibao:"))
    assert "review_repriced" in [t.stage for t in fakes.transitions]
