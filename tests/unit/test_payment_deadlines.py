"""Payment deadlines are not the end of the entitlement (issue 13 item 14, second half): a batch
requested after the deadline is still paid, to the recipients entitled by then, and flagged overdue."""
from __future__ import annotations

from datetime import date

import pytest

from services.payment.batch import BatchRejected, plan_request
from workflows.batch_subsidy.inputs import BatchRequest


def test_ningxias_one_time_subsidy_requested_after_august_is_still_paid_and_flagged_overdue():
    # seed 002 「增发一次性生活补贴600元，每人每月发放200元，从2022年6月开始，连续发放3个月」: the last
    # installment is August 2022; a batch requested in September pays all three (3 x 20000 fen)
    late = plan_request(BatchRequest(measure="one_time_living_subsidy", region_prefix="64",
                                     snapshot_on=date(2022, 9, 15)))
    on_time = plan_request(BatchRequest(measure="one_time_living_subsidy", region_prefix="64",
                                        snapshot_on=date(2022, 6, 7)))
    assert late.overdue and late.snapshot_on == date(2022, 8, 31)
    assert late.amount_note.startswith("overdue: requested after the payment deadline 2022-08-31")
    assert [i.month for i in late.installments] == ["2022-06", "2022-07", "2022-08"]
    # the same payment as the one on time: the same batch, never a second one
    assert late.batch_id == on_time.batch_id and not on_time.overdue and on_time.snapshot_on is None


def test_jiangxis_june_level_subsidy_after_july_15_is_still_paid_and_flagged_overdue():
    # seed 001 「各地要于 7 月 15 日前为低保对象……按照 6 月份发放标准增发一次性生活补贴」
    # (each household's own June level: the policy fixes it, the request gives no amount)
    late = plan_request(BatchRequest(measure="one_time_living_subsidy", region_prefix="36",
                                     snapshot_on=date(2022, 7, 20)))
    assert late.overdue and late.snapshot_on == date(2022, 7, 15)
    assert late.amount_note.startswith("overdue: requested after the payment deadline 2022-07-15")


def test_a_measure_that_never_applied_is_still_refused():
    with pytest.raises(BatchRejected):
        plan_request(BatchRequest(measure="one_time_living_subsidy", region_prefix="64",
                                  snapshot_on=date(2022, 5, 1)))
