"""What operators and other services can ask or tell a running emergency-relief case: the county's
decision, the documents owed after payment, the resolution of an ineligibility finding, the county paying
directly while the township reserve is empty, the reserve's top-up (a signal), and the case's state.

Mixed into ``EmergencyReliefWorkflow`` (workflow.py), whose init sets the state these handlers read.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.assessment import CaseworkerAssessment
from workflows.common import signed_person_id, verified_principal
from workflows.escalation import CommitteeEscalation

with workflow.unsafe.imports_passed_through():
    from shared.contracts import activities as act
    from shared.contracts.authority import check_decided_amount
    from workflows.decisions import CaseStateView
    from workflows.emergency_relief.inputs import (
        CountyDecision,
        CountyPayment,
        DocumentsSubmitted,
        EmergencyReliefInput,
        IneligibleResolution,
    )

DECIDERS = ("county_approver", "admin")
RESOLVERS = ("township_approver", "county_approver", "admin")
DOCUMENT_CLERKS = ("clerk", "township_approver", "admin", "service")
COUNTY_PAYERS = ("county_approver", "finance", "admin")


class EmergencyReliefHandlers(CommitteeEscalation, CaseworkerAssessment):
    _inp: EmergencyReliefInput | None
    _facts: act.RecipientFacts | None
    _county_decision: CountyDecision | None
    _awaiting_county: bool
    _documents: DocumentsSubmitted | None
    _awaiting_documents: bool
    _resolution: IneligibleResolution | None
    _awaiting_resolution: bool
    _reserve_available: bool
    _county_payment: CountyPayment | None
    _awaiting_reserve: bool

    # -- what operators and other services can ask or tell a running case ------------------------

    @workflow.query
    def state(self) -> CaseStateView:
        return CaseStateView(stage=self._stage, deadlines=self._deadlines, flags=self._flags)

    @workflow.signal(name=act.SIGNAL_RESERVE_AVAILABLE)
    def reserve_available(self) -> None:
        self._reserve_available = True

    @workflow.update
    async def decide(self, decision: CountyDecision) -> str:
        self._county_decision = decision
        return "recorded"

    @decide.validator
    def _validate_decision(self, decision: CountyDecision) -> None:
        if not self._awaiting_county or self._escalation is not None:
            raise ValueError("this case is not waiting for a county decision")
        if self._county_decision is not None:
            raise ValueError("the county has decided")
        claims = verified_principal(decision, "decide", subject=decision.approver, role=decision.role,
                                    region=decision.region, person_id=decision.person_id, registered=True)
        if decision.role not in DECIDERS:
            raise ValueError(f"role {decision.role} cannot decide above the township's authority")
        self._check_decider(decision.approver, decision.region, claims.person_id)
        if decision.approve:
            # the policy's rule and the county's delegated limit (above it: refused, the case goes up a tier)
            check_decided_amount(decision.amount_fen, tier="county", limits=self._limits, rule=self._rule)
        if not decision.approve and not decision.reason:
            raise ValueError("a refusal needs a reason")

    def _awaited_tier(self) -> str | None:
        return "county" if self._awaiting_county else None

    def _subject(self) -> EmergencyReliefInput:
        assert self._inp is not None
        return self._inp

    def _registered_by(self) -> str:
        return self._subject().opened_by

    def _escalable(self) -> bool:
        return True  # every decision the county awaits may go up to the committee

    @workflow.update
    async def submit_documents(self, documents: DocumentsSubmitted) -> str:
        self._documents = documents
        return "received"

    @submit_documents.validator
    def _validate_documents(self, documents: DocumentsSubmitted) -> None:
        if not self._awaiting_documents:
            raise ValueError("this case is not waiting for documents")
        self._verified_official(documents, "submit_documents", subject=documents.submitted_by, roles=DOCUMENT_CLERKS,
                                doing="file documents")
        if not documents.documents and not documents.note:
            raise ValueError("send at least one document or an explanation")

    @workflow.update
    async def resolve_ineligible(self, resolution: IneligibleResolution) -> str:
        self._resolution = resolution
        return "recorded"

    @resolve_ineligible.validator
    def _validate_resolution(self, resolution: IneligibleResolution) -> None:
        if not self._awaiting_resolution:
            raise ValueError("this case has no ineligibility finding to resolve")
        claims = verified_principal(resolution, "resolve_ineligible", subject=resolution.official,
                                    role=resolution.role, region=resolution.region, person_id=resolution.person_id,
                                    registered=True)
        if resolution.role not in RESOLVERS:
            raise ValueError(f"role {resolution.role} cannot resolve an ineligibility finding")
        self._check_decider(resolution.official, resolution.region, claims.person_id)
        if resolution.action == "good_faith_correction":
            self._check_corrector(resolution.official, claims.person_id)

    @workflow.update
    async def pay_from_county(self, payment: CountyPayment) -> str:
        self._county_payment = payment
        return "recorded"

    @pay_from_county.validator
    def _validate_county_payment(self, payment: CountyPayment) -> None:
        if not self._awaiting_reserve:
            raise ValueError("this case is not waiting for the township reserve")
        self._verified_official(payment, "pay_from_county", subject=payment.official, roles=COUNTY_PAYERS,
                                doing="pay from the county fund", registered=True)

    def _check_corrector(self, official: str, person_id: str | None) -> None:
        """容错纠错 waives the recovery of money paid: never by the official who approved the payment
        (the same subject or the same registered person)."""
        approver = self._county_decision
        if approver is not None and (official == approver.approver
                                     or (person_id is not None and person_id == signed_person_id(approver))):
            raise ValueError("a good-faith correction needs an official other than the one who approved the payment")

    def _household_ids(self) -> set[str]:
        assert self._inp is not None
        return {self._inp.person_id, *(self._facts.member_ids if self._facts else [])}
