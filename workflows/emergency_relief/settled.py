"""The record of a case the straight-through lane paid and closed (docs/adr/0021): a workflow of one task
with the case's id, whose result is the case's, so that every tool that reads a case's process (its letter,
an appeal, the operators' replay) finds it as it finds any other case."""

from __future__ import annotations

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.emergency_relief.inputs import EmergencyReliefResult

WORKFLOW = "EmergencyReliefSettled"


class SettledInput(BaseModel):
    lane_id: str
    result: EmergencyReliefResult


@workflow.defn(name=WORKFLOW, sandboxed=False)
class EmergencyReliefSettledWorkflow:
    @workflow.run
    async def run(self, inp: SettledInput) -> EmergencyReliefResult:
        return inp.result

    @workflow.query
    def stage(self) -> str:
        """Every case workflow answers ``stage`` (docs/contracts.md): a settled case is closed."""
        return "closed"
