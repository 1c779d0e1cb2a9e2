"""One window, every fact (一门受理、协同办理): which pathway an inbound event or an application opens,
with the case id derived from the cause. Pure: the service layer brings the registry facts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
from shared.contracts.pathways import (
    BATCH_SUBSIDY,
    EMERGENCY_RELIEF,
    ONE_OFF,
    RENEWAL,
    CaseOpening,
    Pathway,
    pathway_for_family,
)
from shared.contracts.sources import family_of
from shared.policy import HouseholdProfile, load_library
from shared.policy.disaster import DisasterLoss
from workflows.emergency_relief.inputs import MEASURE_FOR_TRIGGER as EMERGENCY_MEASURE_FOR_TRIGGER
from workflows.emergency_relief.inputs import EmergencyReliefInput, Trigger
from workflows.one_off_assistance.inputs import ApplicationReceived, Measure, OneOffInput
from workflows.registry import bound


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
    # aid the seed grants per 家庭 and incident: members reported within ``window_days`` join one case
    incident: HouseholdIncident | None = None
    # the lane the case was gathered into (docs/adr/0021; its own id: it was alone and runs its own workflow)
    lane_id: str | None = None


class HouseholdIncident(BaseModel):
    """One incident of one household (seeds 001/002 quarantine: 「……导致基本生活出现暂时困难的家庭」)."""

    model_config = ConfigDict(frozen=True)

    household_id: str
    trigger: str
    window_days: int = Field(ge=0)


class ScreenedOut(BaseModel):
    """A fact that opens no case, and why (kept for the audit trail)."""

    model_config = ConfigDict(frozen=True)

    measure: str
    person_id: str | None
    reason: str


class InvalidApplication(ValueError):
    """An application whose facts contradict each other: answered 422 naming the field."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class NotYetRouted(Exception):
    """An application kind whose pathway is not wired yet."""


def incident_case_id(prefix: str, *parts: str) -> str:
    """Case and workflow IDs derive from the incident (who, what, when), so a second report of the same
    incident, or a redelivery, lands on the same case. Hashed: national IDs stay out of workflow IDs."""
    return f"{prefix}-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


# The temporary-assistance measure a caseworker's emergency application applies, by household type.
EMERGENCY_MEASURES: dict[str, str] = {
    "individual": "temporary_assistance_individual",
    "emergency_household": "temporary_assistance_emergency_household",
    "expenditure_household": "temporary_assistance_expenditure_household",
}
ONE_OFF_KINDS: dict[str, Measure] = {"job_loss": "job_loss", "graduate": "graduate",
                                     "medical": "medical_self_pay",
                                     "temporary_assistance": "temporary_assistance_expenditure_household"}


def _profile(facts: RecipientFacts | None, **extra: Any) -> HouseholdProfile:
    return facts.profile(**extra) if facts is not None else HouseholdProfile(**extra)


def business_date(event: InboundEvent, reported_on: date) -> date:
    """The date the policy is resolved by: the event's own facts (the quarantine, the diagnosis, the
    disaster, the first month without income, the year the self-pay was accumulated), never the arrival
    time when the facts carry one (each event model's ``business_date``). A graduate's unemployment is as of
    the report: the graduation date is not the hardship."""
    return event.data.business_date(reported_on)


def job_lost_on(last_income_month: str) -> date:
    """The first day without income: the first of the month after the last month with income."""
    year, month = (int(x) for x in last_income_month.split("-"))
    return date(year + month // 12, month % 12 + 1, 1)


def route_event(event: InboundEvent, facts: RecipientFacts | None,
                reported_on: date) -> CaseStart | ScreenedOut | None:
    """The case an inbound event opens: the pathway its family starts (the registry,
    shared/contracts/pathways.py), by that pathway's rule below, or from the event's common facts for a
    pathway without one."""
    pathway = pathway_for_family(family_of(event.name))
    if pathway is None:
        return None
    rule = EVENT_RULES.get(pathway.name)
    if rule is not None:
        return rule(event, facts, reported_on)
    return _opened_from_event(pathway, event, reported_on)


def _emergency_event(event: InboundEvent, facts: RecipientFacts | None,
                     reported_on: date) -> CaseStart | None:
    data, on = event.data, business_date(event, reported_on)
    if isinstance(data, Quarantined | CovidDiagnosed):
        trigger: Trigger = "quarantine" if isinstance(data, Quarantined) else "covid_diagnosis"
        return _emergency(trigger, data.person_id, data.region_code, on, event.id, on.isoformat(), facts)
    if isinstance(data, DisasterAffected):
        return _emergency("disaster", data.person_id, data.region_code, on, event.id, data.disaster_id, facts,
                          disaster=disaster_loss(data))
    return None


def _outreach_event(event: InboundEvent, facts: RecipientFacts | None,
                    reported_on: date) -> CaseStart | ScreenedOut | None:
    data, on = event.data, business_date(event, reported_on)
    if isinstance(data, JobLost):
        if data.last_income_month > f"{reported_on:%Y-%m}":  # income in a month not yet come: a wrong fact
            return ScreenedOut(measure="job_loss", person_id=data.person_id,
                               reason=f"last income month {data.last_income_month} is after the report "
                                      f"({reported_on.isoformat()})")
        met, completed, _ = load_library().job_loss_gap(data.region_code, data.last_income_month, reported_on)
        # 「连续3个月无收入来源」 not yet complete: the case opens and waits for the day it is (never dropped)
        return _outreach("job_loss", data.person_id, data.region_code, completed, event.id,
                         data.last_income_month, facts, eligible_on=None if met else completed,
                         unemployment_insured=data.unemployment_insured)
    if isinstance(data, GraduateUnemployed):
        return _outreach("graduate", data.person_id, data.region_code, on, event.id,
                         data.graduated_on.isoformat(), facts)
    if isinstance(data, MedicalSelfPayReported):
        return _outreach("medical_self_pay", data.person_id, data.region_code, on, event.id, str(data.year),
                         facts, annual_medical_self_pay_fen=data.self_pay_fen)
    return None


def _started_elsewhere(event: InboundEvent, facts: RecipientFacts | None, reported_on: date) -> None:
    """A household change reaches its renewal case through the enrolment (service.py), a price-linkage
    event starts its batch (subscribers.py): neither opens a case here."""
    return None


EventRule = Callable[[InboundEvent, RecipientFacts | None, date], CaseStart | ScreenedOut | None]

# The rule of each pathway whose cases open from inbound facts in a way of their own, by pathway key.
EVENT_RULES: dict[str, EventRule] = {
    EMERGENCY_RELIEF.name: _emergency_event,
    ONE_OFF.name: _outreach_event,
    RENEWAL.name: _started_elsewhere,
    BATCH_SUBSIDY.name: _started_elsewhere,
}


def _opened_from_event(pathway: Pathway, event: InboundEvent, reported_on: date) -> CaseStart | ScreenedOut:
    """A pathway without a rule of its own: its workflow's input from the facts every case opens with
    (``BoundPathway.opens_from_event``), the case id from the event."""
    binding = bound(pathway.name)
    # inbound event models name the person and the region alike, where they have them
    person_id: str | None = getattr(event.data, "person_id", None)
    region_code: str = getattr(event.data, "region_code", "")
    if binding.opens_from_event is None:
        return ScreenedOut(measure=pathway.name, person_id=person_id,
                           reason=f"pathway {pathway.name} opens no case from {event.name} "
                                  "(no opening in workflows/registry.py)")
    on = business_date(event, reported_on)
    case_id = incident_case_id(pathway.name, event.name, event.id)
    opening = CaseOpening(case_id=case_id, pathway=pathway.name, trigger=event.name, person_id=person_id,
                          region_code=region_code, business_date=on, cause_event_id=event.id)
    return CaseStart(case_id=case_id, pathway=pathway.name, trigger=event.name,
                     workflow=binding.workflow_type, person_id=person_id, region_code=region_code, business_date=on,
                     cause_event_id=event.id,
                     workflow_input=binding.opens_from_event(opening))


def disaster_loss(data: DisasterAffected) -> DisasterLoss | None:
    """The household's losses and casualties the report states (None: none stated)."""
    loss = DisasterLoss(deaths=data.deaths or 0, serious_injuries=data.serious_injuries or 0,
                        direct_loss_fen=data.direct_loss_fen or 0)
    return loss if loss.any else None


def _emergency(trigger: Trigger, person_id: str, region: str, on: date, event_id: str, key: str,
               facts: RecipientFacts | None = None, disaster: DisasterLoss | None = None) -> CaseStart:
    lib = load_library()
    measure = lib.measure(EMERGENCY_MEASURE_FOR_TRIGGER.get(trigger, trigger), region, on)
    incident = None
    per_household = measure is not None and measure.once_per == "household_incident"
    if per_household and facts is not None and facts.household_id:
        # per 家庭 and incident: the key is the household's incident, so the payment key is too
        window = lib.parameter("quarantine_household_incident_days", region, on)
        days = window.value if window is not None and isinstance(window.value, int) else 0
        incident = HouseholdIncident(household_id=facts.household_id, trigger=trigger, window_days=days)
        case_id = incident_case_id("em", trigger, "household", facts.household_id, key)
    else:
        case_id = incident_case_id("em", trigger, person_id, key)
    # a disaster where no regional measure prices emergency aid: the national 「直接实施临时救助」 measure,
    # whose amount a caseworker assesses
    chosen = ("disaster_assistance" if trigger == "disaster" and measure is None
              and lib.measure("disaster_assistance", region, on) is not None else None)
    return CaseStart(
        case_id=case_id, pathway=EMERGENCY_RELIEF.name, trigger=trigger,
        workflow=bound(EMERGENCY_RELIEF.name).workflow_type, person_id=person_id,
        region_code=region, business_date=on, cause_event_id=event_id,
        workflow_input=EmergencyReliefInput(case_id=case_id, trigger=trigger, person_id=person_id,
                                            region_code=region, business_date=on, cause_event_id=event_id,
                                            measure=chosen, disaster=disaster,
                                            # read in the case's own transaction: the case need not ask again
                                            facts=facts if facts is not None and facts.person_id == person_id
                                            else None),
        incident=incident,
    )


def _outreach(measure: Measure, person_id: str, region: str, on: date, event_id: str, key: str,
              facts: RecipientFacts | None, eligible_on: date | None = None,
              **extra: Any) -> CaseStart | ScreenedOut:
    """主动发现: open an outreach case only where the policy would pay this person."""
    entitlement = load_library().entitlement(measure, region, on, _profile(facts, **extra))
    # an amount the seed leaves to the county is still aid to reach out for: the caseworker assesses it
    if not entitlement.payable and not entitlement.needs_assessment:
        return ScreenedOut(measure=measure, person_id=person_id, reason=entitlement.reason)
    case_id = incident_case_id("oo", measure, person_id, key)
    return CaseStart(
        case_id=case_id, pathway=ONE_OFF.name, trigger=measure, workflow=bound(ONE_OFF.name).workflow_type,
        person_id=person_id, region_code=region, business_date=on, cause_event_id=event_id,
        workflow_input=OneOffInput(case_id=case_id, measure=measure, person_id=person_id, region_code=region,
                                   business_date=on, cause_event_id=event_id, eligible_on=eligible_on,
                                   **extra),
    )


def route_application(app: ApplicationIn, application_id: str, registered_by: str, role: str, region: str,
                      today: date) -> CaseStart:
    on = app.details.incident_date or today
    if app.kind == "emergency":
        case_id = incident_case_id("em", "application", application_id)
        return CaseStart(
            case_id=case_id, pathway=EMERGENCY_RELIEF.name, trigger="application",
            workflow=bound(EMERGENCY_RELIEF.name).workflow_type,
            person_id=app.person_id, region_code=app.region_code, business_date=on, cause_event_id=None,
            workflow_input=EmergencyReliefInput(
                case_id=case_id, trigger="application", person_id=app.person_id, region_code=app.region_code,
                business_date=on, opened_by=registered_by,
                requested_amount_fen=app.details.requested_amount_fen,
                measure=EMERGENCY_MEASURES[app.details.household_type], stranded=app.details.stranded,
                application_id=application_id),
        )
    if app.kind in ONE_OFF_KINDS:
        measure = ONE_OFF_KINDS[app.kind]
        case_id = incident_case_id("oo", measure, "application", application_id)
        eligible_on = None
        if app.kind == "job_loss" and app.details.last_income_month is not None:
            # 「连续3个月无收入来源」: checked on application too; an early application waits for the day
            if app.details.last_income_month > f"{today:%Y-%m}":
                raise InvalidApplication("details.last_income_month",
                                         f"最后有收入的月份 {app.details.last_income_month} 晚于申请日期 / "
                                         "the last income month is after the application")
            met, completed, _ = load_library().job_loss_gap(app.region_code, app.details.last_income_month,
                                                            today)
            on = completed
            eligible_on = None if met else completed
        return CaseStart(
            case_id=case_id, pathway=ONE_OFF.name, trigger=measure, workflow=bound(ONE_OFF.name).workflow_type,
            person_id=app.person_id, region_code=app.region_code, business_date=on, cause_event_id=None,
            workflow_input=OneOffInput(
                case_id=case_id, measure=measure, person_id=app.person_id, region_code=app.region_code,
                business_date=on, opened_by=registered_by,
                unemployment_insured=app.details.unemployment_insured,
                annual_medical_self_pay_fen=app.details.annual_medical_self_pay_fen,
                requested_amount_fen=(app.details.requested_amount_fen if app.kind == "temporary_assistance"
                                      else None),
                monthly_rigid_expenditure_fen=app.details.monthly_rigid_expenditure_fen,
                eligible_on=eligible_on,
                application=ApplicationReceived(application_id=application_id, registered_by=registered_by,
                                                role=role, region=region, consent=app.consent)),
        )
    raise NotYetRouted(f"applications of kind {app.kind!r} are not routed yet")


def application_update(app: ApplicationIn, application_id: str, registered_by: str, role: str,
                       region: str) -> ApplicationReceived:
    return ApplicationReceived(application_id=application_id, registered_by=registered_by, role=role,
                               region=region, consent=app.consent)
