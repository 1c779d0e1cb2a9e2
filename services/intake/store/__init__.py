"""The intake service's store: ALL of intake's SQL (schema ``intake``), one module per concern.

- ``registry``: households, members, registry changes (the household registry);
- ``cases``: cases, their causes and transitions, screenings, applications (the case registry);
- ``roster``: enrolled households, their reviews and back-pay;
- ``cycle``: the monthly cycle's set-based statements (review, 提标, the payment roll);
- ``exports``: the streamed cohort and roll exports.

The registry's and the case registry's functions are re-exported here (``store.recipient_facts``).
"""

from __future__ import annotations

from services.intake.store.cases import (
    application_case,
    case_row,
    household_incident_case,
    household_of_case,
    join_lane,
    lane_of,
    lane_starts,
    link_cause,
    lock_household,
    mark_workflow_started,
    mark_workflows_started,
    open_case,
    open_case_for,
    open_cases,
    record_application,
    record_screening,
    record_transition,
    review_cases_to_start,
    start_for_case,
    start_for_event,
    start_of,
)
from services.intake.store.registry import (
    HouseholdView,
    MemberElsewhere,
    MemberView,
    household_categories,
    household_id_of,
    household_of_member,
    household_row,
    household_version,
    household_view,
    mark_deceased,
    members_elsewhere,
    members_of,
    move_member_out,
    recipient_facts,
    record_roster_registration,
    registry_changes,
    set_income,
    upsert_household,
)

SCHEMA = "intake"

__all__ = [
    "SCHEMA", "HouseholdView", "MemberElsewhere", "MemberView", "application_case", "case_row",
    "household_categories", "household_id_of", "household_incident_case",
    "household_of_case", "household_of_member", "household_row", "household_version", "household_view", "join_lane",
    "lane_of", "lane_starts", "link_cause", "lock_household", "mark_deceased", "mark_workflow_started",
    "mark_workflows_started", "members_elsewhere", "members_of",
    "move_member_out", "open_case", "open_case_for", "open_cases", "recipient_facts", "record_application",
    "record_roster_registration", "record_screening", "record_transition", "registry_changes",
    "review_cases_to_start", "set_income", "start_for_case", "start_for_event", "start_of",
    "upsert_household",
]
