"""Reported changes (recipients must report changes, seed 004): an income change or a member's death,
sent by intake's service account, kept pending until the first period on or after it takes effect, then
applied by the review. And the case's status query.

Mixed into ``RenewalWorkflow`` (workflow.py); deterministic.
"""

from __future__ import annotations

from datetime import date
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow

from workflows.common import verified_service
from workflows.renewal.steps import RenewalSteps

with workflow.unsafe.imports_passed_through():
    from workflows.renewal.inputs import IncomeChange, MemberDeath, PendingChange, RenewalState

Change = TypeVar("Change", bound=BaseModel)


def _unsigned(change: Change) -> Change:
    """The change as the state carries it: its assertion was verified by the validator and is not kept."""
    return change.model_copy(update={"assertion": None})


class ReportedChanges(RenewalSteps):
    # ---- queries and reported changes -------------------------------------------------------------

    @workflow.query
    def status(self) -> RenewalState:
        return self._s.model_copy(update={"seq": self._seq})

    @workflow.update
    async def income_changed(self, change: IncomeChange) -> str:
        self._pend(PendingChange(kind="income_changed", effective_on=change.effective_on, income=_unsigned(change)))
        return f"income change recorded; reviewed at the first period from {change.effective_on}"

    @income_changed.validator
    def _validate_income(self, change: IncomeChange) -> None:
        verified_service(change, "income_changed")
        self._open_for_changes()
        ids = {m.person_id for m in self._s.household.members}
        unknown = set(change.working_person_ids or ()) - ids
        if unknown:
            raise ValueError(f"{sorted(unknown)} are not members of the household")

    @workflow.update
    async def member_deceased(self, death: MemberDeath) -> str:
        self._pend(PendingChange(kind="member_deceased", effective_on=death.died_on, death=_unsigned(death)))
        return f"death of {death.person_id} recorded; reviewed at the next period"

    @member_deceased.validator
    def _validate_death(self, death: MemberDeath) -> None:
        verified_service(death, "member_deceased")
        self._open_for_changes()
        if death.person_id not in {m.person_id for m in self._s.household.members}:
            raise ValueError(f"{death.person_id} is not a living member of the household")
        if any(p.death and p.death.person_id == death.person_id for p in self._s.pending):
            raise ValueError(f"the death of {death.person_id} is already reported")

    def _pend(self, change: PendingChange) -> None:
        self._s.pending.append(change)

    def _open_for_changes(self) -> None:
        if self._closing:
            raise ValueError("the household is handed back to the monthly cycle: report the change again")
        if self._s.status == "terminated":
            raise ValueError("the household's benefit is terminated")

    def _apply_changes(self, on: date) -> list[str]:
        """Apply the reported changes in effect by the period's first day; what changed, in words."""
        s, notes = self._s, []
        due = sorted((p for p in s.pending if p.effective_on <= on), key=lambda p: p.effective_on)
        s.pending = [p for p in s.pending if p.effective_on > on]
        h = s.household
        for p in due:
            if p.income is not None:
                c = p.income
                members = h.members
                if c.working_person_ids is not None:
                    members = [m.model_copy(update={"working": m.person_id in c.working_person_ids}) for m in members]
                h = h.model_copy(update={"monthly_income_fen": c.monthly_income_fen, "members": members,
                                         "income_stable": h.income_stable if c.income_stable is None
                                         else c.income_stable})
                s.last_income_reason = c.reason
                notes.append(f"income {c.monthly_income_fen} fen/month from {c.effective_on} ({c.reason})")
            elif p.death is not None:
                d = p.death
                h = h.model_copy(update={
                    "members": [m for m in h.members if m.person_id != d.person_id],
                    "monthly_income_fen": h.monthly_income_fen if d.monthly_income_fen is None
                    else d.monthly_income_fen})
                notes.append(f"{d.person_id} died on {d.died_on}")
        if h.members:
            s.household = h
        else:
            s.household = h.model_copy(update={"members": s.household.members[:1]})  # kept for the record
            notes.append("no living member remains")
        return notes

