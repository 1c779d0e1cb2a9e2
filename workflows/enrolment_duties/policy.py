"""The enrolment duties' figures in force for a region and date, read from the policy packs: a local
activity (packs are files: reading them is I/O for a workflow; the result is recorded in its history)."""

from __future__ import annotations

from temporalio import activity

from shared.policy import PolicyLibrary, load_library
from workflows.enrolment_duties.inputs import DutiesQuery, DutyTerms
from workflows.errors import PolicyError, policy_errors

FIGURES = ("public_notice_days", "democratic_appraisal_when_undisputed", "home_visit_days",
           "democratic_appraisal_days", "enrolment_duty_reminder_days_before")


def duty_terms(query: DutiesQuery, lib: PolicyLibrary | None = None) -> DutyTerms:
    """Every figure from the most specific pack in force that sets it (the national pack's are labelled
    local practice where no seed gives one)."""
    lib = lib or load_library()
    cites: list[str] = []
    values = {}
    rule = ""
    for name in FIGURES:
        fig = lib.cited(name, query.region_code, query.on, cites)
        if fig is None:
            raise PolicyError(f"no pack in force for {query.region_code} on {query.on} sets {name}")
        values[name] = fig.value
        rule = fig.cite() if name == "democratic_appraisal_when_undisputed" else rule
    return DutyTerms(public_notice_days=values["public_notice_days"],
                     appraisal_when_undisputed=values["democratic_appraisal_when_undisputed"],
                     home_visit_days=values["home_visit_days"], appraisal_days=values["democratic_appraisal_days"],
                     reminder_days_before=values["enrolment_duty_reminder_days_before"],
                     appraisal_rule=rule, citations=cites)


@activity.defn(name="policy.enrolment_duty_terms")
async def duty_terms_activity(query: DutiesQuery) -> DutyTerms:
    with policy_errors():
        return duty_terms(query)
