"""Issue 13 item 8 on the time-skipping server: the gradual exit's months by region and household
(Ningxia 6-18 「根据家庭情况」, XPCC 「一定时间的渐退期」), and the epidemic pause of exits only on the dates
of the epidemic-control period. Business period 2022-07 falls due in an hour, each later one a month on;
employment (or another income) reported in September 2022 is reviewed at 2022-10."""

from __future__ import annotations

from datetime import date

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.unit.test_benefit import local_packs
from tests.unit.test_renewal_workflow import (
    CHILD,
    HEAD,
    SPOUSE,
    Fakes,
    Renewal,
    employment_in_september_2022,
    household,
    paid,
    periods,
)
from workflows.renewal.inputs import IncomeChange, Member
from workflows.renewal.workflow import RenewalWorkflow


@pytest.mark.parametrize("members,months,exit_period", [
    # no special member: the minimum, 6 months (2022-10..2023-03), exit 2023-04 - after the
    # epidemic-control period (national pack, local practice: ends 2023-01-07), so not paused
    ([Member(person_id=HEAD, working_age=True), Member(person_id=SPOUSE), Member(person_id=CHILD)], 6, "2023-04"),
    # one special member (the child): 6 + 6 = 12 months (2022-10..2023-09), exit 2023-10
    ([Member(person_id=HEAD, working_age=True), Member(person_id=SPOUSE), Member(person_id=CHILD, special=True)],
     12, "2023-10"),
    # two special members: 6 + 2 x 6 = 18, the seed's maximum (2022-10..2024-03), exit 2024-04
    ([Member(person_id=HEAD, working_age=True), Member(person_id=SPOUSE, special=True),
      Member(person_id=CHILD, special=True)], 18, "2024-04"),
])
async def test_ningxia_gradual_exit_lasts_6_to_18_months_by_the_households_special_members(
        env: WorkflowEnvironment, members: list[Member], months: int, exit_period: str):
    # seed 002 「可根据家庭情况给予不少于6个月、不超过18个月的低保渐退期」; level (3 x 65000) - 90000 = 105000
    fakes = Fakes()
    async with Renewal(env, fakes, household=household(members=members), periods_per_run=60) as handle:
        await employment_in_september_2022(env, fakes, handle, 300000)  # 300000 > 3 x 65000 = 195000
        result = await handle.result()
    assert result.outcome == "terminated" and result.last_period == exit_period
    assert "lapsed" not in result.reason  # the exit fell after the epidemic-control period: never paused
    # 3 enrolled months (2022-07..09) + the gradual-exit months at the level
    assert [(p.idempotency_key.split(":")[1], p.amount_fen) for p in fakes.payments] == [
        (p, 105000) for p in periods("2022-07", 3 + months)]


async def test_ningxia_exit_due_inside_the_epidemic_control_period_waits_for_its_end_only(env: WorkflowEnvironment):
    # seed 002 「疫情防控期间暂停低保退出，待疫情防控结束后……及时办理退出手续」: income (not employment) above the
    # standard from September: exit at the 2022-10 review, paused while the epidemic-control period lasts
    # (to 2023-01-07, local practice), processed at 2023-02 - not at the end of the pack's window (2024-01)
    fakes = Fakes()
    async with Renewal(env, fakes, periods_per_run=60) as handle:
        await paid(env, fakes, 3)
        await handle.execute_update(RenewalWorkflow.income_changed, IncomeChange(
            monthly_income_fen=300000, reason="other", effective_on=date(2022, 9, 10)))
        result = await handle.result()
    assert result.outcome == "terminated" and result.last_period == "2023-02" and "lapsed" in result.reason
    # paid 2022-07..2023-01 at 105000: the enrolled months, then the paused months 2022-10..2023-01
    assert [(p.idempotency_key.split(":")[1], p.amount_fen) for p in fakes.payments] == [
        (p, 105000) for p in periods("2022-07", 7)]
    assert "exit_suspended" in [t.stage for t in fakes.transitions]


async def test_xpcc_grants_a_gradual_exit_of_the_national_default_months(
        env: WorkflowEnvironment, tmp_path, monkeypatch):
    # seed 004 「并在其家庭成员人均收入超过当地低保标准后给予一定时间的渐退期」: no figure, the national pack's
    # local-practice 6 months. First division fixture: standard 60005, special-member add-on 10%:
    # (3 x 60005) - 90000 = 90015, + 0.10 x 60005 = 6000.5 -> 6001 for the child: 96016 a month
    local_packs(tmp_path, monkeypatch)
    fakes = Fakes(region="660102")
    async with Renewal(env, fakes, periods_per_run=60) as handle:
        await employment_in_september_2022(env, fakes, handle, 300000)  # 300000 > 3 x 60005 = 180015
        result = await handle.result()
    assert result.outcome == "terminated" and result.last_period == "2023-04"
    assert [(p.idempotency_key.split(":")[1], p.amount_fen) for p in fakes.payments] == [
        (p, 96016) for p in periods("2022-07", 9)]  # 3 enrolled months + 6 gradual-exit months (2022-10..2023-03)
    assert "review_gradual_exit" in [t.stage for t in fakes.transitions]
