"""A complaint through the published supervision hotline (seed 001 「公布服务热线、监督投诉电话」): recorded
against a case or an office, answered within the deadline (local practice, ``complaint_answer_days``),
past which it is escalated and on the attention list until answered."""

from __future__ import annotations

from temporalio import workflow

from workflows.reconsideration.steps import DutySteps

with workflow.unsafe.imports_passed_through():
    from workflows.reconsideration.inputs import (
        COMPLAINT_PATHWAY,
        DECIDERS,
        ComplaintAnswer,
        ComplaintInput,
        ComplaintResult,
    )

ANSWERERS = (*DECIDERS, "township_approver")  # the office complained about answers; the county above it


@workflow.defn(name="Complaint")
class ComplaintWorkflow(DutySteps):
    @workflow.init
    def __init__(self, inp: ComplaintInput) -> None:
        self._init_steps(inp.complaint_id, inp.region_code, COMPLAINT_PATHWAY)
        self._inp = inp
        self._answer: ComplaintAnswer | None = None

    @workflow.update
    async def answer(self, answer: ComplaintAnswer) -> str:
        self._answer = answer
        return "answered"

    @answer.validator
    def _validate_answer(self, answer: ComplaintAnswer) -> None:
        a = answer
        if self._answer is not None:
            raise ValueError("this complaint is answered already")
        self._verified_official(a, "answer", subject=a.official, roles=ANSWERERS, doing="answer a complaint")
        if a.official == self._inp.received_by:
            raise ValueError("whoever recorded a complaint does not answer it")

    @workflow.run
    async def run(self, inp: ComplaintInput) -> ComplaintResult:
        about = f"case {inp.case_id}" if inp.case_id else f"the office {inp.region_code}"
        await self._open_case(workflow_type="Complaint", trigger=inp.channel, person_id=None, on=inp.received_on,
                              parent_case_id=inp.case_id, workflow_input=inp.model_dump(mode="json"),
                              note=f"complaint ({inp.channel}) about {about}, recorded by {inp.received_by}")
        late = await self._await_person(
            lambda: self._answer is not None, kind="complaint", role="county_approver",
            days=inp.answer_within_days, summary=f"监督投诉 {about}: {inp.text}"[:500],
            waiting_note=f"complaint about {about} awaits an answer within {inp.answer_within_days} days",
            overdue_note=f"complaint about {about} not answered within {inp.answer_within_days} days "
                         "(local practice): escalated to the county")
        a = self._answer
        assert a is not None
        await self._close_task("complaint", a.official, "answered")
        await self._record("closed", "closed", f"answered by {a.official}" + (" (late)" if late else "") +
                           f": {a.answer}", closed=True, outcome="answered")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ComplaintResult(complaint_id=inp.complaint_id, answered_by=a.official, answer=a.answer, overdue=late)
