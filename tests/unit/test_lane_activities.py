"""The services' batch activities of the straight-through lane (docs/adr/0021), each run as Temporal runs an
activity (``ActivityEnvironment``) over fakes of its store: one case's failure is that case's None (the lane
hands it over), the others are decided or paid. Intake's ``start_lane_cases``: tests/unit/test_intake_lane.py."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from services.approval.activities import ApprovalActivities
from services.payment import ledger
from services.payment.activities import PaymentActivities
from shared.contracts import activities as act
from tests.unit.fakes import NO_DATABASE

# -- approval -----------------------------------------------------------------------------------------------


class RecordingDecisions:
    """Approval's store: each township decision recorded (a retry would answer the first one)."""

    def __init__(self) -> None:
        self.recorded: list[str] = []

    async def record_township_decision(self, request: act.ApprovalRequest, outcome: act.ApprovalOutcome
                                       ) -> dict[str, Any]:
        self.recorded.append(request.case_id)
        return {}


def approval_request(case_id: str, region: str = "640104") -> act.ApprovalRequest:
    return act.ApprovalRequest(case_id=case_id, pathway="emergency_relief", measure="quarantine", region_code=region,
                               business_date=date(2022, 6, 7), amount_fen=195000, direct_payment=True,
                               economic_check_required=False)


async def test_a_case_whose_decision_raises_is_none_and_the_others_are_decided() -> None:
    decisions = RecordingDecisions()
    activities = ApprovalActivities(decisions)  # type: ignore[arg-type]  # only the recording is reached
    batch = act.ApprovalRequests(requests=[approval_request("er-1"), approval_request("er-2", region="64-01"),
                                           approval_request("er-3")])
    answer = await ActivityEnvironment().run(activities.decide_within_authority_many, batch)
    assert [o.case_id if o else None for o in answer.outcomes] == ["er-1", None, "er-3"]  # in the requests' order
    assert all(o is None or o.decision == "approved" for o in answer.outcomes)
    assert decisions.recorded == ["er-1", "er-3"]  # the policy refused er-2's region before anything was recorded


# -- payment ------------------------------------------------------------------------------------------------


def disbursement(case_id: str) -> act.DisbursementRequest:
    return act.DisbursementRequest(idempotency_key=f"{case_id}:1", case_id=case_id, pathway="emergency_relief",
                                   person_id="11010519491231002X", region_code="640104001", amount_fen=195000,
                                   account=act.account(act.TOWNSHIP_RESERVE, "640104001"), measure="quarantine")


async def test_a_case_whose_payment_raises_is_none_and_the_others_are_paid(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    async def disburse(pool: Any, request: act.DisbursementRequest) -> act.Disbursement:
        asked.append(request.idempotency_key)
        if request.case_id == "er-2":
            raise RuntimeError("the ledger disagrees with the request")
        return act.Disbursement(payment_id=f"pay-{request.case_id}", idempotency_key=request.idempotency_key,
                                amount_fen=request.amount_fen)

    monkeypatch.setattr(ledger, "disburse", disburse)
    nothing: Any = None  # only a case's payment is reached: no batch, cohort, chunk or period
    activities = PaymentActivities(NO_DATABASE, batches=nothing, cohorts=nothing, chunks=nothing, periods=nothing)
    batch = act.DisbursementRequests(requests=[disbursement(c) for c in ("er-1", "er-2", "er-3")])
    answer = await ActivityEnvironment().run(activities.disburse_many, batch)
    assert [r.payment_id if r else None for r in answer.results] == ["pay-er-1", None, "pay-er-3"]
    assert asked == ["er-1:1", "er-2:1", "er-3:1"]  # each under its own key, in its own call
