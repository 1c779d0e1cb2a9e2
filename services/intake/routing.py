"""One window, every fact (一门受理、协同办理): which pathway an inbound event or an application opens,
with the case id derived from the cause. Pure: the service layer brings the registry facts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.contracts.activities import RecipientFacts
from shared.contracts.api import ApplicationIn
from shared.contracts.events import (
    CovidDiagnosed,
    DisasterAffected,
    GraduateUnemployed,
    InboundEvent,
    JobLost,
    MedicalSelfPayReported,
    Quarantined,
)
from shared.policy import HouseholdProfile, load_library
from workflows.emergency_relief.inputs import PATHWAY as EMERGENCY
from workflows.emergency_relief.inputs import EmergencyReliefInput
from workflows.one_off_assistance.inputs import PATHWAY as ONE_OFF
from workflows.one_off_assistance.inputs import ApplicationReceived, OneOffInput


@dataclass(frozen=True)
class CaseStart:
    """What a case needs to start: its derived id, the workflow, and the workflow's input."""

    case_id: str
    pathway: str
    trigger: str
    workflow: str
    person_id: str | None
    region_code: str
    business_date: date
    cause_event_id: str | None
    workflow_input: Any


@dataclass(frozen=True)
class ScreenedOut:
    """A fact that opens no case, and why (kept for the audit trail)."""

    measure: str
    person_id: str | None
    reason: str


class NotYetRouted(Exception):
    """An application kind whose pathway is not wired yet."""


def incident_case_id(prefix: str, *parts: str) -> str:
    """Case and workflow IDs derive from the incident (who, what, when), so a second report of the same
    incident, or a redelivery, lands on the same case. Hashed: national IDs stay out of workflow IDs."""
    return f"{prefix}-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


# The temporary-assistance measure a caseworker's emergency application applies, by household type.
EMERGENCY_MEASURES = {
    "individual": "temporary_assistance_individual",
    "emergency_household": "temporary_assistance_emergency_household",
    "expenditure_household": "temporary_assistance_expenditure_household",
}
ONE_OFF_KINDS = {"job_loss": "job_loss", "graduate": "graduate", "medical": "medical_self_pay",
                 "temporary_assistance": "temporary_assistance_expenditure_household"}


def _profile(facts: RecipientFacts | None, **extra: Any) -> HouseholdProfile:
    if facts is None or not facts.found:
        return HouseholdProfile(**extra)
    return HouseholdProfile(categories=frozenset(() if facts.deceased else facts.categories), urban=facts.urban,
                            household_size=max(facts.household_size, 1),
                            monthly_income_fen=facts.monthly_income_fen, **extra)


def route_event(event: InboundEvent, facts: RecipientFacts | None, reported_on: date) -> CaseStart | ScreenedOut | None:
    data = event.data
    if isinstance(data, Quarantined | CovidDiagnosed):
        trigger = "quarantine" if isinstance(data, Quarantined) else "covid_diagnosis"
        on = data.quarantined_on if isinstance(data, Quarantined) else data.diagnosed_on
        return _emergency(trigger, data.person_id, data.region_code, on, event.id, on.isoformat())
    if isinstance(data, DisasterAffected):
        return _emergency("disaster", data.person_id, data.region_code, data.occurred_on, event.id, data.disaster_id)
    if isinstance(data, JobLost):
        met, completed, why = load_library().job_loss_gap(data.region_code, data.last_income_month, reported_on)
        if not met:
            return ScreenedOut("job_loss", data.person_id, why)
        return _outreach("job_loss", data.person_id, data.region_code, completed, event.id, data.last_income_month,
                         facts, unemployment_insured=data.unemployment_insured)
    if isinstance(data, GraduateUnemployed):
        return _outreach("graduate", data.person_id, data.region_code, reported_on, event.id,
                         data.graduated_on.isoformat(), facts)
    if isinstance(data, MedicalSelfPayReported):
        return _outreach("medical_self_pay", data.person_id, data.region_code, reported_on, event.id, str(data.year),
                         facts, annual_medical_self_pay_fen=data.self_pay_fen)
    return None


def _emergency(trigger: str, person_id: str, region: str, on: date, event_id: str, key: str) -> CaseStart:
    case_id = incident_case_id("em", trigger, person_id, key)
    return CaseStart(
        case_id=case_id, pathway=EMERGENCY, trigger=trigger, workflow="EmergencyRelief", person_id=person_id,
        region_code=region, business_date=on, cause_event_id=event_id,
        workflow_input=EmergencyReliefInput(case_id=case_id, trigger=trigger, person_id=person_id,  # type: ignore[arg-type]
                                            region_code=region, business_date=on, cause_event_id=event_id),
    )


def _outreach(measure: str, person_id: str, region: str, on: date, event_id: str, key: str,
              facts: RecipientFacts | None, **extra: Any) -> CaseStart | ScreenedOut:
    """主动发现: open an outreach case only where the policy would pay this person."""
    entitlement = load_library().entitlement(measure, region, on, _profile(facts, **extra))
    if not entitlement.payable:
        return ScreenedOut(measure, person_id, entitlement.reason)
    case_id = incident_case_id("oo", measure, person_id, key)
    return CaseStart(
        case_id=case_id, pathway=ONE_OFF, trigger=measure, workflow="OneOffAssistance", person_id=person_id,
        region_code=region, business_date=on, cause_event_id=event_id,
        workflow_input=OneOffInput(case_id=case_id, measure=measure, person_id=person_id, region_code=region,  # type: ignore[arg-type]
                                   business_date=on, cause_event_id=event_id, **extra),
    )


def route_application(app: ApplicationIn, application_id: str, registered_by: str, role: str, region: str,
                      today: date) -> CaseStart:
    on = app.details.incident_date or today
    if app.kind == "emergency":
        case_id = incident_case_id("em", "application", application_id)
        return CaseStart(
            case_id=case_id, pathway=EMERGENCY, trigger="application", workflow="EmergencyRelief",
            person_id=app.person_id, region_code=app.region_code, business_date=on, cause_event_id=None,
            workflow_input=EmergencyReliefInput(
                case_id=case_id, trigger="application", person_id=app.person_id, region_code=app.region_code,
                business_date=on, opened_by=registered_by, requested_amount_fen=app.details.requested_amount_fen,
                measure=EMERGENCY_MEASURES[app.details.household_type], stranded=app.details.stranded,
                application_id=application_id),
        )
    if app.kind in ONE_OFF_KINDS:
        measure = ONE_OFF_KINDS[app.kind]
        case_id = incident_case_id("oo", measure, "application", application_id)
        return CaseStart(
            case_id=case_id, pathway=ONE_OFF, trigger=measure, workflow="OneOffAssistance", person_id=app.person_id,
            region_code=app.region_code, business_date=on, cause_event_id=None,
            workflow_input=OneOffInput(
                case_id=case_id, measure=measure, person_id=app.person_id, region_code=app.region_code,  # type: ignore[arg-type]
                business_date=on, opened_by=registered_by,
                unemployment_insured=app.details.unemployment_insured,
                annual_medical_self_pay_fen=app.details.annual_medical_self_pay_fen,
                requested_amount_fen=app.details.requested_amount_fen if app.kind == "temporary_assistance" else None,
                application=ApplicationReceived(application_id=application_id, registered_by=registered_by,
                                                role=role, region=region, consent=app.consent)),
        )
    raise NotYetRouted(f"applications of kind {app.kind!r} are not routed yet")


def application_update(app: ApplicationIn, application_id: str, registered_by: str, role: str,
                       region: str) -> ApplicationReceived:
    return ApplicationReceived(application_id=application_id, registered_by=registered_by, role=role, region=region,
                               consent=app.consent)
