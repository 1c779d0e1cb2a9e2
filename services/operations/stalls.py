"""Why a case is stalled, in English and Chinese: from the read model (deadlines, flags, a system step without
progress) and from Temporal's own view of the case's pending activities (an activity nobody picks up, or one
whose attempts keep failing: a hung or stopped worker times out attempt after attempt).

The read model alone cannot see the second kind: a case whose payment worker hangs still reads "approved"
(the workflow records no transition while it pays), so the sweep asks Temporal (``describe()``) for the
pending activities of the open cases and names the step, its attempt against the retry policy's maximum, the
activity type and the last failure: "payment attempt 5/6 (payment.disburse) ..." / 「支付第 5/6 次尝试 ...」.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client

from shared.contracts import activities as act

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")

# An activity task is matched to a waiting worker in milliseconds: one scheduled this long ago that no worker
# has started means no worker polls its queue (down, stopped, or every slot hung).
NOT_PICKED_UP_AFTER = timedelta(seconds=60)
# Two failed attempts in a row (an error, or a start-to-close / heartbeat timeout of a hung worker) is no
# passing blip: the third attempt is on the attention list while it runs.
FAILING_FROM_ATTEMPT = 3
# Cases that moved this recently are not asked about (their step is running); each sweep asks Temporal about
# at most DESCRIBE_LIMIT cases (those already marked stalled first, then the most recently moved: a step that
# stops stops right after a transition), DESCRIBE_CONCURRENCY at a time.
QUIET_FOR = timedelta(seconds=20)
DESCRIBE_LIMIT = 1000
DESCRIBE_CONCURRENCY = 8
DESCRIBE_TIMEOUT = timedelta(seconds=5)


@dataclass(frozen=True)
class StallReason:
    en: str
    zh: str


@dataclass(frozen=True)
class StepLabel:
    en: str
    zh: str


# The step a pending activity is, as the attention list names it (an unknown type is named by itself).
ACTIVITY_STEPS: dict[str, StepLabel] = {
    act.DISBURSE: StepLabel("payment", "支付"),
    act.OPEN_RECOVERY: StepLabel("recovery", "追回"),
    act.PAY_PERIOD_ROLL: StepLabel("period payment", "按期发放"),
    act.LOOKUP_RECIPIENT: StepLabel("recipient look-up", "对象信息查询"),
    act.RECORD_CASE_TRANSITION: StepLabel("case record", "案件记录"),
    act.RECORD_CASE_TRANSITIONS: StepLabel("case record", "案件记录"),
    act.OPEN_CASE: StepLabel("case opening", "立案"),
    act.CHECK_ECONOMIC_STATUS: StepLabel("economic check", "经济状况核对"),
    act.CONFIRM_EVENT: StepLabel("event confirmation", "事件核实"),
    act.DECIDE_WITHIN_AUTHORITY: StepLabel("decision within authority", "权限内审批"),
    act.RECORD_DECISION: StepLabel("decision record", "审批记录"),
    act.OPEN_TASK: StepLabel("task opening", "待办创建"),
    act.CLOSE_TASK: StepLabel("task closing", "待办关闭"),
}
# The steps a workflow waits on an administrator's retry for (``<step>_failed`` flags, workflows/common.py).
FAILED_STEPS: dict[str, StepLabel] = {"payment": StepLabel("payment", "支付")}


def beijing(at: datetime) -> str:
    """A time as a person in China reads it."""
    return f"{at.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}（北京时间）"


def utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


# -- from the read model ----------------------------------------------------------------------------------

def read_model_reasons(row: asyncpg.Record, now: datetime, stuck_after: timedelta, *, system_steps: set[str],
                       overdue_flags: set[str]) -> list[StallReason]:
    """Deadlines passed, steps failed after their retries, lapsed-deadline flags, a system step without
    progress for longer than ``stuck_after``."""
    reasons = []
    for d in row["deadlines"] or []:
        due = datetime.fromisoformat(d["due"])
        if due < now:
            reasons.append(StallReason(f"{d['kind']} deadline passed {due.isoformat()}",
                                       f"{d['kind']} 期限已过（{beijing(due)}）"))
    flags = set(row["flags"] or [])
    for flag in sorted(f for f in flags if f.endswith("_failed")):
        step = flag.removesuffix("_failed")
        label = FAILED_STEPS.get(step, StepLabel(step, step))
        reasons.append(StallReason(f"step failed after its retries: {step}",
                                   f"{label.zh}步骤重试后仍失败，等待管理员重试"))
    reasons += [StallReason(f"overdue: {f}", f"逾期：{f}") for f in sorted(flags & overdue_flags)]
    if row["stage"] in system_steps and row["updated_at"] < now - stuck_after:
        reasons.append(StallReason(f"no progress in {row['stage']} since {row['updated_at'].isoformat()}",
                                   f"{row['stage']} 阶段自 {beijing(row['updated_at'])}起无进展"))
    return reasons


# -- from Temporal's pending activities -------------------------------------------------------------------

def activity_reason(pa: PendingActivityInfo, last_failure: str | None, now: datetime) -> StallReason | None:
    """A pending activity that cannot make progress, or None: one nobody picked up for NOT_PICKED_UP_AFTER,
    or one on its FAILING_FROM_ATTEMPT-th attempt or later."""
    kind = pa.activity_type.name
    step = ACTIVITY_STEPS.get(kind, StepLabel(kind, kind))
    scheduled = pa.scheduled_time.ToDatetime(tzinfo=UTC) if pa.HasField("scheduled_time") else None
    waiting = (pa.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED and scheduled is not None
               and scheduled <= now - NOT_PICKED_UP_AFTER)
    if not waiting and pa.attempt < FAILING_FROM_ATTEMPT:
        return None
    of = f"{pa.attempt}/{pa.maximum_attempts}" if pa.maximum_attempts else f"{pa.attempt}"
    en = [f"{step.en} attempt {of} ({kind})"]
    zh = [f"{step.zh}第 {of} 次尝试（{kind}）"]
    if waiting and scheduled is not None:
        en.append(f"no worker has picked it up since {utc(scheduled)}")
        zh.append(f"自 {beijing(scheduled)}起无工作进程领取")
    elif pa.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED and pa.HasField("last_started_time"):
        started = pa.last_started_time.ToDatetime(tzinfo=UTC)
        en.append(f"running since {utc(started)} on {pa.last_worker_identity or 'a worker'}")
        zh.append(f"自 {beijing(started)}起执行中（{pa.last_worker_identity or '工作进程'}）")
    if last_failure:
        en.append(f"last failure: {last_failure}")
        zh.append(f"上次失败：{last_failure}")
    return StallReason("; ".join(en), "；".join(zh))


async def _case_activity_reasons(temporal: Client, case_id: str, now: datetime) -> list[StallReason]:
    description = await temporal.get_workflow_handle(case_id).describe(rpc_timeout=DESCRIBE_TIMEOUT)
    reasons = []
    for pa in description.raw_description.pending_activities:
        failure = None
        if pa.HasField("last_failure"):
            # decoded like any failure the case's client reads: an application error's message may be sealed
            err = await temporal.data_converter.decode_failure(pa.last_failure)
            failure = (str(err) or type(err).__name__)[:300]
        reason = activity_reason(pa, failure, now)
        if reason is not None:
            reasons.append(reason)
    return reasons


def cases_to_describe(rows: Iterable[asyncpg.Record], now: datetime) -> list[str]:
    """The open cases to ask Temporal about this sweep (see DESCRIBE_LIMIT)."""
    quiet = [r for r in rows if r["status"] != "closed" and r["updated_at"] <= now - QUIET_FOR]
    quiet.sort(key=lambda r: (not r["stalled"], -r["updated_at"].timestamp()))
    if len(quiet) > DESCRIBE_LIMIT:
        log.warning("stalled sweep: %d quiet open cases, asking Temporal about %d", len(quiet), DESCRIBE_LIMIT)
    return [r["case_id"] for r in quiet[:DESCRIBE_LIMIT]]


async def pending_activity_reasons(temporal: Client | None, case_ids: Sequence[str], now: datetime
                                   ) -> dict[str, list[StallReason]]:
    """Each case's stalled pending activities; a case Temporal did not answer for is absent (unknown: the
    sweep leaves its mark as it is)."""
    if temporal is None or not case_ids:
        return {}
    gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)
    out: dict[str, list[StallReason]] = {}

    async def one(case_id: str) -> None:
        async with gate:
            try:
                out[case_id] = await _case_activity_reasons(temporal, case_id, now)
            except Exception as exc:  # Temporal down, or a case without a workflow: unknown this time
                log.info("stalled sweep: could not describe %s: %s", case_id, exc)

    await asyncio.gather(*(one(c) for c in case_ids))
    return out
