"""The approval service's store (schema ``approval``): every SQL statement of the service.

Decisions, task inboxes, county coordination committees and their minutes, the officials registry.
A single statement runs on the pool (no held connection); the committee's chair changes in one
transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from shared.contracts import activities as act

SCHEMA = "approval"

# ---- rows as the routes read them -------------------------------------------------------------------

class TaskRow(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "task_id": "task-em-7f3c2a91-approval", "case_id": "em-7f3c2a91", "pathway": "emergency_relief",
            "kind": "approval", "role": "county_approver", "region_code": "640104", "amount_fen": 195000,
            "summary": "临时救助 1,950.00 元待县级审批", "due_at": "2026-12-04T17:00:00+08:00",
            "opened_at": "2026-12-01T08:30:00+08:00", "overdue": False,
        },
    ]})

    task_id: str
    case_id: str
    pathway: str
    kind: str
    role: str
    region_code: str
    amount_fen: int | None
    summary: str
    due_at: datetime | None
    opened_at: datetime
    overdue: bool


class OpenMatterRow(BaseModel):
    case_id: str
    summary: str
    amount_fen: int | None
    due_at: datetime | None
    opened_at: datetime


class MinutesRow(BaseModel):
    case_id: str
    parent_case_id: str | None
    decision: Any
    opinions: Any
    recorded_at: datetime


class Official(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "subject": "wang.fang", "person_id": "640104197506203035", "name": "王芳", "roles": ["county_approver"],
            "jurisdiction": "640104", "active": True, "registered_by": "admin.zhao",
            "updated_at": "2026-12-01T08:30:00+08:00",
        },
    ]})

    subject: str
    person_id: str
    name: str
    roles: list[str]
    jurisdiction: str  # "" = every region
    active: bool
    registered_by: str
    updated_at: datetime


def _task_id(case_id: str, kind: str, round: int | None = None) -> str:
    """``<case_id>:<kind>``; a later round of a step a case takes again ``<case_id>:<kind>:<round>``."""
    return f"{case_id}:{kind}" if round is None else f"{case_id}:{kind}:{round}"


class ApprovalStore:
    """All of approval's SQL, on the service's pool (the routes and the activities are given this)."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    # ---- decisions -------------------------------------------------------------------------------------

    async def record_township_decision(self, request: act.ApprovalRequest,
                                       outcome: act.ApprovalOutcome) -> dict[str, Any]:
        """The township step's decision, once per case: a retry answers with what was decided the first
        time."""
        row = await self._pool.fetchrow(
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
        assert row is not None  # ON CONFLICT DO UPDATE always returns the row
        return dict(row)

    async def record_decision(self, record: act.DecisionRecord) -> None:
        await self._pool.execute(
            """
            INSERT INTO decisions (case_id, step, decision, tier, amount_fen, decided_by, role, reason,
                                   measure, region_code, decided_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (case_id, step) DO NOTHING
            """,
            record.case_id, record.step, record.decision, record.tier, record.amount_fen, record.decided_by,
            record.role, record.reason, record.measure, record.region_code, record.at,
        )

    # ---- tasks -----------------------------------------------------------------------------------------

    async def open_task(self, task: act.TaskOpen) -> str:
        """Open (or, while still open, refresh) a case's task of a kind; its id is ``<case_id>:<kind>``."""
        task_id = _task_id(task.case_id, task.kind, task.round)
        await self._pool.execute(
            """
            INSERT INTO tasks (task_id, case_id, pathway, kind, role, region_code, amount_fen, summary,
                               due_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (task_id) DO UPDATE SET due_at = EXCLUDED.due_at, summary = EXCLUDED.summary,
                role = EXCLUDED.role, closed_at = NULL, closed_by = NULL, outcome = NULL
                WHERE tasks.closed_at IS NULL
            """,
            task_id, task.case_id, task.pathway, task.kind, task.role, task.region_code, task.amount_fen,
            task.summary, task.due_at,
        )
        return task_id

    async def close_task(self, task: act.TaskClose) -> None:
        await self._pool.execute("UPDATE tasks SET closed_at = now(), closed_by = $2, outcome = $3"
                                 " WHERE task_id = $1 AND closed_at IS NULL",
                                 _task_id(task.case_id, task.kind, task.round), task.closed_by, task.outcome)

    async def open_tasks(self, region_prefix: str, role: str | None, kind: str | None) -> list[TaskRow]:
        """Open tasks inside a jurisdiction, of one role (None: every role) and kind (None: every kind)."""
        rows = await self._pool.fetch(
            """
            SELECT *, (due_at IS NOT NULL AND due_at < now()) AS overdue FROM tasks
            WHERE closed_at IS NULL AND starts_with(region_code, $1) AND ($2::text IS NULL OR role = $2)
              AND ($3::text IS NULL OR kind = $3)
            ORDER BY due_at NULLS LAST, opened_at
            """,
            region_prefix, role, kind,
        )
        return [TaskRow(**{k: r[k] for k in TaskRow.model_fields}) for r in rows]

    async def open_committee_matters(self, county_code: str) -> list[OpenMatterRow]:
        rows = await self._pool.fetch("SELECT case_id, summary, amount_fen, due_at, opened_at FROM tasks"
                                      " WHERE kind = 'committee' AND closed_at IS NULL"
                                      " AND starts_with(region_code, $1) ORDER BY due_at", county_code)
        return [OpenMatterRow(**dict(r)) for r in rows]

    # ---- committees ------------------------------------------------------------------------------------

    async def committee_members(self, county_code: str) -> list[act.CommitteeMember]:
        """The committee's active members, by member id."""
        rows = await self._pool.fetch("SELECT member_id, name, department, chair FROM committee_members"
                                      " WHERE county_code = $1 AND active ORDER BY member_id", county_code)
        return [act.CommitteeMember(**dict(r)) for r in rows]

    async def put_committee_member(self, county_code: str, member_id: str, *, name: str,
                                   department: str, chair: bool, active: bool) -> None:
        """Appoint or update a member; a new chair replaces the old one in the same transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            if chair:
                await conn.execute("UPDATE committee_members SET chair = false"
                                   " WHERE county_code = $1 AND member_id <> $2", county_code, member_id)
            await conn.execute(
                """
                INSERT INTO committee_members (county_code, member_id, name, department, chair, active)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (county_code, member_id) DO UPDATE SET name = EXCLUDED.name,
                    department = EXCLUDED.department, chair = EXCLUDED.chair, active = EXCLUDED.active,
                    updated_at = now()
                """, county_code, member_id, name, department, chair, active)

    async def record_minutes(self, minutes: act.Minutes) -> None:
        await self._pool.execute(
            "INSERT INTO minutes (case_id, parent_case_id, county_code, opinions, decision, quorum,"
            " recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id) DO NOTHING",
            minutes.case_id, minutes.parent_case_id, minutes.county_code, minutes.opinions, minutes.decision,
            minutes.quorum, minutes.recorded_at)

    async def recent_minutes(self, county_code: str, limit: int = 50) -> list[MinutesRow]:
        rows = await self._pool.fetch("SELECT case_id, parent_case_id, decision, opinions, recorded_at"
                                      " FROM minutes WHERE county_code = $1"
                                      " ORDER BY recorded_at DESC LIMIT $2", county_code, limit)
        return [MinutesRow(**dict(r)) for r in rows]

    # ---- the officials registry ------------------------------------------------------------------------

    async def find_official(self, subject: str) -> Official | None:
        row = await self._pool.fetchrow("SELECT * FROM officials WHERE subject = $1", subject)
        return Official(**dict(row)) if row is not None else None

    async def register_official(self, subject: str, *, person_id: str, name: str, roles: list[str],
                                jurisdiction: str, active: bool, registered_by: str) -> Official:
        """Register or update an official (``jurisdiction`` "" = every region); who registered is kept."""
        row = await self._pool.fetchrow(
            """
            INSERT INTO officials (subject, person_id, name, roles, jurisdiction, active, registered_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (subject) DO UPDATE SET person_id = EXCLUDED.person_id, name = EXCLUDED.name,
                roles = EXCLUDED.roles, jurisdiction = EXCLUDED.jurisdiction, active = EXCLUDED.active,
                registered_by = EXCLUDED.registered_by, updated_at = now()
            RETURNING *
            """, subject, person_id, name, roles, jurisdiction, active, registered_by)
        assert row is not None  # ON CONFLICT DO UPDATE always returns the row
        return Official(**dict(row))
