"""Planning a batch from the policy packs (pure): schedule, amounts per group, floors, refusals, ids."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import ValidationError

from services.payment.batch import CHINA, BatchRejected, amounts_for_group, plan_request
from shared.policy import load_library
from workflows.batch_subsidy.inputs import BatchRequest

LIB = load_library()


def req(**kw) -> BatchRequest:
    return BatchRequest(**kw)


def group(measure: str, region: str, on: date, categories=("dibao",), urban=True, requested=None, installments=(1,)):
    return amounts_for_group(LIB, measure=measure, on=on, requested_fen=requested, installments=list(installments),
                             region_code=region, urban=urban, categories=list(categories))


def test_ningxia_one_time_subsidy_is_three_installments_of_200_yuan_at_the_month_starts():
    planned = plan_request(req(measure="one_time_living_subsidy", region_prefix="64", snapshot_on=date(2022, 6, 7)))
    assert [(i.sequence, i.month, i.due_at) for i in planned.installments] == [
        (1, "2022-06", datetime(2022, 6, 1, tzinfo=CHINA)),
        (2, "2022-07", datetime(2022, 7, 1, tzinfo=CHINA)),
        (3, "2022-08", datetime(2022, 8, 1, tzinfo=CHINA)),
    ]
    assert planned.policy and planned.policy["pack_id"] == "ningxia-2022-20-measures"
    assert planned.categories == ["dibao", "extreme_poverty"]
    for cats in (("dibao",), ("extreme_poverty",)):
        g = group("one_time_living_subsidy", "640104", date(2022, 6, 7), cats, installments=(1, 2, 3))
        assert g.amounts == {1: 20000, 2: 20000, 3: 20000}
    assert group("one_time_living_subsidy", "640104", date(2022, 6, 7), ("marginal",),
                 installments=(1, 2, 3)).amounts == {}


def test_ningxia_amount_is_fixed_by_the_pack():
    with pytest.raises(BatchRejected, match="policy fixes the amount"):
        plan_request(req(measure="one_time_living_subsidy", region_prefix="64", snapshot_on=date(2022, 6, 7),
                         amount_fen_per_person=50000))


def test_xinjiang_one_time_subsidy_at_least_300_yuan():
    on = date(2022, 7, 1)
    assert group("one_time_living_subsidy", "650102", on).amounts == {1: 30000}
    assert group("one_time_living_subsidy", "650102", on, requested=50000).amounts == {1: 50000}
    raised = group("one_time_living_subsidy", "650102", on, requested=20000)
    assert raised.amounts == {1: 30000} and "raised from 20000 to 30000" in raised.reason
    planned = plan_request(req(measure="one_time_living_subsidy", region_prefix="65", snapshot_on=on,
                               amount_fen_per_person=20000))
    assert "raised from 20000 to 30000" in planned.amount_note and len(planned.installments) == 1


def test_price_linkage_takes_the_events_amount_but_not_below_xinjiangs_minimum():
    on = date(2022, 7, 1)
    raised = group("price_linkage", "652301", on, requested=1500)
    assert raised.amounts == {1: 2000}
    assert "raised from 1500 to the pack minimum 2000" in raised.reason and "提高至 20元" in raised.reason
    assert group("price_linkage", "652301", on, requested=2500).amounts == {1: 2500}
    planned = plan_request(req(measure="price_linkage", region_prefix="6523", snapshot_on=on,
                               amount_fen_per_person=1500))
    assert "raised from 1500 to 2000" in planned.amount_note and planned.installments[0].due_at is None
    # no pack prices it (Fujian): the event's amount, no floor
    assert group("price_linkage", "350102", on, requested=1500).amounts == {1: 1500}
    with pytest.raises(BatchRejected, match="needs amount_fen_per_person"):
        plan_request(req(measure="price_linkage", region_prefix="35", snapshot_on=on))


def test_packs_without_an_amount_need_one_from_the_request():
    on = date(2022, 7, 10)
    with pytest.raises(BatchRejected, match="fixes no amount"):  # Fujian: only the planned total
        plan_request(req(measure="one_time_living_subsidy", region_prefix="35", snapshot_on=on))
    planned = plan_request(req(measure="one_time_living_subsidy", region_prefix="35", snapshot_on=on,
                               amount_fen_per_person=11816))
    assert "11816 fen per person as set by the batch request" in planned.amount_note
    assert group("one_time_living_subsidy", "350102", on, requested=11816).amounts == {1: 11816}
    assert group("one_time_living_subsidy", "350102", on, ("marginal",), requested=11816).amounts == {}


def test_jiangxi_one_time_subsidy_is_each_households_own_june_level_never_a_flat_amount():
    # seed 001
    # 「各地要于 7 月 15 日前为低保对象、特困人员、孤儿及事实无人抚养儿童按照 6 月份发放标准增发一次性生活补贴」
    on = date(2022, 7, 10)
    planned = plan_request(req(measure="one_time_living_subsidy", region_prefix="36", snapshot_on=on))
    assert "own 2022-06 level" in planned.amount_note and "按照 6 月份发放标准" in planned.amount_note
    assert [(i.sequence, i.due_at) for i in planned.installments] == [(1, None)]
    with pytest.raises(BatchRejected, match="leave amount_fen_per_person out"):  # 500 yuan for everyone: refused
        plan_request(req(measure="one_time_living_subsidy", region_prefix="36", snapshot_on=on,
                         amount_fen_per_person=50000))
    # no flat group amount: each recipient's level comes from the ledger (tests/integration/test_batch_levels.py)
    g = group("one_time_living_subsidy", "361102", on, ("orphan",), requested=50000)
    assert g.amounts == {} and "own 2022-06 level" in g.reason


def test_not_in_force_is_refused():
    with pytest.raises(BatchRejected, match="not in force"):
        plan_request(req(measure="one_time_living_subsidy", region_prefix="64", snapshot_on=date(2021, 1, 1)))


def test_the_batch_id_derives_from_measure_region_and_occasion():
    a = plan_request(req(measure="price_linkage", region_prefix="6523", snapshot_on=date(2022, 7, 1),
                         amount_fen_per_person=1500))
    b = plan_request(req(measure="price_linkage", region_prefix="6523", snapshot_on=date(2022, 7, 20),
                         month="2022-07", amount_fen_per_person=2500))
    c = plan_request(req(measure="price_linkage", region_prefix="6523", snapshot_on=date(2022, 8, 1),
                         amount_fen_per_person=1500))
    assert a.batch_id == b.batch_id != c.batch_id
    d = plan_request(req(measure="one_time_living_subsidy", region_prefix="64", snapshot_on=date(2022, 6, 7)))
    e = plan_request(req(measure="one_time_living_subsidy", region_prefix="64", snapshot_on=date(2022, 6, 30)))
    assert d.batch_id == e.batch_id and d.occasion == "pack:ningxia-2022-20-measures@2022.1"


def test_request_validation():
    with pytest.raises(ValidationError):
        req(measure="price_linkage", region_prefix="6", snapshot_on=date(2022, 7, 1))
    with pytest.raises(ValidationError):
        req(measure="one_time_living_subsidy", region_prefix="64", snapshot_on=date(2022, 7, 1), month="2022-07")
    with pytest.raises(ValidationError):
        req(measure="price_linkage", region_prefix="64", snapshot_on=date(2022, 7, 1), amount_fen_per_person=1.5)
    assert req(measure="price_linkage", region_prefix="64", snapshot_on=date(2022, 7, 9)).month == "2022-07"
    with pytest.raises(BatchRejected, match="unknown categories"):
        plan_request(req(measure="price_linkage", region_prefix="64", snapshot_on=date(2022, 7, 1),
                         amount_fen_per_person=100, categories=["dibao", "friends"]))
