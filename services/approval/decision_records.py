"""The decision record of a case (决定书的内容): derived where the facts are, without touching a running
workflow: the case's workflow (its type, region, whether and how it ended: its result) and the decisions
approval recorded (who decided, why). A case still running has a record only once a person refused it
or ordered a recovery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from services.approval.store_decisions import DecisionRow, DecisionsStore
from shared.documents.records import OUTCOME_ZH, DecisionRecord, Outcome, beijing_date, remedies, rule_of
from shared.infra.errors import NotFound
from workflows.reconsideration.inputs import appeal_id_for

PATHWAY_KEY = SearchAttributeKey.for_keyword("DoudiPathway")
REGION_KEY = SearchAttributeKey.for_keyword("DoudiRegion")
# the measure of a pathway whose result names none (a renewal case applies dibao)
DEFAULT_MEASURE = {"renewal": "dibao", "benefit_cycle": "dibao"}
# how a workflow's result ends a case, as the letter says it
RESULT_OUTCOMES: dict[str, Outcome] = {
    "rejected": "refused", "refused": "refused", "ineligible": "refused", "terminated": "exit",
    "handed_back": "approved", "paid": "approved", "approved": "approved", "recovered": "recovery",
    "recovery": "recovery", "upheld": "upheld", "reversed": "reversed",
}
ROW_OUTCOMES: dict[str, Outcome] = {"rejected": "refused", "recover": "recovery",
                                    "good_faith_correction": "good_faith_correction"}


class CaseFacts:
    """What Temporal knows of a case: its type, pathway, region, status, close time and result."""

    def __init__(self, workflow_type: str, pathway: str, region: str, status: WorkflowExecutionStatus | None,
                 closed_at: datetime | None, result: dict[str, Any] | None):
        self.workflow_type, self.pathway, self.region = workflow_type, pathway, region
        self.status, self.closed_at, self.result = status, closed_at, result


async def case_facts(client: Client, case_id: str) -> CaseFacts:
    handle = client.get_workflow_handle(case_id)
    try:
        d = await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"case {case_id} not found") from None
        raise
    attrs = d.typed_search_attributes
    result: dict[str, Any] | None = None
    if d.status == WorkflowExecutionStatus.COMPLETED:
        raw = await handle.result()
        result = raw if isinstance(raw, dict) else None
    return CaseFacts(d.workflow_type, attrs.get(PATHWAY_KEY) or "", attrs.get(REGION_KEY) or "", d.status,
                     d.close_time, result)


def _contested_row(rows: list[DecisionRow]) -> DecisionRow | None:
    return next((r for r in reversed(rows) if r.decision in ROW_OUTCOMES), None)


def build_record(case_id: str, facts: CaseFacts, rows: list[DecisionRow], proposed_fen: int | None,
                 appeal_exists: bool) -> DecisionRecord:
    """The record from the facts; NotFound when the case has no decision yet."""
    row = _contested_row(rows)
    res = facts.result
    if row is None and res is None:
        # a case still running (documents owed after an assist-first payment): its approval, if any
        row = next((r for r in reversed(rows) if r.decision == "approved"), None)
        if row is None:
            raise NotFound(f"case {case_id} has no decision yet (尚无决定)")
    policy = (res or {}).get("policy") or {}
    outcome: Outcome
    if row is not None:
        outcome = ROW_OUTCOMES.get(row.decision, "approved")
        reason, decided_by, at = row.reason, row.decided_by, row.decided_at
        role: str | None = row.role
        if role in ("system", ""):
            decided_by, role = "policy", None  # within the township's authority: no person decided
        amount = row.amount_fen if outcome != "refused" else 0
    else:
        assert res is not None
        outcome = RESULT_OUTCOMES.get(str(res.get("outcome", "")), "closed")
        approved = next((r for r in reversed(rows) if r.decision == "approved"), None)
        human = approved is not None and approved.role not in ("system", "")
        decided_by = approved.decided_by if human and approved else "policy"
        role = approved.role if human and approved else None
        at = facts.closed_at or (approved.decided_at if approved else datetime.now(UTC))
        reason = str(res.get("reason", ""))
        amount = 0 if outcome == "refused" else int(res.get("paid_fen") or res.get("amount_fen") or 0)
    if outcome == "approved" and proposed_fen is not None and 0 < amount < proposed_fen:
        outcome = "reduced"  # a person approved less than the amount put before them (减发)
    measure = (row.measure if row is not None and row.measure else None) or str(policy.get("measure") or "") \
        or DEFAULT_MEASURE.get(facts.pathway, facts.pathway)
    region = facts.region or (row.region_code if row is not None else "")
    on = beijing_date(at)
    rule = rule_of(measure, region, on)
    if policy.get("pack_id"):
        rule = rule.model_copy(update={"pack_id": policy["pack_id"], "pack_version": policy.get("pack_version")})
    return DecisionRecord(
        case_id=case_id, pathway=facts.pathway, region_code=region, outcome=outcome, outcome_zh=OUTCOME_ZH[outcome],
        amount_fen=amount, policy_amount_fen=proposed_fen if outcome in ("refused", "reduced") else None, reason=reason,
        rule=rule, decided_by=decided_by, decided_role=role, decided_on=on, remedies=remedies(region, on),
        appeal_id=appeal_id_for(case_id) if appeal_exists else None)


async def decision_record(client: Client, store: DecisionsStore, case_id: str) -> tuple[DecisionRecord, CaseFacts]:
    facts = await case_facts(client, case_id)
    rows = await store.decisions_of(case_id)
    try:
        await client.get_workflow_handle(appeal_id_for(case_id)).describe()
        appealed = True
    except RPCError:
        appealed = False
    record = build_record(case_id, facts, rows, await store.proposed_amount(case_id), appealed)
    return record, facts
