"""Written decisions (决定书) for the reductions and exits a review decides (issue 17 item 1: 「Every close,
refusal, reduction, exit and recovery produces a written decision」).

A review lowers a household's monthly level (减发) or ends its enrolment (停发: at once, or after a gradual
exit, 渐退) by the policy, most often as a set in the region's monthly cycle without a case of its own
(services/intake/cycle_review.py) or by a review case. Either way the roster keeps one row per household and
review period (``enrolment_reviews``); each row that lowers the level or ends the enrolment is a decision,
read back here with the level before it, the rule and its seed citation from the packs, and the 复核
deadline (``reconsideration_request_days``, local practice in the national pack) counted from the day it was
made (Beijing time). Read-only: nothing is stored twice, and a decision made before this module existed has
its letter too.

- ``GET /api/enrolments/{household_id}/decisions``: the household's review decisions, oldest first.
- ``GET /api/enrolments/{household_id}/decisions/{period}/letter.pdf``: the 决定书 of that period's decision.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.intake.roster_service import Roster
from services.intake.store import review_decisions as sql
from shared.auth import Principal, Role, require_roles, visible_to
from shared.documents.letters import decision_letter
from shared.documents.records import DecisionRecord, Rule, beijing_date, remedies, rule_of, yuan
from shared.policy import load_library

router = APIRouter(prefix="/api/enrolments", tags=["enrolments"])

KIND_ZH = {"dibao": "最低生活保障", "extreme_poverty": "特困人员救助供养"}
GRADUAL_EXIT_FIGURE = "gradual_exit_default_months"
# the roster's review outcomes that are a decision to lower or end the benefit (``terminated`` is the end of a
# gradual exit decided before: carried out, not decided again)
EXITS = ("gradual_exit", "exit")

Reader = Annotated[Principal, Depends(require_roles(
    Role.clerk, Role.township_approver, Role.county_approver, Role.auditor, Role.admin, Role.service))]
HouseholdId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
Period = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM reviewed")]


# the decision record's own example (shared/documents/records.py)
_RECORD_EXAMPLE: dict[str, Any] = cast(dict[str, Any], DecisionRecord.model_config.get("json_schema_extra"))[
    "examples"][0]


_DECISION_EXAMPLE: dict[str, Any] = {
    "household_id": "hh-640105-000123", "period": "2022-11", "review_kind": "scheduled",
    "review_outcome": "adjust", "old_level_fen": 195000, "new_level_fen": 130000,
    "old_level_yuan": "1,950.00", "new_level_yuan": "1,300.00", "letter_url":
    "/api/enrolments/hh-640105-000123/decisions/2022-11/letter.pdf", "record": _RECORD_EXAMPLE}


class ReviewDecision(BaseModel):
    """One review decision that lowered or ended a household's benefit, as the applicant is told it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DECISION_EXAMPLE]})

    household_id: str
    period: str = Field(description="YYYY-MM reviewed")
    review_kind: str = Field(description="scheduled | off-cycle")
    review_outcome: str = Field(description="adjust (lowered) | gradual_exit | exit")
    old_level_fen: int
    new_level_fen: int = Field(description="0 for an exit")
    old_level_yuan: str
    new_level_yuan: str
    letter_url: str
    record: DecisionRecord


class ReviewDecisions(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_DECISION_EXAMPLE], "total": 1}]})

    items: list[ReviewDecision]
    total: int


def _rule(e: sql.Enrolled, outcome: str, on: date) -> Rule:
    if outcome == "gradual_exit":
        found = load_library().resolve(GRADUAL_EXIT_FIGURE, e.region_code, on)
        if found is not None:
            fig, pack = found
            return Rule(measure=e.kind, pack_id=pack.pack_id, pack_version=pack.version, figure=GRADUAL_EXIT_FIGURE,
                        seed=fig.seed, quote=fig.quote)
    return rule_of(e.kind, e.region_code, on)


def _reason(kind_zh: str, step: sql.LevelStep, old: int, new: int) -> str:
    review = "定期复核" if step.kind == "scheduled" else "复核"
    if step.outcome == "gradual_exit":
        return (f"经{step.period}{review}，家庭经济状况已超出{kind_zh}条件，按规定实行渐退：渐退期内按原月保障金额"
                f" {yuan(old)} 元发放，期满后停止发放。")
    if step.outcome == "exit":
        return (f"经{step.period}{review}，家庭已不再符合{kind_zh}条件，自 {step.period} 起停止发放"
                f"（原月保障金额 {yuan(old)} 元）。")
    return (f"经{step.period}{review}，家庭经济状况发生变化，月保障金额由 {yuan(old)} 元调整为 {yuan(new)} 元，"
            f"自 {step.period} 起执行。")


def decisions_of(e: sql.Enrolled, steps: list[sql.LevelStep]) -> list[ReviewDecision]:
    """Each review that lowered the level below the one before it, or decided an exit, in period order."""
    out: list[ReviewDecision] = []
    before: int | None = None
    for s in steps:
        lowered = s.outcome == "adjust" and before is not None and s.level_fen < before
        if lowered or s.outcome in EXITS:
            old = s.level_fen if s.outcome in EXITS else before
            assert old is not None
            new = 0 if s.outcome in EXITS else s.level_fen
            on = beijing_date(s.at)
            record = DecisionRecord(
                case_id=s.case_id or e.enrolment_id, pathway=e.kind, region_code=e.region_code,
                outcome="exit" if s.outcome in EXITS else "reduced",
                outcome_zh="停发（渐退）" if s.outcome == "gradual_exit" else "停发（退出）" if s.outcome == "exit"
                else "减发",
                amount_fen=new, reason=_reason(KIND_ZH.get(e.kind, e.kind), s, old, new),
                rule=_rule(e, s.outcome, date.fromisoformat(f"{s.period}-01")),  # the policy of the period
                decided_by="policy" if s.cycle_id is not None else "review case",  # the cycle: the policy
                decided_role=None, decided_on=on, remedies=remedies(e.region_code, on))
            out.append(ReviewDecision(
                household_id=e.household_id, period=s.period, review_kind=s.kind, review_outcome=s.outcome,
                old_level_fen=old, new_level_fen=new, old_level_yuan=yuan(old), new_level_yuan=yuan(new),
                letter_url=f"/api/enrolments/{e.household_id}/decisions/{s.period}/letter.pdf", record=record))
        if s.outcome not in EXITS and s.outcome != "terminated":
            before = s.level_fen
    return out


async def _visible(roster: Roster, household_id: str, principal: Principal) -> list[ReviewDecision]:
    found = await roster.review_steps(household_id)
    enrolled = visible_to(principal, found[0] if found else None, lambda e: e.region_code,
                          f"enrolment of household {household_id}",
                          detail=f"no enrolment for household {household_id}")
    assert found is not None
    return decisions_of(enrolled, found[1])


@router.get("/{household_id}/decisions", response_model=ReviewDecisions,
            summary="The household's review decisions that lowered (减发) or ended (停发) its benefit, each with "
                    "its 决定书",
            responses={404: {"description": "no enrolment for the household in your jurisdiction"}})
async def list_decisions(household_id: HouseholdId, principal: Reader, roster: Roster) -> ReviewDecisions:
    items = await _visible(roster, household_id, principal)
    return ReviewDecisions(items=items, total=len(items))


@router.get("/{household_id}/decisions/{period}/letter.pdf", response_class=Response,
            summary="决定书 (PDF) of the review decision of a period",
            responses={200: {"content": {"application/pdf": {}}},
                       404: {"description": "no such decision in your jurisdiction"}})
async def decision_letter_pdf(household_id: HouseholdId, period: Period, principal: Reader,
                              roster: Roster) -> Response:
    found = [d for d in await _visible(roster, household_id, principal) if d.period == period]
    if not found:
        raise HTTPException(404, f"{period} 无减发或停发决定 / no reduction or exit decided for {period}")
    return Response(decision_letter(found[-1].record), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="decision-{household_id}-{period}.pdf"'})
