"""Raising a case that waits for an approver's decision to the county coordination committee (一事一议):
the ``escalate`` update emergency relief and one-off assistance share (one model, one validator).

Mixed into a case workflow (deterministic: it only records the escalation; the workflow's own wait sees it).
"""

from __future__ import annotations

from temporalio import workflow

from workflows.common import CaseSteps, verified_principal

with workflow.unsafe.imports_passed_through():
    from shared.contracts.authority import AmountRule, AuthorityLimits
    from workflows.decisions import AuthorityView, Escalation

ESCALATORS = ("township_approver", "county_approver", "admin")


class CommitteeEscalation(CaseSteps):
    """The workflow sets ``_escalation``, ``_limits`` and ``_rule`` in its init and says which tier's
    decision it awaits (``_awaited_tier``) and whether that decision may go up (``_escalable``)."""

    _escalation: Escalation | None
    _limits: AuthorityLimits | None  # every tier's cap (from the approval step)
    _rule: AmountRule | None         # what the policy says of the amount (fixed/floor/open)

    def _awaited_tier(self) -> str | None:
        """The tier whose decision the case waits for now (None: it waits for none)."""
        raise NotImplementedError

    def _escalable(self) -> bool:
        """The awaited decision may go up to the committee instead."""
        raise NotImplementedError

    @workflow.query
    def authority(self) -> AuthorityView:
        """Who may decide how much on this case now (services/approval/routes.py refuses a decision above
        the awaited tier's cap before it reaches the validator, and sends the case up when it can)."""
        return AuthorityView(awaiting=self._awaited_tier() if self._escalation is None else None,
                             limits=self._limits, rule=self._rule, escalable=self._escalable())

    @workflow.update
    async def escalate(self, escalation: Escalation) -> str:
        self._escalation = escalation
        return "escalated to the county coordination committee"

    @escalate.validator
    def _validate_escalation(self, escalation: Escalation) -> None:
        if self._awaited_tier() is None or not self._escalable():
            raise ValueError("only a case waiting for a decision can be escalated to the committee")
        if self._escalation is not None:
            raise ValueError("already escalated")
        verified_principal(escalation, "escalate", subject=escalation.official, role=escalation.role,
                           region=escalation.region)
        if escalation.role not in ESCALATORS:
            raise ValueError(f"role {escalation.role} cannot escalate a case")
        self._check_jurisdiction(escalation.region)
