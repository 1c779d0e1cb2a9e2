"""Intake's service layer: register households, turn inbound facts into cases, start their workflows.

Entry points (HTTP routes, bus subscribers) only parse and call these; every state change and the
domain event it publishes happen in one transaction (unit of work + outbox).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.intake import store
from shared.config import TASK_QUEUE_WORKFLOWS
from shared.contracts.activities import CaseTransition
from shared.contracts.api import ApplicationIn, HouseholdIn, HouseholdOut
from shared.contracts.domain_events import (
    CASE_CLOSED,
    CASE_ESCALATED,
    CASE_OPENED,
    CASE_UPDATED,
    CaseEventData,
    domain_cloudevent,
)
from shared.contracts.events import CovidDiagnosed, DisasterAffected, InboundEvent, Quarantined
from shared.infra.db import unit_of_work
from shared.infra.outbox import add_to_outbox, first_delivery
from workflows.emergency_relief.inputs import PATHWAY as EMERGENCY
from workflows.emergency_relief.inputs import EmergencyReliefInput

log = logging.getLogger(__name__)
SOURCE = "urn:doudi:intake"

PATHWAY_KEY = SearchAttributeKey.for_keyword("DoudiPathway")
REGION_KEY = SearchAttributeKey.for_keyword("DoudiRegion")


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


def incident_case_id(prefix: str, *parts: str) -> str:
    """Case and workflow IDs derive from the incident (who, what, when), so a second report of the same
    incident, or a redelivery, lands on the same case. Hashed: national IDs stay out of workflow IDs."""
    return f"{prefix}-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def case_start_for(event: InboundEvent) -> CaseStart | None:
    """Which pathway an inbound fact opens (一门受理: one window routes every fact)."""
    data = event.data
    if isinstance(data, Quarantined | CovidDiagnosed):
        trigger = "quarantine" if isinstance(data, Quarantined) else "covid_diagnosis"
        on = data.quarantined_on if isinstance(data, Quarantined) else data.diagnosed_on
        case_id = incident_case_id("em", trigger, data.person_id, on.isoformat())
        return CaseStart(
            case_id=case_id, pathway=EMERGENCY, trigger=trigger, workflow="EmergencyRelief",
            person_id=data.person_id, region_code=data.region_code, business_date=on,
            cause_event_id=event.id,
            workflow_input=EmergencyReliefInput(case_id=case_id, trigger=trigger, person_id=data.person_id,
                                                region_code=data.region_code, business_date=on,
                                                cause_event_id=event.id),
        )
    if isinstance(data, DisasterAffected):
        case_id = incident_case_id("em", "disaster", data.person_id, data.disaster_id)
        return CaseStart(
            case_id=case_id, pathway=EMERGENCY, trigger="disaster", workflow="EmergencyRelief",
            person_id=data.person_id, region_code=data.region_code, business_date=data.occurred_on,
            cause_event_id=event.id,
            workflow_input=EmergencyReliefInput(case_id=case_id, trigger="disaster", person_id=data.person_id,
                                                region_code=data.region_code, business_date=data.occurred_on,
                                                cause_event_id=event.id),
        )
    return None


# The temporary-assistance measure a caseworker's emergency application applies, by household type.
EMERGENCY_MEASURES = {
    "individual": "temporary_assistance_individual",
    "emergency_household": "temporary_assistance_emergency_household",
    "expenditure_household": "temporary_assistance_expenditure_household",
}


class NotYetRouted(Exception):
    """An application kind whose pathway is not wired yet."""


def case_start_for_application(app: ApplicationIn, application_id: str, registered_by: str,
                               today: date) -> CaseStart:
    if app.kind != "emergency":
        raise NotYetRouted(f"applications of kind {app.kind!r} are not routed yet")
    on = app.details.incident_date or today
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


class IntakeService:
    def __init__(self, pool: asyncpg.Pool, temporal: Client):
        self._pool = pool
        self._temporal = temporal

    async def register_household(self, household: HouseholdIn) -> HouseholdOut:
        async with unit_of_work(self._pool) as conn:
            version, created = await store.upsert_household(conn, household)
            view = await store.household_view(conn, household.household_id)
        assert view is not None
        return HouseholdOut(household_id=view["household_id"], region_code=view["region_code"],
                            urban=view["urban"], categories=list(view["categories"]),
                            monthly_income_fen=view["monthly_income_fen"], members=view["members"],
                            version=version, created=created)

    async def accept_event(self, event: InboundEvent, subject: str) -> str | None:
        """Open the case an inbound event calls for (once per event id, once per incident) and make
        sure its workflow runs. Returns the case id, or None when the fact opens no case."""
        start = case_start_for(event)
        async with unit_of_work(self._pool) as conn:
            first = await first_delivery(conn, event.id, subject)
            if start is None:
                return None
            if first:
                await self._open(conn, start)
                await store.link_cause(conn, event.id, start.case_id)
        await self.ensure_started(start)
        return start.case_id

    async def apply(self, app: ApplicationIn, registered_by: str, today: date) -> tuple[str, str]:
        """One-window intake: record the application and open (or find) its case; idempotent by
        application id. Returns (case_id, application_id)."""
        application_id = app.application_id or incident_case_id(
            "app", app.person_id, app.kind, (app.details.incident_date or today).isoformat())
        start = case_start_for_application(app, application_id, registered_by, today)
        async with unit_of_work(self._pool) as conn:
            await self._open(conn, start)
            await conn.execute(
                """
                INSERT INTO applications (application_id, case_id, person_id, region_code, kind, consent_given,
                                          registered_by, details)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (application_id) DO NOTHING
                """,
                application_id, start.case_id, app.person_id, app.region_code, app.kind, app.consent,
                registered_by, app.details.model_dump(mode="json"),
            )
        await self.ensure_started(start)
        return start.case_id, application_id

    async def _open(self, conn: asyncpg.Connection, start: CaseStart) -> None:
        facts = await store.recipient_facts(conn, start.person_id, start.business_date) if start.person_id else None
        created = await store.open_case(
            conn, case_id=start.case_id, pathway=start.pathway, trigger=start.trigger,
            person_id=start.person_id, household_id=facts.household_id if facts else None,
            region_code=start.region_code, business_date=start.business_date,
            cause_event_id=start.cause_event_id,
        )
        if created:
            data = CaseEventData(case_id=start.case_id, pathway=start.pathway, status="open", stage="opened",
                                 person_id=start.person_id, household_id=facts.household_id if facts else None,
                                 region_code=start.region_code, cause_event_id=start.cause_event_id,
                                 note=f"opened by {start.trigger} on {start.business_date.isoformat()}")
            await add_to_outbox(conn, schema=store.SCHEMA, event_id=f"{start.case_id}:opened", subject=CASE_OPENED,
                                payload=domain_cloudevent(CASE_OPENED, f"{start.case_id}:opened", data,
                                                          source=SOURCE))

    async def ensure_started(self, start: CaseStart) -> None:
        """Start the case's workflow; a second start of the same id is a no-op."""
        try:
            await self._temporal.start_workflow(
                start.workflow, start.workflow_input, id=start.case_id, task_queue=TASK_QUEUE_WORKFLOWS,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(PATHWAY_KEY, start.pathway),
                    SearchAttributePair(REGION_KEY, start.region_code),
                ]),
            )
        except WorkflowAlreadyStartedError:
            pass
        async with self._pool.acquire() as conn:
            await store.mark_workflow_started(conn, start.case_id)

    async def record_transition(self, t: CaseTransition) -> bool:
        async with unit_of_work(self._pool) as conn:
            case = await store.case_row(conn, t.case_id)
            if case is None:
                raise LookupError(f"unknown case {t.case_id}")
            detail = {"outcome": t.outcome, "policy": t.policy, "approved_amount_fen": t.approved_amount_fen,
                      "flags": t.flags, "deadlines": t.deadlines, "escalated_to": t.escalated_to}
            if not await store.record_transition(conn, case_id=t.case_id, seq=t.seq, status=t.status,
                                                 stage=t.stage, note=t.note, detail=detail):
                return False
            subject = CASE_CLOSED if t.closed else CASE_ESCALATED if t.escalated else CASE_UPDATED
            event_id = f"{t.case_id}:{t.seq}"
            data = CaseEventData(case_id=t.case_id, pathway=t.pathway, status=t.status, stage=t.stage,
                                 person_id=case["person_id"], household_id=case["household_id"],
                                 region_code=case["region_code"], cause_event_id=case["cause_event_id"],
                                 note=t.note, policy=t.policy, approved_amount_fen=t.approved_amount_fen,
                                 occurred_at=t.at, outcome=t.outcome, seq=t.seq, flags=t.flags,
                                 deadlines=t.deadlines, escalated_to=t.escalated_to)
            await add_to_outbox(conn, schema=store.SCHEMA, event_id=event_id, subject=subject,
                                payload=domain_cloudevent(subject, event_id, data, source=SOURCE, time=t.at))
            return True
