"""Intake's service layer: register households, turn inbound facts into cases, start their workflows.

Entry points (HTTP routes, bus subscribers) only parse and call these; every state change and the
domain event it publishes happen in one transaction (unit of work + outbox).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import UTC, date, datetime

import asyncpg
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.intake import enrolment, registry, residence, store
from services.intake.enrolment import ChangeForCase, ReviewOpened
from services.intake.lane import LaneGathering, lane_eligible, start_lane
from services.intake.registry import Registrar
from services.intake.routing import (
    ONE_OFF_KINDS,
    CaseStart,
    ScreenedOut,
    application_update,
    business_date,
    incident_case_id,
    route_application,
    route_event,
)
from services.intake.store import residence as residence_store
from shared.assertions import Signatory
from shared.config import TASK_QUEUE_WORKFLOWS, get_settings
from shared.contracts import activities as act
from shared.contracts.activities import CaseOpen, CaseTransition
from shared.contracts.api import ApplicationIn, HouseholdIn, HouseholdOut
from shared.contracts.domain_events import (
    CASE_CLOSED,
    CASE_ESCALATED,
    CASE_OPENED,
    CASE_UPDATED,
    CaseEventData,
    FiledWhere,
    domain_cloudevent,
)
from shared.contracts.events import InboundEvent, IncomeChanged, MemberDeceased
from shared.infra.case_updates import update_case
from shared.infra.db import unit_of_work
from shared.infra.outbox import add_to_outbox, first_delivery
from workflows.emergency_relief.inputs import EmergencyReliefResult
from workflows.emergency_relief.settled import WORKFLOW as SETTLED
from workflows.emergency_relief.settled import SettledInput
from workflows.one_off_assistance.workflow import OneOffAssistanceWorkflow
from workflows.renewal.inputs import EnrolmentApplication, IncomeChange, MemberDeath
from workflows.updates import report_change

# who signs the reported changes intake sends to a household's case (shared/assertions.py)
INTAKE_SERVICE = Signatory(subject="intake", role="service")
log = logging.getLogger(__name__)
SOURCE = "urn:doudi:intake"

PATHWAY_KEY = SearchAttributeKey.for_keyword("DoudiPathway")
REGION_KEY = SearchAttributeKey.for_keyword("DoudiRegion")


class IntakeService:
    def __init__(self, pool: asyncpg.Pool, temporal: Client):
        self._pool = pool
        self._temporal = temporal
        window_ms = get_settings().lane_window_ms
        self._lanes = window_ms > 0
        self._lane = LaneGathering(temporal, self._start_alone, join=self._join_lane, started=self._lanes_started,
                                   window_s=window_ms / 1000)

    @property
    def temporal(self) -> Client:
        return self._temporal

    async def case_region(self, case_id: str) -> str | None:
        async with self._pool.acquire() as conn:
            row = await store.case_row(conn, case_id)
        return row["region_code"] if row is not None else None

    async def register_household(self, household: HouseholdIn, by: Registrar, moves: Collection[str] = (),
                                 if_match: registry.IfMatch | None = None) -> HouseholdOut:
        """Under the registry's rules (services/intake/registry.py): one household per person, money
        categories only from an authorised roster registration; with ``if_match`` only over the version
        the caller read. Raises ``RegistrationRefused``."""
        async with unit_of_work(self._pool) as conn:
            household, version, created = await registry.register(conn, household, by, moves, if_match)
            view = await store.household_view(conn, household.household_id)
        assert view is not None
        return HouseholdOut(household_id=view.household_id, region_code=view.region_code, urban=view.urban,
                            categories=view.categories, monthly_income_fen=view.monthly_income_fen,
                            members=[m.model_dump() for m in view.members], version=version, created=created,
                            remote=view.remote)

    async def accept_event(self, event: InboundEvent, subject: str) -> str | None:
        """Open the case an inbound event calls for (once per event id, once per incident) and make
        sure its workflow runs. Returns the case id, or None when the fact opens no case."""
        update = None
        async with unit_of_work(self._pool) as conn:
            first = await first_delivery(conn, event.id, subject)
            if first:
                person = getattr(event.data, "person_id", None)
                reported_on = (event.envelope.time or datetime.now(UTC)).date()
                # the registry as it stood on the event's own business date (the quarantine, the diagnosis...)
                facts = (await store.recipient_facts(conn, person, business_date(event, reported_on))
                         if person else None)
                followup = await self._apply_registry_change(conn, event, reported_on)
                routed = route_event(event, facts, reported_on)
                if isinstance(routed, ScreenedOut):
                    await store.record_screening(conn, event.id, routed.measure, routed.person_id,
                                                 routed.reason)
                    log.info("event %s opens no case: %s", event.id, routed.reason)
                    routed = None
                if routed is not None and routed.incident is not None:
                    routed = await self._household_incident(conn, event, routed)
                if routed is not None:
                    await self._open(conn, routed)
                elif isinstance(followup, ReviewOpened):
                    routed = followup.start  # an off-cycle review case of an enrolled household
                elif followup is not None:
                    update = followup
                if routed is not None:
                    await store.link_cause(conn, event.id, routed.case_id)
                start = routed
            else:  # a redelivery: re-drive the start recorded the first time (it may have been cut short)
                start = await store.start_for_event(conn, event.id)
        if update is not None:
            return await self._send_change(event, update)
        if start is None:
            return None
        if self._lanes and first and start.lane_id is None and lane_eligible(start):
            await self._lane.start(start)  # marks it started (its lane's cases in one statement)
        else:  # a redelivery re-drives the case's lane if it was gathered into one, never its own workflow
            await self.drive(start)
        return start.case_id

    async def _household_incident(self, conn: asyncpg.Connection, event: InboundEvent,
                                  routed: CaseStart) -> CaseStart:
        """Aid the seed grants per 家庭 and incident (quarantine: 「因家庭成员被隔离收治等原因导致基本生活
        出现暂时困难的家庭」): a member reported within the incident window of the household's case
        joins that case, one payment for the household. Serialised per household, so two members' reports
        arriving together still make one case."""
        incident = routed.incident
        assert incident is not None
        await store.lock_household(conn, incident.household_id)
        existing = await store.household_incident_case(conn, incident.household_id, incident.trigger,
                                                       routed.business_date, incident.window_days)
        if existing is None or existing == routed.case_id:
            return routed
        await store.record_screening(conn, event.id, incident.trigger, getattr(event.data, "person_id", None),
                                     f"same household incident as case {existing}: the household is paid "
                                     f"once (per 家庭 and incident, {incident.window_days}-day window)")
        start = await store.start_for_case(conn, existing)
        assert start is not None
        return start

    async def _apply_registry_change(self, conn: asyncpg.Connection, event: InboundEvent,
                                     on: date) -> ChangeForCase | ReviewOpened | None:
        """Facts that change the registry (a death, an income change) update it in the same transaction;
        pathways then see them at their next re-check (staged aid, renewal reviews). An enrolled
        household's change opens its off-cycle review, or goes to the case that carries it."""
        data = event.data
        if isinstance(data, MemberDeceased):
            household = await store.household_id_of(conn, data.person_id)
            followup = None if household is None else await enrolment.on_reported_change(
                conn, household, event.id, on, MemberDeath(person_id=data.person_id, died_on=data.died_on,
                                                           reported_by=f"event {event.id}"))
            if not await store.mark_deceased(conn, data.person_id, data.died_on):
                await store.record_screening(conn, event.id, "registry", data.person_id,
                                             "death of a person not in the registry")
            return followup
        if isinstance(data, IncomeChanged):
            followup = await enrolment.on_reported_change(
                conn, data.household_id, event.id, on,
                IncomeChange(monthly_income_fen=data.monthly_income_fen, reason=data.reason,
                             effective_on=data.effective_on, reported_by=f"event {event.id}"))
            if not await store.set_income(conn, data.household_id, data.monthly_income_fen, data.reason,
                                          data.effective_on):
                await store.record_screening(conn, event.id, "registry", None,
                                             f"income change for unknown household {data.household_id}")
            return followup
        return None

    async def _send_change(self, event: InboundEvent, update: ChangeForCase) -> str | None:
        """A change of a household its renewal case carries goes to that case (update id = event id:
        a redelivery is not applied twice). If the case has just handed the household back to the
        cycle, the change opens a new review case instead."""
        case_id, arg = update.case_id, update.change
        for _ in range(40):
            try:
                # signed as intake's service account: the workflow takes reported changes from doudi only
                await report_change(self._temporal, case_id, arg, by=INTAKE_SERVICE, update_id=event.id)
                return case_id
            except WorkflowUpdateFailedError as exc:
                log.info("case %s refused %s from event %s: %s", case_id, type(arg).__name__, event.id,
                         exc.cause)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
            async with unit_of_work(self._pool) as conn:
                household = await store.household_of_case(conn, case_id)
                followup = None if household is None else await enrolment.on_reported_change(
                    conn, household, event.id, datetime.now(UTC).date(), arg)
                if isinstance(followup, ReviewOpened):
                    await store.link_cause(conn, event.id, followup.start.case_id)
            if followup is None:
                return None
            if isinstance(followup, ReviewOpened):
                await self.drive(followup.start)
                return followup.start.case_id
            case_id, arg = followup.case_id, followup.change
            await asyncio.sleep(0.5)  # the case is settling its hand-back; its roster row follows shortly
        raise RuntimeError(f"change from event {event.id} could not reach household case {case_id}")

    async def household(self, household_id: str) -> store.HouseholdView | None:
        async with self._pool.acquire() as conn:
            return await store.household_view(conn, household_id)

    async def apply(self, app: ApplicationIn, registered_by: str, role: str, region: str,
                    today: date) -> tuple[str, str]:
        """One-window intake: record the application; join the open outreach case for the same person
        and measure if there is one, else open (or find) its own case. Idempotent by application id.
        Returns (case_id, application_id)."""
        application_id = app.application_id or incident_case_id(
            "app", app.person_id, app.kind, (app.details.incident_date or today).isoformat())
        async with unit_of_work(self._pool) as conn:
            known_row = await store.application_case(conn, application_id)
            if known_row is not None and region and not known_row["region_code"].startswith(region):
                raise PermissionError(f"application {application_id} is taken")  # no foreign case id leaks
            known = known_row["case_id"] if known_row is not None else None
            # where the person lives or works may take it too (raises 422 for an office that may not)
            place = None if known else residence.filing_place(
                app, await residence_store.registered_region(conn, app.person_id))
            outreach = None if known or app.kind not in ONE_OFF_KINDS else await self._outreach_here(
                conn, app, region)
            if known is None and outreach is not None:
                await self._claim_once(conn, app, outreach)
                # the application joins the outreach case: no second case (validated by the workflow)
                await update_case(self._temporal, outreach, OneOffAssistanceWorkflow.apply,
                                  application_update(app, application_id, registered_by, role, region),
                                  by=Signatory(subject=registered_by, role=role, region=region))
                case_id, start = outreach, None
            elif known is not None:
                case_id, start = known, await store.start_for_case(conn, known)
            elif app.kind == "dibao":
                start, _ = await enrolment.application_start(
                    conn, case_id=incident_case_id("rn", "application", application_id),
                    person_id=app.person_id,
                    region_code=app.region_code, on=app.details.incident_date or today,
                    rigid_expenditure_fen=app.details.monthly_rigid_expenditure_fen or 0,
                    single_person=app.details.single_person,
                    application=EnrolmentApplication(application_id=application_id,
                                                     registered_by=registered_by, role=role, region=region,
                                                     consent=app.consent))
                await self._open(conn, start)
                case_id = start.case_id
            else:
                start = route_application(app, application_id, registered_by, role, region, today)
                await self._open(conn, start, filed_where=place)
                await self._claim_once(conn, app, start.case_id)
                case_id = start.case_id
            if place is not None and place.informs_registration_office:
                await self._inform_registration_office(conn, app, case_id, place)
            await store.record_application(
                conn, application_id=application_id, case_id=case_id, person_id=app.person_id,
                region_code=app.region_code, kind=app.kind, consent_given=app.consent,
                registered_by=registered_by, details=app.details.model_dump(mode="json"))
        if start is not None:
            await self.drive(start)
        return case_id, application_id

    async def registration_notices(self, jurisdiction: str, limit: int, offset: int
                                   ) -> tuple[list[asyncpg.Record], int]:
        """The notices to the registration offices in ``jurisdiction`` (applied where the person lives)."""
        async with self._pool.acquire() as conn:
            return await residence_store.notices_for(conn, jurisdiction, limit, offset)

    async def _outreach_here(self, conn: asyncpg.Connection, app: ApplicationIn, region: str) -> str | None:
        """The person's open outreach case for the measure, which the application joins, if it is this office's
        (another office's is not joined: this one opens its own, and the claim pays once)."""
        outreach = await store.open_case_for(conn, app.person_id, ONE_OFF_KINDS[app.kind])
        row = None if outreach is None else await store.case_row(conn, outreach)
        return outreach if row is not None and row["region_code"].startswith(region) else None

    async def _claim_once(self, conn: asyncpg.Connection, app: ApplicationIn, case_id: str) -> None:
        """A one-off aid is paid once for its cause wherever the person applies (residence.once_key)."""
        key = residence.once_key(app)
        holder = None if key is None else await residence_store.claim_once(conn, key, case_id, app.region_code)
        if holder is not None:
            raise residence.PaidOnceElsewhere(holder["region_code"])

    async def _inform_registration_office(self, conn: asyncpg.Connection, app: ApplicationIn, case_id: str,
                                          place: residence.FilingPlace) -> None:
        """The office where the household is registered is told who applied where, and on what basis."""
        assert place.registered_region_code is not None
        await residence_store.add_notice(conn, residence_store.Notice(
            case_id=case_id, person_id=app.person_id, kind=app.kind, basis=place.basis,
            registered_region_code=place.registered_region_code, deciding_region_code=app.region_code,
            evidence=place.evidence))

    async def _open(self, conn: asyncpg.Connection, start: CaseStart, *, parent_case_id: str | None = None,
                    note: str = "", filed_where: residence.FilingPlace | None = None) -> bool:
        facts = (await store.recipient_facts(conn, start.person_id, start.business_date)
                 if start.person_id else None)
        household_id = facts.household_id if facts else None
        created = await store.open_case(
            conn, case_id=start.case_id, pathway=start.pathway, trigger=start.trigger,
            person_id=start.person_id, household_id=household_id,
            region_code=start.region_code, business_date=start.business_date,
            cause_event_id=start.cause_event_id, workflow_type=start.workflow,
            workflow_input=start.workflow_input if isinstance(start.workflow_input, dict)
            else start.workflow_input.model_dump(mode="json"),
        )
        if created:
            data = CaseEventData(case_id=start.case_id, pathway=start.pathway, status="open", stage="opened",
                                 person_id=start.person_id, household_id=household_id,
                                 region_code=start.region_code, cause_event_id=start.cause_event_id,
                                 note=note or f"opened by {start.trigger} on "
                                                 f"{start.business_date.isoformat()}",
                                 parent_case_id=parent_case_id)
            if filed_where is not None and filed_where.informs_registration_office:
                # the registration office learns of it on the bus too (an added field of case.opened)
                data.filed_where = FiledWhere(basis=filed_where.basis, deciding_region_code=start.region_code,
                                              registered_region_code=filed_where.registered_region_code)
            event_id = f"{start.case_id}:opened"
            await add_to_outbox(conn, schema=store.SCHEMA, event_id=event_id, subject=CASE_OPENED,
                                payload=domain_cloudevent(CASE_OPENED, event_id, data, source=SOURCE))
        return created

    async def start_lane_case(self, case: act.LaneCaseStart, lane: str) -> None:
        """A lane's case gets its own workflow: the record of the case the lane settled, or the case from the
        start, handed over (docs/adr/0021)."""
        if not case.settled:
            async with self._pool.acquire() as conn:
                start = await store.start_for_case(conn, case.case_id)
            if start is None:
                raise LookupError(f"unknown case {case.case_id}")
            return await self.ensure_started(start)
        assert case.result is not None
        async with self._pool.acquire() as conn:
            row = await store.case_row(conn, case.case_id)
        if row is None:
            raise LookupError(f"unknown case {case.case_id}")
        try:
            await self._temporal.start_workflow(
                SETTLED, SettledInput(lane_id=lane, result=EmergencyReliefResult.model_validate(case.result)),
                id=case.case_id, task_queue=TASK_QUEUE_WORKFLOWS,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(PATHWAY_KEY, row["pathway"]),
                    SearchAttributePair(REGION_KEY, row["region_code"]),
                ]))
        except WorkflowAlreadyStartedError:
            pass

    async def drive(self, start: CaseStart) -> None:
        """Make sure the process that settles a case runs (a redelivery, a restart, a known application): its
        lane if it was gathered into one (docs/adr/0021), else its own workflow. Never both: a case the lane
        may settle only starts its own workflow from the lane (``start_lane_case``) or after claiming itself."""
        if start.lane_id is not None and start.lane_id != start.case_id:
            await self.redrive_lane(start.lane_id)
        elif start.lane_id is None and lane_eligible(start):
            await self._start_alone(start)  # never gathered (cut short before it was): claimed first
        else:
            await self.ensure_started(start)

    async def redrive_lane(self, lane: str) -> None:
        """Start the lane again with its members' inputs and its id: a lane that runs or ran is left as it is,
        one whose start was cut short starts now."""
        async with self._pool.acquire() as conn:
            members = await store.lane_starts(conn, lane)
        if not members:
            raise LookupError(f"lane {lane} has no cases")
        await start_lane(self._temporal, lane, members)
        await self._lanes_started([m.case_id for m in members])

    async def _start_alone(self, start: CaseStart) -> None:
        """A case the lane could settle starts its own workflow only once it has claimed itself (its own id as
        its lane), so that a lane gathered at the same moment (another report of one household's incident)
        leaves it; if a lane took it first, that lane is driven instead."""
        async with self._pool.acquire() as conn:
            mine = await store.join_lane(conn, start.case_id, [start.case_id])
            lane = start.case_id if mine else await store.lane_of(conn, start.case_id)
        if lane is None:
            raise LookupError(f"unknown case {start.case_id}")
        if lane != start.case_id:
            return await self.redrive_lane(lane)
        await self.ensure_started(start)

    async def _join_lane(self, lane: str, case_ids: list[str]) -> list[str]:
        async with self._pool.acquire() as conn:
            return await store.join_lane(conn, lane, case_ids)

    async def _lanes_started(self, case_ids: list[str]) -> None:
        async with self._pool.acquire() as conn:
            await store.mark_workflows_started(conn, case_ids)

    async def ensure_started(self, start: CaseStart) -> None:
        """Start the case's own workflow; a second start of the same id is a no-op. Only for a case no lane
        settles (``drive`` decides) or one its lane handed over (``start_lane_case``)."""
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

    async def open_related_case(self, c: CaseOpen) -> bool:
        """A case a workflow opens for its own next step (a committee matter, a staged plan)."""
        async with unit_of_work(self._pool) as conn:
            start = CaseStart(case_id=c.case_id, pathway=c.pathway, trigger=c.trigger,
                              workflow=c.workflow_type, person_id=c.person_id, region_code=c.region_code,
                              business_date=c.business_date,
                              cause_event_id=c.cause_event_id, workflow_input=c.workflow_input)
            return await self._open(conn, start, parent_case_id=c.parent_case_id, note=c.note)

    async def record_transition(self, t: CaseTransition) -> bool:
        async with unit_of_work(self._pool) as conn:
            return await self._record_transition(conn, t)

    async def record_transitions(self, ts: list[CaseTransition]) -> list[bool]:
        """Steps that follow at once (paid, then closed), in one transaction and in their order; each is
        recorded and published once, as ``record_transition`` does (a retry records none twice)."""
        async with unit_of_work(self._pool) as conn:
            return [await self._record_transition(conn, t) for t in ts]

    async def _record_transition(self, conn: asyncpg.Connection, t: CaseTransition) -> bool:
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
