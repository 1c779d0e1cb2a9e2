from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.contracts.activities import RecipientFacts
from shared.contracts.pathways import EMERGENCY_RELIEF
from shared.policy.disaster import DisasterLoss
from workflows.decisions import CaseResult, SignedAction, TierDecision
from workflows.decisions import Escalation as Escalation

PATHWAY = EMERGENCY_RELIEF.name  # the registry's key (shared/contracts/pathways.py)

Trigger = Literal["quarantine", "covid_diagnosis", "disaster", "application"]

# The policy measure each event trigger applies (a measure id in the policy packs); a caseworker's
# application names its own measure.
MEASURE_FOR_TRIGGER: dict[str, str] = {
    "quarantine": "quarantine",
    "covid_diagnosis": "covid_diagnosis",
    "disaster": "temporary_assistance_emergency_household",
    "application": "temporary_assistance_emergency",
}


class EmergencyReliefInput(BaseModel):
    case_id: str
    trigger: Trigger
    person_id: str
    region_code: str          # where the emergency happens: aid there, no household-registration limit
    business_date: date       # the date of the incident (quarantine/diagnosis): policy is resolved by it
    cause_event_id: str | None = None
    opened_by: str = "system"
    # a caseworker's application (or a disaster report) carries an assessed amount and its measure
    requested_amount_fen: int | None = None
    measure: str | None = None
    stranded: bool = False    # 流浪乞讨/临时遇困: no household-registration restriction
    application_id: str | None = None
    # a disaster report's losses and casualties: the aid is raised for them (patch emergency-relief-disaster-topup)
    disaster: DisasterLoss | None = None
    # the registry's facts on the business date, as intake read them opening the case (in the same
    # transaction): the case need not ask again (patch emergency-relief-fewer-round-trips; None: it asks)
    facts: RecipientFacts | None = None


class CountyDecision(TierDecision):
    """A county approver's decision on an amount above the township's authority (update ``decide``)."""

    pay_from: Literal["township_reserve", "county_fund"] | None = None


class DocumentsSubmitted(SignedAction):
    """Supplementary explanation and documents after an assist-first payment (后补齐说明)."""

    submitted_by: str
    documents: list[dict[str, Any]] = Field(default_factory=list)
    note: str = ""


class IneligibleResolution(SignedAction):
    """After verification found the person ineligible: recover (追回) or record a good-faith correction
    (容错纠错: the official who erred in good faith and corrected it is not punished)."""

    official: str
    person_id: str | None = None
    action: Literal["recover", "good_faith_correction"]
    reason: str = Field(min_length=1)


class CountyPayment(SignedAction):
    """While the township reserve is empty, the county may pay directly from its own fund."""

    official: str
    reason: str = ""


Outcome = Literal["paid", "not_payable", "rejected", "confirmed", "recovery_opened", "corrected_in_good_faith",
                  "staged_plan"]


class EmergencyReliefResult(CaseResult):
    outcome: Outcome
