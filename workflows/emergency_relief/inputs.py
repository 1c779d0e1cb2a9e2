from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel

PATHWAY = "emergency_relief"

Trigger = Literal["quarantine", "covid_diagnosis"]

# The policy measure each trigger applies (a measure id in the policy packs).
MEASURE_FOR_TRIGGER: dict[str, str] = {
    "quarantine": "quarantine",
    "covid_diagnosis": "covid_diagnosis",
}


class EmergencyReliefInput(BaseModel):
    case_id: str
    trigger: Trigger
    person_id: str
    region_code: str          # where the emergency happens: aid there, no household-registration limit
    business_date: date       # the date of the incident (quarantine/diagnosis): policy is resolved by it
    cause_event_id: str | None = None
    opened_by: str = "system"


class CountyDecision(BaseModel):
    """A county approver's decision on an amount above the township's authority (seam for issue 3)."""

    approver: str
    role: str
    approve: bool
    amount_fen: int | None = None
    reason: str = ""


class EmergencyReliefResult(BaseModel):
    case_id: str
    outcome: Literal["paid", "not_payable", "rejected"]
    amount_fen: int = 0
    payment_id: str | None = None
    reason: str = ""
    policy: dict[str, str | None] | None = None
