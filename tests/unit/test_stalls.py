"""Why a case is stalled, from Temporal's pending activities (services/operations/stalls.py): an activity
nobody picks up, one whose attempts keep failing (a hung or stopped worker), named with its attempt against
the retry policy's maximum, in English and Chinese."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.failure.v1 import Failure, TimeoutFailureInfo
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
from temporalio.converter import DataConverter

from services.operations import stalls
from shared.contracts import activities as act

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SCHEDULED = PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
STARTED = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED


def pending(*, attempt: int, state: int, scheduled_ago: timedelta, maximum: int = 6,
            kind: str = act.DISBURSE, failure: str | None = None) -> PendingActivityInfo:
    pa = PendingActivityInfo(activity_id="7", attempt=attempt, maximum_attempts=maximum, state=state,  # type: ignore[arg-type]  # protobuf enum as int
                             last_worker_identity="4242@payment")
    pa.activity_type.name = kind
    pa.scheduled_time.FromDatetime(NOW - scheduled_ago)
    if state == STARTED:
        pa.last_started_time.FromDatetime(NOW - scheduled_ago + timedelta(milliseconds=5))
    if failure:
        pa.last_failure.CopyFrom(Failure(message=failure, timeout_failure_info=TimeoutFailureInfo()))
    return pa


def test_a_payment_on_its_fifth_of_six_attempts_is_stalled_with_the_attempt_in_both_languages():
    reason = stalls.activity_reason(pending(attempt=5, state=STARTED, scheduled_ago=timedelta(seconds=3)),
                                    "activity StartToClose timeout", NOW)
    assert reason is not None
    assert reason.en.startswith("payment attempt 5/6 (payment.disburse)")
    assert "last failure: activity StartToClose timeout" in reason.en and "4242@payment" in reason.en
    assert reason.zh.startswith("支付第 5/6 次尝试（payment.disburse）")
    assert "上次失败：activity StartToClose timeout" in reason.zh


def test_one_or_two_attempts_of_a_running_activity_are_no_stall():
    for attempt in (1, 2):
        assert stalls.activity_reason(pending(attempt=attempt, state=STARTED, scheduled_ago=timedelta(minutes=1)),
                                      "boom", NOW) is None


def test_an_activity_nobody_picks_up_is_stalled_after_a_minute_not_before():
    young = pending(attempt=1, state=SCHEDULED, scheduled_ago=stalls.NOT_PICKED_UP_AFTER - timedelta(seconds=1))
    assert stalls.activity_reason(young, None, NOW) is None
    old = pending(attempt=1, state=SCHEDULED, scheduled_ago=stalls.NOT_PICKED_UP_AFTER)
    reason = stalls.activity_reason(old, None, NOW)
    assert reason is not None
    assert reason.en == ("payment attempt 1/6 (payment.disburse); no worker has picked it up since "
                         "2026-12-01T11:59:00+00:00")
    # 11:59 UTC is 19:59 in Beijing
    assert reason.zh == "支付第 1/6 次尝试（payment.disburse）；自 2026-12-01 19:59:00（北京时间）起无工作进程领取"


def test_an_unlimited_retry_policy_and_an_unknown_activity_type_are_named_as_they_are():
    reason = stalls.activity_reason(pending(attempt=9, maximum=0, kind="intake.something_new", state=STARTED,
                                            scheduled_ago=timedelta(seconds=1)), None, NOW)
    assert reason is not None
    assert reason.en.startswith("intake.something_new attempt 9 (intake.something_new)")
    assert reason.zh.startswith("intake.something_new第 9 次尝试")


@dataclass
class FakeHandle:
    answer: DescribeWorkflowExecutionResponse | Exception

    async def describe(self, **_: Any) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer

        @dataclass
        class Description:
            raw_description: DescribeWorkflowExecutionResponse
        return Description(self.answer)


@dataclass
class FakeTemporal:
    answers: dict[str, DescribeWorkflowExecutionResponse | Exception]
    data_converter: DataConverter = field(default_factory=lambda: DataConverter.default)

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(self.answers[workflow_id])


async def test_the_sweep_reads_each_cases_pending_activities_and_leaves_out_a_case_temporal_did_not_answer():
    hung = DescribeWorkflowExecutionResponse(pending_activities=[
        pending(attempt=4, state=STARTED, scheduled_ago=timedelta(seconds=2), failure="activity StartToClose timeout")])
    fine = DescribeWorkflowExecutionResponse(pending_activities=[
        pending(attempt=1, state=STARTED, scheduled_ago=timedelta(seconds=2))])
    temporal = FakeTemporal({"hung": hung, "fine": fine, "idle": DescribeWorkflowExecutionResponse(),
                             "down": RuntimeError("unavailable")})
    out = await stalls.pending_activity_reasons(temporal, ["hung", "fine", "idle", "down"], NOW)  # type: ignore[arg-type]  # a fake client
    assert set(out) == {"hung", "fine", "idle"}  # "down": unknown, its mark stays as it is
    assert out["fine"] == out["idle"] == []
    [reason] = out["hung"]
    assert "payment attempt 4/6" in reason.en and "activity StartToClose timeout" in reason.en
    assert "支付第 4/6 次尝试" in reason.zh


def test_quiet_open_cases_are_asked_about_stalled_first_then_the_most_recently_moved():
    def row(case_id: str, ago: timedelta, *, stalled: bool = False, status: str = "open") -> dict[str, Any]:
        return {"case_id": case_id, "status": status, "stalled": stalled, "updated_at": NOW - ago}

    rows = [row("busy", timedelta(seconds=1)), row("old", timedelta(days=30)), row("recent", timedelta(minutes=2)),
            row("marked", timedelta(days=60), stalled=True), row("done", timedelta(hours=1), status="closed")]
    assert stalls.cases_to_describe(rows, NOW) == ["marked", "recent", "old"]  # type: ignore[arg-type]  # dicts as rows


# -- the sweep's verdicts: mark once, follow the attempt count, clear on recovery, keep when unknown ----------

class FakeOps:
    """OperationsStore's two context managers; the store functions are replaced in ``sweep_world``."""

    class _Conn:
        pass

    def read(self) -> Any:
        return self._cm()

    def transaction(self) -> Any:
        return self._cm()

    @staticmethod
    def _cm() -> Any:
        import contextlib

        @contextlib.asynccontextmanager
        async def cm() -> Any:
            yield FakeOps._Conn()
        return cm()


@dataclass
class SweepWorld:
    rows: list[dict[str, Any]]
    marked: list[tuple[str, str, str | None]] = field(default_factory=list)
    updated: list[tuple[str, str, str]] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)


def sweep_world(monkeypatch: Any, rows: list[dict[str, Any]]) -> SweepWorld:
    from services.operations import store, sweep

    world = SweepWorld(rows)

    async def cases_to_sweep(conn: Any) -> list[dict[str, Any]]:
        return world.rows

    async def mark_stalled(conn: Any, case_id: str, reason: str, at: datetime, *, reason_zh: str | None = None) -> None:
        world.marked.append((case_id, reason, reason_zh))

    async def update_stalled_reason(conn: Any, case_id: str, reason: str, reason_zh: str) -> None:
        world.updated.append((case_id, reason, reason_zh))

    async def clear_stalled(conn: Any, case_id: str) -> None:
        world.cleared.append(case_id)

    async def add_to_outbox(conn: Any, **_: Any) -> None:
        pass

    for name, fake in [("cases_to_sweep", cases_to_sweep), ("mark_stalled", mark_stalled),
                       ("update_stalled_reason", update_stalled_reason), ("clear_stalled", clear_stalled)]:
        monkeypatch.setattr(store, name, fake)
    monkeypatch.setattr(sweep, "add_to_outbox", add_to_outbox)
    monkeypatch.setattr(sweep.referrals, "note_overdue", add_to_outbox)  # (overdue referrals: not this test's)
    monkeypatch.setattr(sweep.duty_events, "note_care_overdue", add_to_outbox)  # (nor overdue care visits)
    return world


def case_row(case_id: str, *, stalled: bool = False, reason: str | None = None, reason_zh: str | None = None,
             stage: str = "approved") -> dict[str, Any]:
    return {"case_id": case_id, "pathway": "emergency_relief", "status": "open", "stage": stage,
            "person_id": None, "household_id": None, "region_code": "640104", "cause_event_id": None,
            "deadlines": [], "flags": [], "updated_at": NOW - timedelta(minutes=2), "stalled": stalled,
            "stalled_reason": reason, "stalled_reason_zh": reason_zh}


class SignalledTemporal(FakeTemporal):
    def get_workflow_handle(self, workflow_id: str) -> Any:
        handle = super().get_workflow_handle(workflow_id)

        async def signal(*_: Any) -> None:
            pass
        handle.signal = signal  # type: ignore[attr-defined]  # the sweep's mark_stalled signal, accepted
        return handle


async def test_the_sweep_marks_once_follows_the_attempt_count_clears_on_recovery_and_keeps_an_unknown(monkeypatch):
    from services.operations.sweep import sweep

    def hung(attempt: int) -> DescribeWorkflowExecutionResponse:
        return DescribeWorkflowExecutionResponse(pending_activities=[pending(
            attempt=attempt, state=STARTED, scheduled_ago=timedelta(seconds=2),
            failure="activity StartToClose timeout")])

    world = sweep_world(monkeypatch, [case_row("new"), case_row("moving"), case_row("recovered"), case_row("unknown")])
    temporal = SignalledTemporal({"new": hung(3), "moving": hung(4), "recovered": DescribeWorkflowExecutionResponse(),
                                  "unknown": RuntimeError("Temporal is restarting")})
    # "moving" was marked at attempt 3 by an earlier sweep; "recovered" and "unknown" were marked earlier too
    reason3 = stalls.activity_reason(hung(3).pending_activities[0], "activity StartToClose timeout", NOW)
    assert reason3 is not None
    world.rows[1].update(stalled=True, stalled_reason=reason3.en, stalled_reason_zh=reason3.zh)
    world.rows[2].update(stalled=True, stalled_reason="payment attempt 6/6 ...")
    world.rows[3].update(stalled=True, stalled_reason="payment attempt 5/6 ...")

    result = await sweep(FakeOps(), temporal, NOW)  # type: ignore[arg-type]  # fakes
    assert result.stalled == ["new"] and result.recovered == ["recovered"]
    [(case_id, reason, reason_zh)] = world.marked
    assert case_id == "new" and "payment attempt 3/6" in reason and reason_zh and "支付第 3/6 次尝试" in reason_zh
    [(case_id, reason, reason_zh)] = world.updated  # the same mark, its reason now at attempt 4
    assert case_id == "moving" and "payment attempt 4/6" in reason and "支付第 4/6 次尝试" in reason_zh
    assert world.cleared == ["recovered"]  # "unknown" keeps its mark until Temporal answers for it
