"""The office's set-based duties on the bus (issue 17: 「visible on the timeline, the dashboard and the bus」).

Referrals (referrals.py) and visits to dispersed 特困 persons (care_visits.py) are rows, not workflows; each
change of one is staged here in the operations outbox inside the transaction that makes the change, so the
event is published if and only if the change committed (never a direct publish beside a DB write). The
event id is the cause (the referral and what happened to it, the visit, the caregiver decision, the person
and the lapsed due date), so a retried request or a second sweep stages nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import asyncpg

from services.operations import store
from services.operations import store_care as care_sql
from shared.contracts.domain_events import (
    CARE_VISIT_OVERDUE,
    CARE_VISIT_RECORDED,
    CAREGIVER_REPLACED,
    REFERRAL_OPENED,
    REFERRAL_OUTCOME_RECORDED,
    REFERRAL_OVERDUE,
    CareVisitEventData,
    ReferralEventData,
    domain_cloudevent,
)
from shared.infra.outbox import add_to_outbox

SOURCE = "urn:doudi:operations"

REFERRAL_SUBJECTS = {"created": REFERRAL_OPENED, "outcome": REFERRAL_OUTCOME_RECORDED, "overdue": REFERRAL_OVERDUE}


async def _stage(conn: store.Conn, subject: str, event_id: str, data: Any) -> None:
    # a pool's connection proxy is a Connection at run time (the unit of work hands out either)
    await add_to_outbox(cast(asyncpg.Connection, conn), schema=store.SCHEMA, event_id=event_id, subject=subject,
                        payload=domain_cloudevent(subject, event_id, data, source=SOURCE, time=data.occurred_at))


async def referral(conn: store.Conn, row: Any, what: str, at: datetime, note: str) -> None:
    """``doudi.case.referral.<opened|outcome_recorded|overdue>``; ``what`` is the timeline's word for it
    (created, outcome, overdue), and the event id the timeline entry's (``<referral_id>:<what>``)."""
    data = ReferralEventData(case_id=row["case_id"], referral_id=row["referral_id"],
                             region_code=row["region_code"], to_kind=row["to_kind"], to_name=row["to_name"],
                             service=row["service"], due_at=row["due_at"],
                             outcome=row["outcome"] if "outcome" in row.keys() else None, note=note,
                             occurred_at=at)
    await _stage(conn, REFERRAL_SUBJECTS[what], f"{row['referral_id']}:{what}", data)


async def visit_recorded(conn: store.Conn, visit_id: str, after: Any, *, performing: bool, findings: str) -> None:
    """``doudi.case.care_visit.recorded``: the visit and when the next is due."""
    data = CareVisitEventData(person_id=after["person_id"], region_code=after["region_code"],
                              care_level=after["care_level"], caregiver=after["caregiver"],
                              next_visit_due=after["next_visit_due"], visit_id=visit_id,
                              note=("caregiver performing" if performing else "caregiver NOT performing")
                                   + f": {findings}", occurred_at=datetime.now(UTC))
    await _stage(conn, CARE_VISIT_RECORDED, f"{visit_id}:recorded", data)


async def caregiver_replaced(conn: store.Conn, change_id: str, row: Any, *, new: str, reason: str) -> None:
    """``doudi.case.care_visit.caregiver_replaced``: the decision (及时更换照料服务人), once per decision id."""
    data = CareVisitEventData(person_id=row["person_id"], region_code=row["region_code"],
                              care_level=row["care_level"], caregiver=new, previous_caregiver=row["caregiver"],
                              next_visit_due=row["next_visit_due"], change_id=change_id, note=reason,
                              occurred_at=datetime.now(UTC))
    await _stage(conn, CAREGIVER_REPLACED, change_id, data)


async def note_care_overdue(conn: store.Conn) -> list[str]:
    """The sweep's part: each person whose visit newly fell past due, once per due date on the bus.
    Returns their ids."""
    noted = []
    for r in await care_sql.newly_overdue(conn):
        due: datetime = r["next_visit_due"]
        data = CareVisitEventData(person_id=r["person_id"], region_code=r["region_code"],
                                  care_level=r["care_level"], caregiver=r["caregiver"], next_visit_due=due,
                                  note=f"visit overdue since {due.isoformat()}", occurred_at=datetime.now(UTC))
        await _stage(conn, CARE_VISIT_OVERDUE, f"care-{r['person_id']}:overdue:{int(due.timestamp())}", data)
        noted.append(r["person_id"])
    return noted
