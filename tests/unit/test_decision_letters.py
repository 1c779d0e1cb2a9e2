"""Decision records and their letters (决定书, 审批表): built from the case's facts, in Chinese, the amount in
yuan from integer fen, the rule with its seed quote, and how and by when to ask for 复核 or to 申诉."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader
from temporalio.client import WorkflowExecutionStatus

from services.approval.decision_records import CaseFacts, build_record
from services.approval.store_decisions import DecisionRow
from shared.documents.letters import approval_form, decision_letter
from shared.documents.records import remedies, rule_of, yuan
from shared.infra.errors import NotFound

NINGXIA = "640205"


def text_of(pdf: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages))


@pytest.mark.parametrize(("fen", "shown"), [
    (0, "0.00"), (1, "0.01"), (99, "0.99"), (100, "1.00"), (195000, "1,950.00"),
    (2**63 - 1, "92,233,720,368,547,758.07"), (-105000, "-1,050.00"),
])
def test_yuan_from_integer_fen(fen: int, shown: str):
    assert yuan(fen) == shown


def row(decision: str, **over: object) -> DecisionRow:
    base = {"step": "county", "decision": decision, "tier": "county", "amount_fen": 0, "decided_by": "county-ma",
            "role": "county_approver", "reason": "申报收入与核查不符", "measure": "dibao", "region_code": NINGXIA,
            "decided_at": datetime(2026, 12, 1, 17, 0, tzinfo=UTC)}  # 2026-12-02 01:00 Beijing time
    return DecisionRow(**{**base, **over})


def facts(result: dict[str, object] | None, status: WorkflowExecutionStatus = WorkflowExecutionStatus.COMPLETED,
          pathway: str = "renewal") -> CaseFacts:
    return CaseFacts("Renewal", pathway, NINGXIA, status, datetime(2026, 12, 1, 17, 5, tzinfo=UTC), result)


def test_a_refusal_names_the_official_the_reason_the_rule_and_the_deadline():
    r = build_record("rn-1", facts({"outcome": "rejected", "reason": "refused by county-ma: 申报收入与核查不符"}),
                     [row("rejected")], 105000, appeal_exists=False)
    assert (r.outcome, r.amount_fen, r.policy_amount_fen, r.decided_by) == ("refused", 0, 105000, "county-ma")
    assert r.decided_on == date(2026, 12, 2)  # Beijing time
    # seed 002: Ningxia's standard, the figure the level rests on
    assert r.rule.quote == "城乡低保标准，分别提高到每人每月650元、每人每年5520元"
    assert (r.rule.pack_id, r.rule.pack_version) == ("ningxia-2022-20-measures", "2022.1")
    # local practice (national pack): 60 days to ask; national law: 60 days 行政复议, 6 months 行政诉讼
    assert r.remedies.reconsideration_deadline == date(2027, 1, 31)
    assert (r.remedies.administrative_review_days, r.remedies.administrative_litigation_months) == (60, 6)
    assert "reconsideration_request_days" in r.remedies.local_practice
    letter = text_of(decision_letter(r))
    for words in ("社会救助决定书", "不予批准", "申报收入与核查不符", "0.00元", "1,050.00元", "复核", "申诉",
                  "2027-01-31", "county-ma", "ningxia-2022-20-measures@2022.1", "每人每月650元"):
        assert words in letter, (words, letter)
    form = text_of(approval_form(r))
    assert "社会救助审批表" in form and "不予批准" in form and "复核期限" in form


def test_an_exit_is_decided_by_the_policy_and_a_recovery_by_its_official():
    exit_ = build_record("rn-2", facts({"outcome": "terminated", "reason": "exit 2026-12: income above the standard",
                                        "paid_fen": 630000}), [], None, appeal_exists=True)
    assert (exit_.outcome, exit_.decided_by, exit_.amount_fen) == ("exit", "policy", 630000)
    assert exit_.appeal_id == "rc-rn-2"
    recovery = build_record("er-1", facts(None, WorkflowExecutionStatus.RUNNING, "emergency_relief"),
                            [row("recover", amount_fen=195000, measure="quarantine", region_code="650102")], None,
                            appeal_exists=False)
    assert (recovery.outcome, recovery.outcome_zh, recovery.amount_fen) == ("recovery", "追回", 195000)


def test_a_running_case_answers_its_approval_and_none_before_any_decision():
    approved = build_record("er-2", facts(None, WorkflowExecutionStatus.RUNNING, "emergency_relief"),
                            [row("approved", amount_fen=195000, measure="quarantine")], None, appeal_exists=False)
    assert (approved.outcome, approved.amount_fen, approved.decided_by) == ("approved", 195000, "county-ma")
    assert "1,950.00元" in text_of(decision_letter(approved))
    township = build_record("er-3", facts(None, WorkflowExecutionStatus.RUNNING, "emergency_relief"),
                            [row("approved", amount_fen=50000, role="system", decided_by="system")], None,
                            appeal_exists=False)
    assert township.decided_by == "policy"  # within the township's authority: no person decided
    with pytest.raises(NotFound):
        build_record("er-4", facts(None, WorkflowExecutionStatus.RUNNING), [], None, appeal_exists=False)


def test_a_region_without_a_measure_of_its_own_cites_the_national_periods():
    r = remedies("650102", date(2022, 9, 1))
    assert r.reconsideration_days == 60 and r.complaint_answer_days == 15
    assert rule_of("no_such_measure", "650102", date(2022, 9, 1)).citation == "—"


def test_an_approval_below_the_amount_put_before_the_official_is_a_reduction():
    """减发: the county approved 1,300 yuan of the 1,950 the policy proposed; the letter says both."""
    reduced = build_record("er-5", facts(None, WorkflowExecutionStatus.RUNNING, "emergency_relief"),
                           [row("approved", amount_fen=130000, measure="quarantine")], 195000, appeal_exists=False)
    assert (reduced.outcome, reduced.outcome_zh, reduced.amount_fen, reduced.policy_amount_fen) == (
        "reduced", "减发", 130000, 195000)
    text = text_of(decision_letter(reduced))
    assert "减发" in text and "1,300.00元" in text and "1,950.00元" in text
    full = build_record("er-6", facts(None, WorkflowExecutionStatus.RUNNING, "emergency_relief"),
                        [row("approved", amount_fen=195000, measure="quarantine")], 195000, appeal_exists=False)
    assert (full.outcome, full.policy_amount_fen) == ("approved", None)
