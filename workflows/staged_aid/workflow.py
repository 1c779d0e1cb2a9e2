"""The staged-aid workflow: for each installment, wait for its date (a durable timer), honour a pause,
re-check eligibility, pay with the key <case>:<installment>, and record it on the case."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, date, datetime, time
from typing import Any

from temporalio import workflow

from workflows.common import CaseSteps, policy_of

with workflow.unsafe.imports_passed_through():
    from shared.contracts import activities as act
    from shared.policy import HouseholdProfile
    from workflows.staged_aid.inputs import (
        PATHWAY,
        PlanChange,
        PlannedInstallment,
        PlanView,
        StagedAidInput,
        StagedAidResult,
    )

CHANGERS = ("township_approver", "county_approver", "committee", "admin")
# a change awaits its transition record holding the workflow's lock: two changes sent at once are
# recorded one after the other (a history recorded before it may interleave them)
CHANGE_LOCK = "staged-aid-change-lock"


@workflow.defn(name="StagedAid")
class StagedAidWorkflow(CaseSteps):
    @workflow.init
    def __init__(self, inp: StagedAidInput) -> None:
        # the input is known before any update arrives: validators may read it from the first task
        self._init_steps(inp.case_id, inp.region_code, PATHWAY)
        self._inp: StagedAidInput | None = inp
        self._plan: list[PlannedInstallment] = []
        self._plan_total = 0
        self._paid: dict[int, int] = {}
        self._paused = False
        self._cancelled: PlanChange | None = None
        self._changes: list[PlanChange] = []
        self._lock = asyncio.Lock()
        self._stage_before_pause = "waiting"  # what a resumed plan reports at once

    @workflow.query
    def plan(self) -> PlanView:
        return PlanView(plan=self._plan, paid=self._paid, paused=self._paused, cancelled=self._cancelled is not None,
                        plan_total_fen=self._plan_total)

    @workflow.update
    async def change(self, change: PlanChange) -> PlanView:
        stage = self._stage
        if change.action == "pause":
            self._paused, self._stage_before_pause, stage = True, self._stage, "paused"
        elif change.action == "resume":
            # the stage the plan was paused at (waiting for an installment, paying), not "paused" until
            # the next installment
            self._paused, stage = False, self._stage_before_pause
        elif change.action == "cancel":
            self._cancelled = change
        else:
            self._plan = [i.model_copy(update={"amount_fen": change.amounts.get(i.number, i.amount_fen)})
                          for i in self._plan]
        self._changes.append(change)
        async with self._change_lock():
            await self._record("open", stage, f"{change.action} by {change.official}: {change.reason}")
        return self.plan()

    def _change_lock(self) -> AbstractAsyncContextManager[Any]:
        return self._lock if workflow.patched(CHANGE_LOCK) else nullcontext()

    @change.validator
    def _validate_change(self, change: PlanChange) -> None:
        assert self._inp is not None
        self._verified_official(change, "change", subject=change.official, roles=CHANGERS, doing="change an aid plan",
                                registered=True)
        if self._cancelled is not None:
            raise ValueError("the plan is cancelled")
        if change.action == "pause" and self._paused:
            raise ValueError("the plan is already paused")
        if change.action == "resume" and not self._paused:
            raise ValueError("the plan is not paused")
        if change.action == "adjust":
            unknown = set(change.amounts) - {i.number for i in self._plan}
            if unknown:
                raise ValueError(f"no installments {sorted(unknown)} in the plan")
            if set(change.amounts) & set(self._paid):
                raise ValueError("an installment already paid cannot be adjusted")
            if any(a <= 0 for a in change.amounts.values()):
                raise ValueError("amounts must be positive (cancel instead)")
            total = sum(change.amounts.get(i.number, i.amount_fen) for i in self._plan)
            if total > self._plan_total:
                raise ValueError(f"the adjusted plan ({total} fen) would exceed the plan total "
                                 f"({self._plan_total} fen)")

    @workflow.run
    async def run(self, inp: StagedAidInput) -> StagedAidResult:
        self._inp = inp
        policy: dict[str, Any] | None = None
        self._plan = list(inp.plan)
        if not self._plan:
            facts = await self._look_up(inp.person_id, inp.business_date)
            entitlement = await self._evaluate(inp.measure, inp.business_date, HouseholdProfile(
                categories=frozenset(facts.categories if facts.found and not facts.deceased else ()),
                urban=facts.urban))
            policy = policy_of(entitlement)
            if not entitlement.payable or not entitlement.installments:
                await self._record("closed", "closed", entitlement.reason, closed=True, outcome="not_payable",
                                   policy=policy)
                return StagedAidResult(case_id=inp.case_id, outcome="not_payable", paid_fen=0, paid_installments=[],
                                       reason=entitlement.reason)
            self._plan = [PlannedInstallment(number=i.sequence, due_on=_first_of(i.month), amount_fen=i.amount_fen)
                          for i in entitlement.installments]
        self._plan_total = sum(i.amount_fen for i in self._plan)
        await self._record("open", "planned", f"{len(self._plan)} installments, {self._plan_total} fen in all",
                           policy=policy, amount=self._plan_total)

        outcome, reason = "completed", "every installment paid"
        for number in [i.number for i in self._plan]:
            if (cancelled := await self._due(number)) is not None:
                outcome, reason = "cancelled", f"cancelled by {cancelled.official}: {cancelled.reason}"
                break
            installment = next(i for i in self._plan if i.number == number)
            still, why = await self._still_eligible(installment)
            if not still:
                outcome, reason = "stopped_ineligible", f"installment {number} not paid: {why}"
                break
            await self._pay(installment)
        paid = sum(self._paid.values())
        await self._record("closed", "closed", reason, closed=True, outcome=outcome, amount=paid)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return StagedAidResult(case_id=inp.case_id, outcome=outcome, paid_fen=paid,
                               paid_installments=sorted(self._paid), reason=reason)

    async def _due(self, number: int) -> PlanChange | None:
        """Wait for the installment's date and any pause; the cancellation if the plan was cancelled
        meanwhile."""
        installment = next(i for i in self._plan if i.number == number)
        self._stage = "waiting"
        due = datetime.combine(installment.due_on, time(0), tzinfo=UTC)
        await self._wait_until(lambda: self._cancelled is not None, due)
        await workflow.wait_condition(lambda: self._cancelled is not None or not self._paused)
        return self._cancelled

    async def _still_eligible(self, installment: PlannedInstallment) -> tuple[bool, str]:
        assert self._inp is not None
        facts = await self._look_up(self._inp.person_id, installment.due_on)
        if not facts.found:
            return False, "no longer in the registry"
        if facts.deceased:
            return False, "the recipient has died"
        if facts.region_code and not facts.region_code.startswith(self._inp.region_code[:6]):
            return False, f"moved away (now registered in {facts.region_code})"
        missing = set(self._inp.required_categories) - set(facts.categories)
        if missing:
            return False, f"no longer enrolled ({', '.join(sorted(missing))})"
        return True, "still eligible"

    async def _pay(self, installment: PlannedInstallment) -> None:
        assert self._inp is not None
        self._stage = "paying"
        # A payment provider that is down makes the activity retry (same key): it waits, never pays twice.
        payment = await self._disburse(act.DisbursementRequest(
            idempotency_key=f"{self._case_id}:{installment.number}", case_id=self._case_id, pathway=PATHWAY,
            person_id=self._inp.person_id, region_code=self._region, amount_fen=installment.amount_fen,
            installment=installment.number, account=act.account(act.COUNTY_FUND, self._region[:6]),
            cause_event_id=self._inp.cause_event_id, measure=self._inp.measure))
        self._paid[installment.number] = installment.amount_fen
        await self._record("open", "installment_paid",
                           f"installment {installment.number}: {installment.amount_fen} fen, {payment.payment_id}",
                           amount=sum(self._paid.values()))


def _first_of(month: str) -> date:
    year, m = (int(x) for x in month.split("-"))
    return date(year, m, 1)
