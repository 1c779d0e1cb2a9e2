"""What the office's duty cases share: the case opens itself on intake's register (so the timeline, the
dashboard and the bus see it), waits for a person with a deadline, and is escalated when it passes.

Mixed into the reconsideration and complaint workflows; deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow

from workflows.common import SERVICE_RETRY, STEP_TIMEOUT, CaseSteps

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_INTAKE
    from shared.contracts import activities as act


class DutySteps(CaseSteps):
    async def _open_case(self, *, workflow_type: str, trigger: str, person_id: str | None, on: date,
                         parent_case_id: str | None, workflow_input: dict[str, Any], note: str,
                         case_id: str | None = None, pathway: str | None = None) -> None:
        """Register a case with intake (idempotent by its id; default: this one, which is opened before it
        records a step)."""
        await workflow.execute_activity(
            act.OPEN_CASE,
            act.CaseOpen(case_id=case_id or self._case_id, pathway=pathway or self._pathway, trigger=trigger,
                         person_id=person_id, region_code=self._region, business_date=on,
                         parent_case_id=parent_case_id,
                         workflow_type=workflow_type, workflow_input=workflow_input, note=note),
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)

    async def _await_person(self, arrived: Callable[[], bool], *, kind: str, role: str, days: int, summary: str,
                            waiting_note: str, overdue_note: str) -> bool:
        """Open ``kind`` in ``role``'s inbox, due in ``days``; wait for it. Past the deadline the case is flagged
        ``<kind>_overdue`` and escalated to the county (the attention list shows it), and still waits: never
        closed silently. True when it was answered late."""
        due = workflow.now() + timedelta(days=days)
        self._deadlines = [{"kind": kind, "due": due.isoformat()}]
        await self._open_task(kind, role, due, None, summary)
        await self._record("awaiting_decision", f"awaiting_{kind}", f"{waiting_note} (due {due.isoformat()})")
        late = not await self._wait_until(arrived, due)
        if late:
            await self._escalate_overdue(f"{kind}_overdue", "awaiting_decision", f"{kind}_overdue",
                                         overdue_note, to="county", arrived=arrived)
        self._deadlines = []
        return late

    def _due(self) -> datetime | None:
        return datetime.fromisoformat(self._deadlines[0]["due"]) if self._deadlines else None
