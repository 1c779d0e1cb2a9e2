"""A decision as the applicant is told it (决定书): the outcome, the amount, the rule and its seed citation,
who decided, when, and how and by when to ask for reconsideration (复核) or to complain (申诉).

Pure: the facts come from the case (its workflow's result, approval's decisions); the periods from the
policy packs (``reconsideration_request_days``, ``administrative_review_days``,
``administrative_litigation_months``, ``complaint_answer_days``: local practice in the national pack, a
region's pack may override).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.policy import load_library

Outcome = Literal["approved", "refused", "closed", "reduced", "exit", "recovery", "good_faith_correction",
                  "reversed", "upheld"]

OUTCOME_ZH: dict[str, str] = {
    "approved": "批准", "refused": "不予批准", "closed": "结案", "reduced": "减发", "exit": "停发（退出）",
    "recovery": "追回", "good_faith_correction": "善意更正", "reversed": "复核撤销原决定", "upheld": "复核维持原决定",
}


def yuan(fen: int) -> str:
    """Integer fen as yuan with thousands separators, no float: 195000 -> "1,950.00"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


class Rule(BaseModel):
    """The policy the decision applied: the measure, the pack and version, and the seed's words."""

    measure: str
    pack_id: str | None = None
    pack_version: str | None = None
    figure: str | None = None           # the figure the amount rests on (e.g. dibao_urban_monthly_fen)
    seed: str | None = None
    quote: str | None = None

    @property
    def citation(self) -> str:
        return f"{self.seed}: 「{self.quote}」" if self.seed and self.quote else "—"


class Remedies(BaseModel):
    """How and by when to contest the decision. ``local_practice`` names the periods no seed fixes."""

    reconsideration_days: int
    reconsideration_deadline: date
    administrative_review_days: int
    administrative_litigation_months: int
    complaint_answer_days: int
    local_practice: list[str] = Field(default_factory=list)
    how_zh: str


class DecisionRecord(BaseModel):
    """One decision on a case (``GET /api/cases/{id}/decision``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "case_id": "em-7f3c2a91", "pathway": "emergency_relief", "region_code": "640104", "outcome": "approved",
            "outcome_zh": "批准", "amount_fen": 195000, "policy_amount_fen": 195000,
            "reason": "家庭成员被隔离收治，按当地城市低保月标准 3 倍给予一次性临时救助金",
            "rule": {
                "measure": "quarantine", "pack_id": "ningxia-2022-20-measures", "pack_version": "2022-05-01",
                "figure": "quarantine_multiple", "seed": "002_c6f97725f515410c.txt",
                "quote": "按照当地城市低保月标准3倍，直接给予一次性临时救助金",
            },
            "decided_by": "wang.fang", "decided_role": "county_approver", "decided_on": "2026-12-01",
            "remedies": {
                "reconsideration_days": 60, "reconsideration_deadline": "2027-01-30",
                "administrative_review_days": 60, "administrative_litigation_months": 6, "complaint_answer_days": 15,
                "local_practice": [
                    "reconsideration_request_days", "administrative_review_days", "administrative_litigation_months",
                    "complaint_answer_days",
                ],
                "how_zh": ("如对本决定有异议，可自收到本决定书之日起60日内（即2027-01-30前）向作出决定的民"
                           "政部门申请复核（由原决定人以外的工作人员办理）；也可自知道该决定之日起60日内依法申请行政"
                           "复议，或者6个月内依法提起行政诉讼。对办理过程有意见的，可通过公布的服务热线、监督投诉电话"
                           "申诉，民政部门在15日内答复。"),
            },
            "appeal_id": None,
        },
    ]})

    case_id: str
    pathway: str
    region_code: str
    outcome: Outcome
    outcome_zh: str
    amount_fen: int = 0                 # paid or decided (0 for a refusal)
    policy_amount_fen: int | None = None  # what the policy computed, where a person then refused it
    reason: str
    rule: Rule
    decided_by: str                     # the deciding official, or "policy" when no person decided
    decided_role: str | None = None
    decided_on: date
    remedies: Remedies
    appeal_id: str | None = None        # a reconsideration asked for, if any


def _figure(name: str, region: str, on: date) -> tuple[int, bool]:
    fig = load_library().parameter(name, region, on)
    if fig is None or fig.value is None:
        raise LookupError(f"no pack sets {name} for {region} on {on}")
    return fig.as_int(), "LOCAL" in (fig.note or "") or "NATIONAL LAW" in (fig.note or "")


def remedies(region_code: str, decided_on: date) -> Remedies:
    """The periods in force for the region on the decision's date, and the words the letter prints."""
    days, lp1 = _figure("reconsideration_request_days", region_code, decided_on)
    review, lp2 = _figure("administrative_review_days", region_code, decided_on)
    months, lp3 = _figure("administrative_litigation_months", region_code, decided_on)
    answer, lp4 = _figure("complaint_answer_days", region_code, decided_on)
    labelled = [name for name, lp in (("reconsideration_request_days", lp1), ("administrative_review_days", lp2),
                                      ("administrative_litigation_months", lp3), ("complaint_answer_days", lp4))
                if lp]
    deadline = decided_on + timedelta(days=days)
    how = (f"如对本决定有异议，可自收到本决定书之日起{days}日内（即{deadline.isoformat()}前）向作出决定的民政部门"
           f"申请复核（由原决定人以外的工作人员办理）；也可自知道该决定之日起{review}日内依法申请行政复议，或者"
           f"{months}个月内依法提起行政诉讼。对办理过程有意见的，可通过公布的服务热线、监督投诉电话申诉，"
           f"民政部门在{answer}日内答复。")
    return Remedies(reconsideration_days=days, reconsideration_deadline=deadline, administrative_review_days=review,
                    administrative_litigation_months=months, complaint_answer_days=answer, local_practice=labelled,
                    how_zh=how)


# the standard a measure's amount rests on where the region's packs price it by the standards register
STANDARD_OF: dict[str, str] = {"dibao": "dibao_urban_monthly_fen"}


def rule_of(measure: str, region_code: str, on: date, *, urban: bool = True) -> Rule:
    """The measure as the region's packs define it on the date, with its seed quote; where no pack of the
    region defines the measure (Ningxia prices dibao by its standard alone), the standard's figure."""
    lib = load_library()
    found = lib.measure_in_force(measure, region_code, on) if measure else None
    if found is not None:
        pack, m = found
        return Rule(measure=measure, pack_id=pack.pack_id, pack_version=pack.version, seed=m.seed, quote=m.quote)
    name = STANDARD_OF.get(measure)
    if name is not None and not urban:
        name = "dibao_rural_monthly_fen"
    resolved = lib.resolve(name, region_code, on) if name else None
    if resolved is not None:
        fig, pack = resolved
        return Rule(measure=measure, pack_id=pack.pack_id, pack_version=pack.version, figure=name, seed=fig.seed,
                    quote=fig.quote)
    return Rule(measure=measure)


def beijing_date(at: datetime) -> date:
    """The date a letter carries: Beijing time (UTC+8)."""
    return (at + timedelta(hours=8)).date()
