"""The stalled-case sweep: which open cases have made no progress past their deadline or their step's
time, flagged in the read model, published as ``doudi.case.stalled`` and mirrored into the workflow's
DoudiStalled search attribute. Run every minute by a Temporal Schedule, or on demand by an admin."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from temporalio.client import Client

from services.operations import referrals, store
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


def stall_reasons(row: asyncpg.Record, now: datetime, stuck_after: timedelta) -> list[str]:
    reasons = []
    for d in row["deadlines"] or []:
        due = datetime.fromisoformat(d["due"])
        if due < now:
            reasons.append(f"{d['kind']} deadline passed {due.isoformat()}")
    flags = set(row["flags"] or [])
    reasons += [f"step failed after its retries: {f.removesuffix('_failed')}" for f in sorted(flags)
                if f.endswith("_failed")]
    reasons += [f"overdue: {f}" for f in sorted(flags & OVERDUE_FLAGS)]
    if row["stage"] in SYSTEM_STEPS and row["updated_at"] < now - stuck_after:
        reasons.append(f"no progress in {row['stage']} since {row['updated_at'].isoformat()}")
    return reasons


async def sweep(ops: OperationsStore, temporal: Client | None, now: datetime,
                stuck_after: timedelta = timedelta(minutes=5)) -> SweepResult:
    result = SweepResult()
    async with ops.read() as conn:
        rows = await store.cases_to_sweep(conn)
    for row in rows:
        result.checked += 1
        reasons = stall_reasons(row, now, stuck_after) if row["status"] != "closed" else []
        if reasons and not row["stalled"]:
            await _mark(ops, row, "; ".join(reasons), now)
            result.stalled.append(row["case_id"])
            await _signal(temporal, row["case_id"], True, "; ".join(reasons))
        elif not reasons and row["stalled"]:
            async with ops.read() as conn:
                await store.clear_stalled(conn, row["case_id"])
            result.recovered.append(row["case_id"])
            await _signal(temporal, row["case_id"], False, "progress resumed")
    async with ops.transaction() as conn:  # 转介 past due: once on its case's timeline (referrals.py)
        await referrals.note_overdue(conn)
    return result


async def _mark(ops: OperationsStore, row: asyncpg.Record, reason: str, now: datetime) -> None:
    event_id = f"{row['case_id']}:stalled:{int(row['updated_at'].timestamp())}"
    data = CaseEventData(case_id=row["case_id"], pathway=row["pathway"], status=row["status"],
                         stage=row["stage"], person_id=row["person_id"], household_id=row["household_id"],
                         region_code=row["region_code"],
                         cause_event_id=row["cause_event_id"], note=f"stalled: {reason}", occurred_at=now)
    async with ops.transaction() as conn:
        await store.mark_stalled(conn, row["case_id"], reason, now)
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
