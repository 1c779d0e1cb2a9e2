"""The committee's matter: assemble the dossier, collect every member's opinion by the deadline (one
each, members only), remind, escalate to the prefecture when it stalls, take the chair's decision
once a quorum has spoken and it follows the majority, and keep the minutes."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.common import SERVICE_RETRY, STEP_TIMEOUT, CaseSteps, verified_principal

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_APPROVAL
    from shared.contracts import activities as act
    from shared.contracts.authority import AmountRule, AuthorityLimits, check_decided_amount
    from workflows.one_matter.inputs import (
        PATHWAY,
        CommitteeDecision,
        MatterView,
        OneMatterInput,
        OneMatterResult,
        Opinion,
    )
    from workflows.one_matter.limits import LimitsQuery, authority_limits_activity


# the chair's decision is bound by the committee's delegated limit from the packs (issue 14)
AUTHORITY = "one-matter-authority"


@workflow.defn(name="OneMatterOneDiscussion")
class OneMatterWorkflow(CaseSteps):
    @workflow.init
    def __init__(self, inp: OneMatterInput) -> None:
        # the input is known before any update arrives: validators may read it from the first task
        self._init_steps(inp.case_id, inp.region_code, PATHWAY)
        self._inp: OneMatterInput | None = inp
        self._roster: act.Roster | None = None
        self._quorum = 0
        self._opinions: list[Opinion] = []
        self._decision: CommitteeDecision | None = None
        self._limits: AuthorityLimits | None = None  # every tier's cap in force (the committee's binds the chair)

    @workflow.query
    def matter(self) -> MatterView:
        members = self._roster.members if self._roster else []
        given = {o.member_id for o in self._opinions}
        return MatterView(stage=self._stage, quorum=self._quorum, deadlines=self._deadlines,
                          opinions=[o.model_dump(exclude={"assertion"}) for o in self._opinions],
                          owed_by=[m.member_id for m in members if m.member_id not in given])

    @workflow.update
    async def opinion(self, opinion: Opinion) -> MatterView:
        self._opinions.append(opinion)
        await self._record("awaiting_decision", "collecting_opinions",
                           f"opinion of {opinion.member_id}: {opinion.vote}"
                           + (f" {opinion.amount_fen} fen" if opinion.amount_fen else "") + f" ({opinion.reason})")
        return self.matter()

    @opinion.validator
    def _validate_opinion(self, opinion: Opinion) -> None:
        member = self._verified_member(opinion, "opinion", opinion.member_id)
        if member is None:
            raise ValueError(f"{opinion.member_id} is not a member of this committee")
        if any(o.member_id == opinion.member_id for o in self._opinions):
            raise ValueError(f"{opinion.member_id} has already given an opinion on this matter")
        if self._decision is not None:
            raise ValueError("the committee has decided")
        if opinion.vote == "approve" and (opinion.amount_fen is None or opinion.amount_fen <= 0):
            raise ValueError("an approving opinion names the amount (amount_fen)")

    @workflow.update
    async def decide(self, decision: CommitteeDecision) -> str:
        self._decision = decision
        return "recorded"

    @decide.validator
    def _validate_decision(self, decision: CommitteeDecision) -> None:
        member = self._verified_member(decision, "decide", decision.member_id)
        if member is None or not member.chair:
            raise ValueError("only the committee's chair records its decision")
        if self._decision is not None:
            raise ValueError("the committee has decided")
        if len(self._opinions) < self._quorum:
            raise ValueError(f"no quorum yet: {len(self._opinions)} of the {self._quorum} opinions needed")
        approvals = sum(o.vote == "approve" for o in self._opinions)
        majority_approves = approvals * 2 > len(self._opinions)
        if decision.approve != majority_approves:
            raise ValueError("the decision must follow the majority of the opinions given")
        if decision.approve:
            total = decision.amount_fen or 0
            if total <= 0:
                raise ValueError("an approval names the amount (amount_fen)")
            # within the committee's delegated limit (above it the prefecture decides), never below what
            # the policy already grants: the committee only ever raises aid
            base = self._inp.base_entitlement_fen if self._inp is not None else 0
            check_decided_amount(total, tier="committee", limits=self._limits,
                                 rule=AmountRule(kind="floor", policy_fen=base) if base else None)
            if decision.plan and sum(i.amount_fen for i in decision.plan) != total:
                raise ValueError("the staged plan must add up to the decided amount")

    def _verified_member(self, arg: Opinion | CommitteeDecision, update: str, member_id: str
                         ) -> act.CommitteeMember | None:
        """The committee member who signed ``arg`` (a registered person, none of the matter's household),
        or None when the signer is no member of this committee."""
        claims = verified_principal(arg, update, subject=member_id, role=arg.role, region=arg.region, registered=True)
        self._check_interest(claims.person_id)
        return self._member(member_id, arg.region)

    def _check_interest(self, person_id: str | None) -> None:
        """A member whose own household the matter is about takes no part (回避), by the registry's person id."""
        assert self._inp is not None
        if person_id is not None and person_id == self._inp.person_id:
            raise ValueError("a member cannot give an opinion on or decide their own matter (conflict of interest)")

    def _member(self, member_id: str, region: str) -> act.CommitteeMember | None:
        assert self._inp is not None
        if region and not self._inp.region_code.startswith(region):
            return None
        return next((m for m in (self._roster.members if self._roster else []) if m.member_id == member_id), None)

    @workflow.run
    async def run(self, inp: OneMatterInput) -> OneMatterResult:
        self._inp = inp
        levels = await self._levels(inp.business_date)
        if workflow.patched(AUTHORITY):
            self._limits = await workflow.execute_local_activity(
                authority_limits_activity, LimitsQuery(region_code=inp.region_code, on=inp.business_date),
                start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
        self._roster = await workflow.execute_activity(
            act.COMMITTEE_ROSTER, act.RosterRequest(region_code=inp.region_code), task_queue=TASK_QUEUE_APPROVAL,
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY, result_type=act.Roster)
        size = len(self._roster.members)
        self._quorum = size * levels.committee_quorum_percent // 100 + 1 if size else 1
        due = workflow.now() + timedelta(days=levels.committee_opinion_days)
        self._deadlines = [{"kind": "committee_opinions", "due": due.isoformat()}]
        await self._open_task("committee", "committee", due, inp.requested_amount_fen,
                              f"one matter, one discussion: {inp.reason}")
        await self._record("awaiting_decision", "dossier_assembled",
                           f"dossier for the county coordination committee ({size} members, quorum {self._quorum}): "
                           f"{inp.reason}; requested {inp.requested_amount_fen} fen", amount=inp.requested_amount_fen)
        decided = lambda: self._decision is not None  # noqa: E731
        if not await self._wait_until(decided, workflow.now() + (due - workflow.now()) / 2):
            await self._record("awaiting_decision", "collecting_opinions",
                               f"reminder: opinions owed by {', '.join(self.matter().owed_by) or 'nobody'}; "
                               f"decision due {due.isoformat()}")
            if not await self._wait_until(decided, due):
                await self._escalate_overdue("committee_overdue", "awaiting_decision", "escalated",
                                             f"no decision by {due.isoformat()} ({len(self._opinions)} of "
                                             f"{self._quorum} opinions): escalated to the prefecture",
                                             to="prefecture", arrived=decided)
        decision = self._decision
        assert decision is not None
        self._deadlines = []
        await self._close_task("committee", decision.member_id, "approved" if decision.approve else "rejected")
        opinions = [o.model_dump(exclude={"assertion"}) for o in self._opinions]
        await workflow.execute_activity(
            act.RECORD_MINUTES,
            act.Minutes(case_id=inp.case_id, parent_case_id=inp.parent_case_id, county_code=inp.region_code[:6],
                        opinions=opinions, decision=decision.model_dump(mode="json", exclude={"assertion"}),
                        quorum=self._quorum,
                        recorded_at=workflow.now()),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
        summary = "; ".join(f"{o.member_id}: {o.vote}" for o in self._opinions)
        outcome = "approved" if decision.approve else "rejected"
        await self._record("closed", "closed", f"committee {outcome}"
                           + (f" {decision.amount_fen} fen" if decision.approve else "")
                           + (f" in {len(decision.plan)} installments" if decision.plan else "")
                           + f" ({decision.reason}); minutes: {summary}", closed=True, outcome=outcome,
                           amount=decision.amount_fen if decision.approve else None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return OneMatterResult(case_id=inp.case_id, approve=decision.approve,
                               amount_fen=decision.amount_fen or 0 if decision.approve else 0, plan=decision.plan,
                               reason=decision.reason, opinions=opinions)
