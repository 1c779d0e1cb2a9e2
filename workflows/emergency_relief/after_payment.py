"""After an assist-first payment (先行救助，后补齐说明): the explanation and documents owed by a deadline,
the verification of the sudden event (seeds 003/004), and, where it finds the household ineligible, an
official's resolution: recovery (追回) or a good-faith correction (容错纠错). And how the case closes.

Mixed into ``EmergencyReliefWorkflow`` (workflow.py); deterministic: timers, activities, the handlers' state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.common import CHECK_TIMEOUT, SERVICE_RETRY, STEP_TIMEOUT
from workflows.emergency_relief.handlers import EmergencyReliefHandlers

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_PAYMENT, TASK_QUEUE_VERIFICATION
    from shared.contracts import activities as act
    from shared.policy import ServiceLevels
    from workflows.emergency_relief.inputs import (
        PATHWAY,
        EmergencyReliefInput,
        EmergencyReliefResult,
        IneligibleResolution,
        Outcome,
    )

EVENT_TEST = "emergency-relief-event-test"  # verified afterwards against the sudden event, not the dibao line


class AfterPayment(EmergencyReliefHandlers):
    async def _settle_after_payment(self, inp: EmergencyReliefInput, facts: act.RecipientFacts,
                                    levels: ServiceLevels, payment: act.Disbursement, amount: int,
                                    policy: dict[str, Any]) -> EmergencyReliefResult:
        """Documents, verification, and the case's outcome: confirmed, recovery opened, or corrected."""
        await self._await_documents(inp, levels)
        check: act.EconomicCheckResult | act.EventCheckResult
        if self._since(EVENT_TEST):
            check = await self._confirm_event(inp)
        else:
            check = await self._verify(inp, facts)
        if check.outcome in ("eligible", "confirmed"):
            return await self._close(inp, "confirmed", "verified eligible: " + "; ".join(check.reasons),
                                     policy, amount=amount, payment_id=payment.payment_id)
        resolution = await self._await_resolution(inp, check)
        if resolution.action == "recover":
            claim = await self._open_recovery(inp, payment, amount, resolution)
            return await self._close(inp, "recovery_opened",
                                     f"recovery {claim.claim_id} of {amount} fen opened by {resolution.official}: "
                                     f"{resolution.reason}", policy, amount=amount, payment_id=payment.payment_id)
        return await self._close(inp, "corrected_in_good_faith",
                                 f"good-faith correction (容错纠错) recorded by {resolution.official}: "
                                 f"{resolution.reason}", policy, amount=amount, payment_id=payment.payment_id)

    async def _await_documents(self, inp: EmergencyReliefInput, levels: ServiceLevels) -> None:
        """The supplementary explanation and documents are owed after payment: reminders before the
        deadline; at the deadline the case is flagged and escalated, never silently closed."""
        self._awaiting_documents = True
        arrived: Callable[[], bool] = lambda: self._documents is not None  # noqa: E731
        due = workflow.now() + timedelta(days=levels.document_deadline_days)
        self._deadlines = [{"kind": "documents", "due": due.isoformat()}]
        await self._open_task("documents", "clerk", due, None,
                              "assist first, document later: collect the explanation and documents")
        await self._record("open", "awaiting_documents",
                           f"assist first, document later: explanation and documents due by {due.date().isoformat()}")
        on_time = True
        for days_before in sorted(levels.document_reminder_days_before, reverse=True):
            if await self._wait_until(arrived, due - timedelta(days=days_before)):
                break
            await self._record("open", "awaiting_documents",
                               f"reminder: documents due by {due.date().isoformat()} ({days_before} days left)")
        else:
            on_time = await self._wait_until(arrived, due)
        if not on_time:
            await self._escalate_overdue("documents_overdue", "open", "documents_overdue",
                                         "documents not received by the deadline: flagged and escalated to the county",
                                         to="county", arrived=arrived)
        self._awaiting_documents = False
        self._deadlines = []
        assert self._documents is not None
        await self._close_task("documents", self._documents.submitted_by, "received")
        kinds = ", ".join(str(d.get("kind", "?")) for d in self._documents.documents) or "explanation"
        await self._record("open", "documents_received",
                           f"documents received from {self._documents.submitted_by}: {kinds}"
                           + (" (late)" if not on_time else ""))

    async def _confirm_event(self, inp: EmergencyReliefInput) -> act.EventCheckResult:
        """急难 is defined by the sudden event (seeds 003/004): verification tests the event, attested by
        the agency whose report opened the case or by the documents filed afterwards (后补齐说明)."""
        self._stage = "verifying"
        documents = self._documents
        return await workflow.execute_activity(
            act.CONFIRM_EVENT,
            act.EventCheckRequest(check_id=f"{inp.case_id}:event", case_id=inp.case_id, person_id=inp.person_id,
                                  region_code=inp.region_code, trigger=inp.trigger, incident_date=inp.business_date,
                                  cause_event_id=inp.cause_event_id,
                                  document_kinds=[str(d.get("kind", "")) for d in documents.documents]
                                  if documents else [],
                                  explanation=documents.note if documents else ""),
            task_queue=TASK_QUEUE_VERIFICATION, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.EventCheckResult,
        )

    async def _verify(self, inp: EmergencyReliefInput, facts: act.RecipientFacts) -> act.EconomicCheckResult:
        self._stage = "verifying"
        return await workflow.execute_activity(
            act.CHECK_ECONOMIC_STATUS,
            act.EconomicCheckRequest(check_id=f"{inp.case_id}:1", case_id=inp.case_id, person_id=inp.person_id,
                                     household_id=facts.household_id,
                                     member_ids=facts.member_ids or [inp.person_id],
                                     region_code=inp.region_code, business_date=inp.business_date,
                                     urban=facts.urban, household_size=max(facts.household_size, 1),
                                     declared_monthly_income_fen=facts.monthly_income_fen),
            task_queue=TASK_QUEUE_VERIFICATION, start_to_close_timeout=CHECK_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.EconomicCheckResult,
        )

    async def _await_resolution(self, inp: EmergencyReliefInput,
                                check: act.EconomicCheckResult | act.EventCheckResult) -> IneligibleResolution:
        self._awaiting_resolution = True
        self._flags.append("found_ineligible")
        await self._open_task("resolve_ineligible", "township_approver", None, None,
                              "verified ineligible after payment: recover, or record a good-faith correction")
        await self._record("awaiting_decision", "found_ineligible",
                           "verification found the household ineligible: " + "; ".join(check.reasons)
                           + ". An official decides: recover, or record a good-faith correction")
        await workflow.wait_condition(lambda: self._resolution is not None)
        self._awaiting_resolution = False
        assert self._resolution is not None
        await self._close_task("resolve_ineligible", self._resolution.official, self._resolution.action)
        await workflow.execute_activity(
            act.RECORD_DECISION,
            act.DecisionRecord(case_id=inp.case_id, step="after_verification",
                               decision=self._resolution.action, tier="township", decided_by=self._resolution.official,
                               role=self._resolution.role, reason=self._resolution.reason,
                               region_code=inp.region_code, at=workflow.now()),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
        )
        return self._resolution

    async def _open_recovery(self, inp: EmergencyReliefInput, payment: act.Disbursement, amount: int,
                             resolution: IneligibleResolution) -> act.RecoveryClaim:
        return await workflow.execute_activity(
            act.OPEN_RECOVERY,
            act.RecoveryRequest(case_id=inp.case_id, pathway=PATHWAY, person_id=inp.person_id,
                                region_code=inp.region_code, amount_fen=amount,
                                original_payment_id=payment.payment_id, reason=resolution.reason,
                                decided_by=resolution.official),
            task_queue=TASK_QUEUE_PAYMENT, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY,
            result_type=act.RecoveryClaim,
        )

    async def _close(self, inp: EmergencyReliefInput, outcome: Outcome, reason: str, policy: dict[str, Any],
                     *, amount: int = 0, payment_id: str | None = None) -> EmergencyReliefResult:
        await self._record("closed", "closed", reason, closed=True, outcome=outcome, policy=policy,
                           amount=amount or None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return EmergencyReliefResult(case_id=inp.case_id, outcome=outcome, amount_fen=amount,
                                     payment_id=payment_id, reason=reason, policy=policy)
