"""Inputs, updates and results of the reconsideration (复核) and complaint (监督投诉) workflows.

Seed 001: 「公布服务热线、监督投诉电话」「充分发挥社会监督作用」. The periods are local practice in the
national pack (``reconsideration_decision_days``, ``complaint_answer_days``), read by the route that
opens the case and carried here, so the workflow stays deterministic.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.pathways import COMPLAINT, RECONSIDERATION
from workflows.decisions import SignedAction
from workflows.renewal.inputs import RenewalInput

PATHWAY = RECONSIDERATION.name
COMPLAINT_PATHWAY = COMPLAINT.name
DECIDERS = ("county_approver", "admin")  # the deciding office's officials (复核 by the county)


def appeal_id_for(case_id: str) -> str:
    """One reconsideration per case: a second request on the same case is the same appeal."""
    return f"rc-{case_id}"


class OriginalDecision(BaseModel):
    """The decision contested: who took it (they may not decide the reconsideration)."""

    outcome: str
    decided_by: str                      # a subject, or "policy"
    decided_by_person_id: str | None = None  # their registered national ID, if an official
    decided_on: date
    reason: str = ""


class ReconsiderationInput(BaseModel):
    appeal_id: str
    case_id: str                         # the contested case
    pathway: str                         # the contested case's pathway
    region_code: str
    person_id: str | None = None
    household_ids: list[str] = Field(default_factory=list)  # its officials may not decide (conflict of interest)
    requested_by: str                    # the clerk or caseworker who registered the request
    requested_role: str
    reason: str
    requested_on: date
    decide_within_days: int = Field(gt=0)
    original: OriginalDecision
    # a refused dibao enrolment: the case's input, to enrol the household from the month of application
    # when the refusal is reversed
    reenrol: RenewalInput | None = None


class AppealDecision(SignedAction):
    """The reconsideration's outcome (update ``decide``): reverse the contested decision, or uphold it."""

    official: str
    reverse: bool
    reason: str = Field(min_length=1, max_length=2000)
    person_id: str | None = None         # the official's registered national ID (signed)


class AppealView(BaseModel):
    """Query ``appeal``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "appeal_id": "rc-em-7f3c2a91", "case_id": "em-7f3c2a91", "stage": "awaiting_reconsideration",
            "due": "2026-12-31", "outcome": None, "decided_by": None, "reason": None, "reenrolment_case_id": None,
            "flags": [],
        },
    ]})

    appeal_id: str
    case_id: str
    stage: str
    due: str | None = None
    outcome: Literal["upheld", "reversed"] | None = None
    decided_by: str | None = None
    reason: str | None = None
    reenrolment_case_id: str | None = None
    flags: list[str] = Field(default_factory=list)


class ReconsiderationResult(BaseModel):
    appeal_id: str
    case_id: str
    outcome: Literal["upheld", "reversed"]
    decided_by: str
    reason: str
    paid_fen: int = 0
    reenrolment_case_id: str | None = None


class ComplaintInput(BaseModel):
    complaint_id: str
    region_code: str                     # the office complained about (or the case's region)
    case_id: str | None = None           # the case it concerns, if any
    channel: Literal["hotline", "window", "letter", "online"] = "hotline"
    text: str
    received_by: str
    received_on: date
    answer_within_days: int = Field(gt=0)


class ComplaintAnswer(SignedAction):
    """The office's answer to a complaint (update ``answer``)."""

    official: str
    answer: str = Field(min_length=1, max_length=4000)


class ComplaintResult(BaseModel):
    complaint_id: str
    answered_by: str
    answer: str
    overdue: bool
