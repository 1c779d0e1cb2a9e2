"""Approval's activities (task queue ``approval``). Idempotent: a decision is recorded once per step."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from services.approval.authority import township_decision
from shared.contracts import activities as act


class ApprovalActivities:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @activity.defn(name=act.DECIDE_WITHIN_AUTHORITY)
    async def decide_within_authority(self, request: act.ApprovalRequest) -> act.ApprovalOutcome:
        outcome = township_decision(request)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """
                INSERT INTO decisions (case_id, step, decision, tier, amount_fen, decided_by, reason, measure,
                                       region_code, township_limit_fen)
                VALUES ($1, 'township', $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (case_id, step) DO UPDATE SET case_id = decisions.case_id
                RETURNING decision, tier, amount_fen, decided_by, reason, township_limit_fen
                """,
                request.case_id, outcome.decision, outcome.tier, outcome.amount_fen, outcome.decided_by,
                outcome.reason, request.measure, request.region_code, outcome.township_limit_fen,
            )
        # A retry returns what was decided the first time.
        return outcome.model_copy(update=dict(row))

    @activity.defn(name=act.RECORD_DECISION)
    async def record_decision(self, record: act.DecisionRecord) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                """
                INSERT INTO decisions (case_id, step, decision, tier, amount_fen, decided_by, role, reason,
                                       measure, region_code, decided_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                ON CONFLICT (case_id, step) DO NOTHING
                """,
                record.case_id, record.step, record.decision, record.tier, record.amount_fen, record.decided_by,
                record.role, record.reason, record.measure, record.region_code, record.at,
            )

    @activity.defn(name=act.OPEN_TASK)
    async def open_task(self, task: act.TaskOpen) -> str:
        task_id = f"{task.case_id}:{task.kind}"
        async with self._pool.acquire() as conn:
            await conn.execute(
                """
                INSERT INTO tasks (task_id, case_id, pathway, kind, role, region_code, amount_fen, summary, due_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (task_id) DO UPDATE SET due_at = EXCLUDED.due_at, summary = EXCLUDED.summary,
                    role = EXCLUDED.role, closed_at = NULL, closed_by = NULL, outcome = NULL
                    WHERE tasks.closed_at IS NULL
                """,
                task_id, task.case_id, task.pathway, task.kind, task.role, task.region_code, task.amount_fen,
                task.summary, task.due_at,
            )
        return task_id

    @activity.defn(name=act.CLOSE_TASK)
    async def close_task(self, task: act.TaskClose) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE tasks SET closed_at = now(), closed_by = $2, outcome = $3"
                " WHERE task_id = $1 AND closed_at IS NULL",
                f"{task.case_id}:{task.kind}", task.closed_by, task.outcome,
            )

    @activity.defn(name=act.COMMITTEE_ROSTER)
    async def committee_roster(self, request: act.RosterRequest) -> act.Roster:
        county = request.region_code[:6]
        async with self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT member_id, name, department, chair FROM committee_members"
                                    " WHERE county_code = $1 AND active ORDER BY member_id", county)
        return act.Roster(county_code=county, members=[act.CommitteeMember(**dict(r)) for r in rows])

    @activity.defn(name=act.RECORD_MINUTES)
    async def record_minutes(self, minutes: act.Minutes) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO minutes (case_id, parent_case_id, county_code, opinions, decision, quorum, recorded_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id) DO NOTHING",
                minutes.case_id, minutes.parent_case_id, minutes.county_code, minutes.opinions, minutes.decision,
                minutes.quorum, minutes.recorded_at)
