"""The stalled-case sweep: which open cases cannot make progress - past their deadline, a step failed after
its retries, a system step without progress for too long (the read model), or a pending activity nobody picks
up or whose attempts keep failing (Temporal's view: services/operations/stalls.py). Flagged in the read model
with the reason in English and Chinese, published as ``doudi.case.stalled`` and mirrored into the workflow's
DoudiStalled search attribute. Run every minute by the long-lived sweep workflow, or on demand by an admin."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from temporalio.client import Client

from services.operations import duty_events, referrals, store
from services.operations.stalls import StallReason, cases_to_describe, pending_activity_reasons, read_model_reasons
from services.operations.store import OperationsStore
from shared.contracts.domain_events import CASE_STALLED, CaseEventData, domain_cloudevent
from shared.infra.outbox import add_to_outbox
from workflows.common import CaseSteps, StallMark

log = logging.getLogger(__name__)
SOURCE = "urn:doudi:operations"

# Steps the system performs itself (not waiting for a person or a date): no progress in these for
# longer than this means something is stuck (a service down, a bug).
SYSTEM_STEPS = {"opened", "looking_up_recipient", "assessing", "approving", "paying", "verifying", "checking"}
OVERDUE_FLAGS = {"documents_overdue", "county_decision_overdue", "committee_overdue"}


@dataclass
class SweepResult:
    checked: int = 0
    stalled: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)


async def sweep(ops: OperationsStore, temporal: Client | None, now: datetime,
                stuck_after: timedelta = timedelta(minutes=5)) -> SweepResult:
    result = SweepResult()
    async with ops.read() as conn:
        rows = await store.cases_to_sweep(conn)
    asked = cases_to_describe(rows, now) if temporal is not None else []
    pending = await pending_activity_reasons(temporal, asked, now)
    unknown = set(asked) - set(pending)  # Temporal did not answer for these: their marks stay as they are
    for row in rows:
        result.checked += 1
        case_id = row["case_id"]
        reasons: list[StallReason] = []
        if row["status"] != "closed":
            reasons = read_model_reasons(row, now, stuck_after, system_steps=SYSTEM_STEPS,
                                         overdue_flags=OVERDUE_FLAGS) + pending.get(case_id, [])
        en, zh = "; ".join(r.en for r in reasons), "；".join(r.zh for r in reasons)
        if reasons and not row["stalled"]:
            await _mark(ops, row, en, zh, now)
            result.stalled.append(case_id)
            await _signal(temporal, case_id, True, en)
        elif reasons and (en, zh) != (row["stalled_reason"], row["stalled_reason_zh"]):
            async with ops.read() as conn:  # still stalled, for a reason that moved (the attempt count)
                await store.update_stalled_reason(conn, case_id, en, zh)
        elif not reasons and row["stalled"] and case_id not in unknown:
            async with ops.read() as conn:
                await store.clear_stalled(conn, case_id)
            result.recovered.append(case_id)
            await _signal(temporal, case_id, False, "progress resumed")
    async with ops.transaction() as conn:  # 转介 past due: once on its case's timeline (referrals.py)
        await referrals.note_overdue(conn)
    async with ops.transaction() as conn:  # a 特困 person's visit past due: once per due date on the bus
        await duty_events.note_care_overdue(conn)
    return result


async def _mark(ops: OperationsStore, row: asyncpg.Record, reason: str, reason_zh: str, now: datetime) -> None:
    event_id = f"{row['case_id']}:stalled:{int(row['updated_at'].timestamp())}"
    data = CaseEventData(case_id=row["case_id"], pathway=row["pathway"], status=row["status"],
                         stage=row["stage"], person_id=row["person_id"], household_id=row["household_id"],
                         region_code=row["region_code"],
                         cause_event_id=row["cause_event_id"], note=f"stalled: {reason}", occurred_at=now)
    async with ops.transaction() as conn:
        await store.mark_stalled(conn, row["case_id"], reason, now, reason_zh=reason_zh)
        await add_to_outbox(conn, schema=store.SCHEMA, event_id=event_id, subject=CASE_STALLED,
                            payload=domain_cloudevent(CASE_STALLED, event_id, data, source=SOURCE, time=now))


async def _signal(temporal: Client | None, case_id: str, stalled: bool, reason: str) -> None:
    if temporal is None:
        return
    try:
        await temporal.get_workflow_handle(case_id).signal(CaseSteps.mark_stalled,
                                                            StallMark(stalled=stalled, reason=reason))
    except Exception as exc:  # a failed or finished workflow cannot take it; the read model still shows it
        log.info("could not mark %s stalled=%s in Temporal: %s", case_id, stalled, exc)
