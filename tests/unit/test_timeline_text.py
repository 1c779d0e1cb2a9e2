"""Timeline entries in words from message codes (services/operations/timeline_text.py, issue 16): Chinese and
English, amounts in yuan, times in Beijing time; an unknown code falls back to the note."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.operations.timeline_text import RENDERERS, beijing, humanise_note, message_of, render, yuan_en, yuan_zh
from shared.contracts.api import TimelineEntry


@pytest.mark.parametrize(("fen", "zh", "en"), [
    (195000, "1,950.00 元", "¥1,950.00"),     # 3 × 650 yuan = 1,950 yuan = 195,000 fen
    (1, "0.01 元", "¥0.01"),
    (0, "0.00 元", "¥0.00"),
    (-150, "-1.50 元", "-¥1.50"),             # a recovery's negative entry
    (2**63 - 1, "92,233,720,368,547,758.07 元", "¥92,233,720,368,547,758.07"),  # exact: no float on the way
])
def test_amounts_in_yuan(fen: int, zh: str, en: str):
    assert (yuan_zh(fen), yuan_en(fen)) == (zh, en)


def test_times_in_beijing_time():
    # 10:30 UTC is 18:30 in Beijing (UTC+8, no daylight saving); 20:00 UTC is the next day there
    assert beijing("2022-08-10T10:30:00+00:00") == "2022-08-10 18:30"
    assert beijing(datetime(2022, 8, 10, 20, 0, tzinfo=UTC)) == "2022-08-11 04:00"
    assert beijing(datetime(2022, 8, 10, 20, 0)) == "2022-08-11 04:00"   # naive: taken as UTC
    assert beijing(None) == ""


def test_a_payment_in_words():
    code, params = message_of("payment.disbursed", {
        "case_id": "c1", "pathway": "quarantine", "payment_id": "pay-1", "amount_fen": 195000, "installment": 2,
        "person_id": "11010519491231002X", "paid_at": "2022-08-10T10:30:00Z", "source_account": "x"})
    assert code == "payment.disbursed"
    assert params == {"amount_fen": 195000, "installment": 2, "payment_id": "pay-1",
                      "paid_at": "2022-08-10T10:30:00Z"}   # no person ID, no account: only what the words need
    zh, en = render(code, params, "paid 195000 fen (installment 2), pay-1")
    assert zh == "已发放 1,950.00 元（第 2 期，pay-1），北京时间 2022-08-10 18:30"
    assert en == "Paid ¥1,950.00 (installment 2, pay-1) at 2022-08-10 18:30 Beijing time"


def test_case_steps_in_words():
    assert render(*message_of("case.opened", {"pathway": "quarantine", "status": "open", "stage": "opened"}),
                  "")[0].startswith("立案：")
    zh, en = render(*message_of("case.updated", {"status": "awaiting_decision", "stage": "awaiting_county_decision",
                                                 "approved_amount_fen": 80000, "note": "free text"}), "free text")
    assert zh == "待决定：待县级审批，金额 800.00 元"
    assert en == "Awaiting a decision: awaiting the county's decision, amount ¥800.00"
    zh, en = render(*message_of("case.closed", {"outcome": "rejected", "status": "closed", "stage": "closed"}), "x")
    assert (zh, en) == ("结案：不予批准", "Closed: refused")
    zh, _ = render(*message_of("case.escalated", {"stage": "referred_to_committee", "escalated_to": "committee"}), "")
    assert zh == "已上报协调机制（一事一议）决定（提交协调机制（一事一议））"
    zh, en = render(*message_of("case.stalled", {"note": "stalled: no progress since 2022-08-10T02:00:00+00:00"}), "")
    assert zh == "案件停滞：stalled: no progress since 2022-08-10 10:00 (Beijing time)"


def test_a_step_or_status_the_table_does_not_list_is_shown_by_its_key():
    zh, en = render("case.updated", {"status": "open", "stage": "a_new_step"}, "")
    assert (zh, en) == ("办理中：a_new_step", "In progress: a_new_step")


@pytest.mark.parametrize("code", [None, "case.something_new", "referral.opened"])
def test_an_unknown_code_falls_back_to_the_note_in_yuan_and_beijing_time(code: str | None):
    note = "approved by the county: 195000 fen, decide by 2022-08-10T16:00:00Z"
    text = "approved by the county: ¥1,950.00, decide by 2022-08-11 00:00 (Beijing time)"
    assert render(code, {}, note) == (text, text)


def test_every_code_renders_with_no_parameters_at_all():
    """An entry whose event lacked a field still renders (never a 500 on the case view)."""
    for code in RENDERERS:
        zh, en = render(code, {}, "")
        assert isinstance(zh, str) and isinstance(en, str)


def test_numbers_in_words_are_not_mistaken_for_fen():
    assert humanise_note("installment 2, chunk 3/4; pay-195000") == "installment 2, chunk 3/4; pay-195000"
    assert humanise_note("level unchanged at 65000 fen: stable") == "level unchanged at ¥650.00: stable"


def test_the_entry_keeps_its_fields_and_gains_the_words():
    """The public contract: the existing fields stay; code, params, text_zh, text_en are added."""
    fields = set(TimelineEntry.model_fields)
    assert {"at", "event", "status", "stage", "note"} <= fields
    assert {"code", "params", "text_zh", "text_en"} <= fields
