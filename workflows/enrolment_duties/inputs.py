"""The typed updates of the enrolment duties and what the workflow reports of them.

Each update is a person's action, signed (shared/assertions.py) and checked by the workflow's validator;
the routes (services/intake/duties.py) build them from the caller's principal, never from the body.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from workflows.decisions import SignedAction

# who records the duties: the township's caseworkers and approvers (the county may record an objection too)
VISITORS = ("clerk", "township_approver")
OBJECTION_TAKERS = ("clerk", "township_approver", "county_approver")


class HomeVisitFindings(SignedAction):
    """入户调查: the caseworker's findings at the household (update ``record_home_visit``)."""

    official: str
    visited_on: date = Field(description="the day of the visit (the public notice is posted from it)")
    disputed: bool = Field(description="有争议: the visit found the application disputed (facts in doubt)")
    notes: str = Field(min_length=1, max_length=4000)


class AppraisalRecord(SignedAction):
    """民主评议: who took part, the outcome and the minutes (update ``record_appraisal``)."""

    official: str
    held_on: date
    participants: list[str] = Field(min_length=1, max_length=100)
    outcome: Literal["supported", "not_supported"]
    minutes: str = Field(min_length=1, max_length=20000)


class Objection(SignedAction):
    """An objection to the public notice (异议), recorded by the official who received it (update
    ``record_objection``): it reopens the check."""

    official: str
    received_on: date
    objector: str = Field(default="匿名", max_length=200, description="who objected (may stay anonymous)")
    grounds: str = Field(min_length=1, max_length=4000)


class DutyTerms(BaseModel):
    """What the policy packs say of the duties for the region and date (workflows/enrolment_duties/policy.py)."""

    public_notice_days: int = Field(ge=0)
    appraisal_when_undisputed: bool
    home_visit_days: int = Field(ge=1)
    appraisal_days: int = Field(ge=1)
    reminder_days_before: int = Field(ge=0)
    appraisal_rule: str = ""  # the seed citation of whether an undisputed application skips the appraisal
    citations: list[str] = Field(default_factory=list)


class DutiesQuery(BaseModel):
    region_code: str
    on: date


class DutyRound(BaseModel):
    """One round of the check: a home visit, an appraisal if held, the notice and its objections."""

    round: int
    visit: HomeVisitFindings | None = None
    appraisal: AppraisalRecord | None = None
    appraisal_skipped: bool = False
    notice_from: date | None = None
    notice_ends_at: datetime | None = None
    objections: list[Objection] = Field(default_factory=list)
    outcome: Literal["open", "reopened", "clean"] = "open"


class DutiesView(BaseModel):
    """Query ``duties``: where the case's duties stand (None before they begin)."""

    step: Literal["home_visit", "democratic_appraisal", "public_notice", "done"]
    rounds: list[DutyRound]
