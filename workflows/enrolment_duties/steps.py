"""The duties before a dibao / 特困 enrolment is confirmed (seed 002 「第一时间入户调查、第一时间民主评议、
第一时间张榜公示，对没有争议的救助申请家庭或个人，不再进行民主评议」; seed 004 「对没有争议的救助申请家庭，可不再进行
民主评议」; seed 001 「全面落实社会救助对象信息公示制度」):

1. a home visit (入户调查): a caseworker records the findings, disputed or not;
2. a democratic appraisal (民主评议) where the application is disputed, or always where the region's pack
   does not let an undisputed one skip it: participants, outcome, minutes;
3. the public notice (张榜公示) for the pack's period from the day the check concluded; an objection during
   it reopens the check (a home visit again, then an appraisal: an objection is a dispute); a period that
   ends without one lets the confirmation proceed.

The home visit and the appraisal each have a deadline, a reminder before it and an escalation to the
county after it (the case keeps waiting, flagged), like the other steps that wait for a person.

A mixin of the renewal workflow rather than a child workflow: the caseworker's updates, the timeline and
the tasks belong to the case the applicant and the county see (one workflow id, one sequence of
transitions); a child would need its own id for every update and its own record of the case. It runs
only where ``workflows/renewal/enrolment.py`` calls it, behind the patch ``enrolment-duties``.
Deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal

from temporalio import workflow

from workflows.common import SERVICE_RETRY, STEP_TIMEOUT, CaseSteps

with workflow.unsafe.imports_passed_through():
    from shared.config import TASK_QUEUE_APPROVAL, TASK_QUEUE_INTAKE
    from shared.contracts import activities as act
    from shared.contracts import duties as duty
    from workflows.enrolment_duties.inputs import (
        OBJECTION_TAKERS,
        VISITORS,
        AppraisalRecord,
        DutiesQuery,
        DutiesView,
        DutyRound,
        DutyTerms,
        HomeVisitFindings,
        Objection,
    )
    from workflows.enrolment_duties.policy import duty_terms_activity

ENROLMENT_DUTIES = "enrolment-duties"
BEIJING = timezone(timedelta(hours=8))  # the notice board's days are local days
DutyStep = Literal["home_visit", "democratic_appraisal"]  # the steps that wait for a person (task kinds)


def notice_ends(posted_on: date, days: int) -> datetime:
    """A notice posted on a day stays up ``days`` whole local days from that day: it ends at the midnight
    (Beijing time) that starts day ``posted_on + days``."""
    return datetime.combine(posted_on + timedelta(days=days), time(0), tzinfo=BEIJING)


class EnrolmentDuties(CaseSteps):
    """Mixed into the renewal workflow (through ``EnrolmentSteps``); its state is made by
    ``_enrolment_duties`` and read by the handlers (None before the duties begin)."""

    _duty_rounds: list[DutyRound] | None = None
    _duty_step: str | None = None            # the step waiting for a person or the notice period now
    _duty_since: date | None = None          # the earliest date this round's records may carry
    _visit: HomeVisitFindings | None = None  # this round's, as the update brings it
    _appraisal: AppraisalRecord | None = None
    _objection: Objection | None = None
    _notice_ends: datetime | None = None

    # -- what a person records (typed, signed updates) ---------------------------------------------------

    @workflow.update
    async def record_home_visit(self, findings: HomeVisitFindings) -> str:
        self._visit = findings
        return "home visit recorded" + ("; disputed: a democratic appraisal follows" if findings.disputed else "")

    @record_home_visit.validator
    def _validate_home_visit(self, findings: HomeVisitFindings) -> None:
        if self._duty_step != "home_visit" or self._visit is not None:
            raise ValueError("this case is not waiting for a home visit")
        self._duty_official(findings, "record_home_visit", findings.official, VISITORS, "record a home visit")
        self._on_or_after(findings.visited_on, self._duty_since, "visited_on")

    @workflow.update
    async def record_appraisal(self, record: AppraisalRecord) -> str:
        self._appraisal = record
        return "democratic appraisal recorded"

    @record_appraisal.validator
    def _validate_appraisal(self, record: AppraisalRecord) -> None:
        if self._duty_step != "democratic_appraisal" or self._appraisal is not None:
            raise ValueError("this case is not waiting for a democratic appraisal")
        self._duty_official(record, "record_appraisal", record.official, VISITORS, "record a democratic appraisal")
        self._on_or_after(record.held_on, self._visit.visited_on if self._visit else self._duty_since, "held_on")

    @workflow.update
    async def record_objection(self, objection: Objection) -> str:
        self._objection = objection
        return "objection recorded: the check is reopened"

    @record_objection.validator
    def _validate_objection(self, objection: Objection) -> None:
        ends = self._notice_ends
        if self._duty_step != "public_notice" or self._objection is not None or ends is None \
                or workflow.now() >= ends:
            raise ValueError("this case has no public notice open for objections")
        self._duty_official(objection, "record_objection", objection.official, OBJECTION_TAKERS,
                            "record an objection")
        self._on_or_after(objection.received_on, self._duty_since, "received_on")

    @workflow.query
    def duties(self) -> DutiesView | None:
        if self._duty_rounds is None:
            return None
        step = self._duty_step if self._duty_step in ("home_visit", "democratic_appraisal", "public_notice") \
            else "done"
        return DutiesView(step=step, rounds=self._duty_rounds)

    def _duty_official(self, arg: HomeVisitFindings | AppraisalRecord | Objection, update: str, official: str,
                       roles: tuple[str, ...], doing: str) -> None:
        """The signed official, of a role that may do this, in the case's jurisdiction, and not of the
        household (conflict of interest)."""
        claims = self._verified_official(arg, update, subject=official, roles=roles, doing=doing)
        if claims.person_id and claims.person_id in self._household_ids():
            raise ValueError("an official cannot act on a case of their own household (conflict of interest)")

    @staticmethod
    def _on_or_after(day: date, earliest: date | None, field: str) -> None:
        today = workflow.now().astimezone(BEIJING).date()
        if day > today:
            raise ValueError(f"{field}: {day} is in the future")
        if earliest is not None and day < earliest:
            raise ValueError(f"{field}: {day} is before {earliest}, when this step could begin")

    # -- the steps --------------------------------------------------------------------------------------

    async def _enrolment_duties(self, on: date, *, kind: str, household_size: int, monthly_fen: int) -> None:
        """Home visit, appraisal where needed, public notice; again after an objection. Returns when a
        notice period ended without objection."""
        terms = await workflow.execute_local_activity(
            duty_terms_activity, DutiesQuery(region_code=self._region, on=on),
            start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
        self._duty_rounds, self._duty_since = [], on
        while True:
            r = DutyRound(round=len(self._duty_rounds) + 1)
            self._duty_rounds.append(r)
            r.visit = await self._home_visit(r, terms)
            disputed = r.visit.disputed or r.round > 1  # an objection is a dispute
            if disputed or terms.appraisal_when_undisputed:
                r.appraisal = await self._democratic_appraisal(r, terms, disputed)
                posted_on = r.appraisal.held_on
            else:
                r.appraisal_skipped = True
                posted_on = r.visit.visited_on
                await self._record("open", "appraisal_skipped",
                                   f"undisputed: no democratic appraisal ({terms.appraisal_rule})")
            objection = await self._public_notice(r, terms, posted_on, kind, household_size, monthly_fen)
            if objection is None:
                break
            self._duty_since = objection.received_on
        self._duty_step = "done"

    async def _home_visit(self, r: DutyRound, terms: DutyTerms) -> HomeVisitFindings:
        self._visit = None
        again = f" again (round {r.round}, after an objection)" if r.round > 1 else ""
        await self._await_person("home_visit", "clerk", r.round, terms.home_visit_days, terms,
                                 lambda: self._visit is not None, f"入户调查: visit the household{again}")
        v = self._visit
        assert v is not None
        await self._close_duty_task("home_visit", v.official, "disputed" if v.disputed else "undisputed", r.round)
        await self._record("open", "home_visited", f"home visit on {v.visited_on} by {v.official}: "
                           f"{'disputed' if v.disputed else 'undisputed'}; {v.notes}")
        return v

    async def _democratic_appraisal(self, r: DutyRound, terms: DutyTerms, disputed: bool) -> AppraisalRecord:
        self._appraisal = None
        why = "disputed" if disputed else "the region's pack holds an appraisal for every application"
        await self._await_person("democratic_appraisal", "township_approver", r.round, terms.appraisal_days, terms,
                                 lambda: self._appraisal is not None, f"民主评议 ({why})")
        a = self._appraisal
        assert a is not None
        await self._close_duty_task("democratic_appraisal", a.official, a.outcome, r.round)
        await self._record("open", "appraised", f"democratic appraisal on {a.held_on}, recorded by {a.official}: "
                           f"{a.outcome}; {len(a.participants)} participants ({', '.join(a.participants)}); "
                           f"minutes: {a.minutes}")
        return a

    async def _await_person(self, step: DutyStep, role: str, round_: int, days: int, terms: DutyTerms,
                            arrived: Callable[[], bool], summary: str) -> None:
        """A task for ``role`` due in ``days``; a reminder ``reminder_days_before`` it; past it the case is
        flagged and escalated to the county, and keeps waiting."""
        self._duty_step = step
        due = workflow.now() + timedelta(days=days)
        self._deadlines = [{"kind": step, "due": due.isoformat()}]
        await workflow.execute_activity(
            act.OPEN_TASK, act.TaskOpen(case_id=self._case_id, pathway=self._pathway, kind=step, role=role,
                                        region_code=self._region, summary=summary, due_at=due,
                                        round=round_ if round_ > 1 else None),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
        await self._record("open", f"awaiting_{step}", f"{summary}: due by {due.isoformat()}")
        if not await self._wait_until(arrived, due - timedelta(days=terms.reminder_days_before)):
            await self._record("open", f"awaiting_{step}", f"reminder: {step} due by {due.isoformat()}")
            if not await self._wait_until(arrived, due):
                await self._escalate_overdue(f"{step}_overdue", "open", f"{step}_overdue",
                                             f"{step} overdue (due {due.isoformat()}): escalated to the county",
                                             to="county", arrived=arrived)
                self._flags.remove(f"{step}_overdue")
        self._deadlines = []

    async def _close_duty_task(self, kind: DutyStep, by: str, outcome: str, round_: int) -> None:
        await workflow.execute_activity(
            act.CLOSE_TASK, act.TaskClose(case_id=self._case_id, kind=kind, closed_by=by, outcome=outcome,
                                          round=round_ if round_ > 1 else None),
            task_queue=TASK_QUEUE_APPROVAL, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)

    async def _public_notice(self, r: DutyRound, terms: DutyTerms, posted_on: date, kind: str,
                             household_size: int, monthly_fen: int) -> Objection | None:
        """张榜公示 from the day the check concluded, for the pack's days; the objection that ended it early,
        or None when it ran its period clean."""
        ends = notice_ends(posted_on, terms.public_notice_days)
        r.notice_from, r.notice_ends_at = posted_on, ends
        self._objection, self._notice_ends, self._duty_since = None, ends, posted_on
        self._duty_step = "public_notice"
        await workflow.execute_activity(
            duty.POST_PUBLIC_NOTICE,
            duty.PublicNoticePost(case_id=self._case_id, round=r.round, person_id=self._subject_person(),
                                  household_id=self._subject_household(), region_code=self._region,
                                  kind="extreme_poverty" if kind == "extreme_poverty" else "dibao",
                                  household_size=household_size, monthly_amount_fen=monthly_fen,
                                  posted_on=posted_on, ends_at=ends),
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
        await self._record("open", "public_notice", f"张榜公示 round {r.round} from {posted_on}: objections until "
                           f"{ends.isoformat()} ({terms.public_notice_days} days)", amount=monthly_fen)
        objected = await self._wait_until(lambda: self._objection is not None, ends)
        self._duty_step = None  # no objection is taken once the period is over
        o = self._objection if objected else None
        await workflow.execute_activity(
            duty.CLOSE_PUBLIC_NOTICE, duty.PublicNoticeClose(case_id=self._case_id, round=r.round,
                                                             outcome="objected" if o else "clean", at=workflow.now()),
            task_queue=TASK_QUEUE_INTAKE, start_to_close_timeout=STEP_TIMEOUT, retry_policy=SERVICE_RETRY)
        if o is not None:
            r.objections.append(o)
            r.outcome = "reopened"
            await self._record("open", "notice_objected", f"objection received {o.received_on} by {o.official} "
                               f"from {o.objector}: {o.grounds}; the check is reopened")
            return o
        r.outcome = "clean"
        await self._record("open", "notice_clean", f"公示 ended {ends.isoformat()} without objection: "
                           "the confirmation proceeds")
        return None

    def _subject_person(self) -> str:
        """The applicant (the workflow says)."""
        raise NotImplementedError

    def _subject_household(self) -> str | None:
        raise NotImplementedError
