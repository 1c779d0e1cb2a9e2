from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel

from shared.contracts.pathways import ONE_OFF
from workflows.decisions import CaseResult, SignedAction, TierDecision
from workflows.decisions import Escalation as Escalation

PATHWAY = ONE_OFF.name  # the registry's key (shared/contracts/pathways.py)

Measure = Literal["job_loss", "graduate", "medical_self_pay", "temporary_assistance_expenditure_household"]


class ApplicationReceived(SignedAction):
    """The person's own application (一门受理), with the signed check authorisation."""

    application_id: str
    registered_by: str
    consent: bool = True


class OneOffInput(BaseModel):
    case_id: str
    measure: Measure
    person_id: str
    region_code: str
    business_date: date
    cause_event_id: str | None = None
    opened_by: str = "system"
    unemployment_insured: bool | None = None
    annual_medical_self_pay_fen: int | None = None
    requested_amount_fen: int | None = None  # expenditure-type temporary assistance: the assessed need
    # 支出型: the household's monthly rigid expenditure the expenditure test deducts (an application's)
    monthly_rigid_expenditure_fen: int | None = None
    # 「连续3个月无收入来源」 completes on this date: the case waits for it (a durable timer), then assesses
    eligible_on: date | None = None
    application: ApplicationReceived | None = None  # opened by the person's application itself


class ApproverDecision(TierDecision):
    """The awaited tier's decision on a one-off case (update ``decide``)."""


Outcome = Literal["paid", "not_payable", "rejected", "no_application"]


class OneOffResult(CaseResult):
    outcome: Outcome
