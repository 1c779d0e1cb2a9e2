"""Batch disbursement (批量发放): the one-time living subsidy and the price-linkage subsidy to every
eligible recipient of a region, paid in chunks by set-based SQL (schema ``payment``, migration 003).

The whole path, and why it is resumable and pays each recipient once per installment:

1. **Plan** (``plan_request``, pure): the measure must be in force for the region on the snapshot date;
   the amount comes from the policy pack (never from code): Ningxia's 600 yuan as 3 x 200 yuan
   (seed 002), Xinjiang's "at least 300 yuan" (seed 000, a floor a request may raise), Jiangxi's
   「按照 6 月份发放标准增发」 (seed 001) as each household's own June level (the pack's
   ``<measure>_level_month``: a request's flat amount is refused), and where a pack fixes no amount
   (Fujian seed 000) the request must give one. A price-linkage batch
   takes its amount from the triggering event, raised to a pack's minimum where a pack sets one
   (Xinjiang: 20 yuan), and says so. The batch id is derived (measure, region, occasion), so a repeat is
   the same batch; an overlapping batch of the same measure and occasion is refused (it would pay the
   same people twice).
2. **Load** (one activity, heartbeating, ONE transaction): intake's cohort export (a streaming CSV, the
   registry read in one snapshot) is piped straight into ``COPY batch_recipients``; amounts are then
   evaluated per (region, urban, categories) group, a few hundred policy evaluations instead of one per
   recipient, into ``batch_amounts``; a level-month batch reads each household's payment for that month
   from the ledger into ``batch_levels`` (one statement), paid once per household. A crash anywhere
   rolls the whole load back; a retry starts over;
   a retry after the commit finds ``loaded_at`` set and answers from it.
3. **Pay** (one activity per chunk of ``chunk_size`` ordinals, ONE transaction each)::

       INSERT INTO ledger (...) SELECT ... FROM batch_recipients JOIN batch_amounts ...
       WHERE batch_id = $1 AND ordinal BETWEEN ... ON CONFLICT (idempotency_key) DO NOTHING

   with the key ``batch:<batch_id>:<person_id>:<installment>``; the chunk's row in ``batch_chunks``, the
   progress counters on ``batches`` and the ``doudi.payment.batch_progress`` event (outbox) are written
   in the same transaction. A chunk retried after its commit finds its ``batch_chunks`` row and pays
   nothing; a chunk cut short by a crash rolled back entirely; two attempts racing on one chunk meet on
   the ledger's unique index, and the second inserts nothing.
4. **Events**: one ``doudi.payment.batch_progress`` per chunk through the outbox (atomic with the
   chunk). The per-payment ``doudi.payment.disbursed`` events (same id and shape as a single payment's:
   ``<payment_id>:disbursed``) are published by a bulk path that tails the committed ledger chunk by chunk
   (``publish_payment_events``), not through 617,800 outbox rows: the ledger row is the durable record
   the event is derived from, a chunk is marked published only after JetStream acknowledged every
   message, and a republished chunk is dropped by JetStream's duplicate window and the consumers'
   inboxes. It runs while no batch is loading or paying: payments first, notifications right after.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import asyncpg
import httpx
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from shared.assertions import Signatory
from shared.auth import Role, issue_token
from shared.contracts.domain_events import (
    PAYMENT_BATCH_PROGRESS,
    PAYMENT_DISBURSED,
    PaymentEventData,
    domain_cloudevent,
)
from shared.faults import crash_point, fault_active
from shared.infra.bus import stream_for
from shared.infra.case_updates import signed
from shared.infra.db import unit_of_work
from shared.infra.outbox import add_to_outbox
from shared.policy import CATEGORIES, Figure, HouseholdProfile, PolicyLibrary, load_library
from workflows.batch_subsidy import contracts as c
from workflows.batch_subsidy.inputs import (
    PATHWAY,
    BatchControl,
    BatchPlan,
    BatchRequest,
    InstallmentPlan,
    batch_id_for,
    price_linkage_occasion,
)

log = logging.getLogger(__name__)

SCHEMA = "payment"
SOURCE = "urn:doudi:payment"
BATCH_PROGRESS = PAYMENT_BATCH_PROGRESS
CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")  # a month starts at 00:00 China time
DEFAULT_CATEGORIES = ("dibao", "extreme_poverty")
FINAL = ("completed", "cancelled", "rejected")
ACTIVE = ("loading", "paying")
EXPORT_COLUMNS = ["ordinal", "person_id", "household_id", "region_code", "categories", "urban"]
EVENT_WINDOW = 500  # JetStream publishes in flight at once (bulk per-payment events)


# -- errors ----------------------------------------------------------------------------------------

class BatchRejected(Exception):
    """The request cannot become a batch (422: invalid for the policy; 409: conflicts with a batch)."""

    def __init__(self, reason: str, status_code: int = 422):
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class BatchNotFound(LookupError):
    pass


class BatchNotRunning(Exception):
    pass


AWAITING_SECOND = "awaiting_second_approval"


def open_amount_reason(req: BatchRequest, lib: PolicyLibrary) -> str | None:
    """Why a person, not the policy, sets this batch's amount (then a second official approves it before
    anything pays: four eyes); None when the policy fixes the amount or computed it."""
    amount = req.amount_fen_per_person
    if amount is None or req.requested_by.startswith("event:"):
        return None  # the policy's amount, or computed from an event's price index by the pack's rule
    if req.measure == "price_linkage":
        return f"a price-linkage amount of {amount} fen per person set by a person, not computed from a price index"
    m = lib.measure(req.measure, req.region_prefix, req.snapshot_on)
    if m is not None and m.amount.kind == "not_fixed":
        return f"the policy leaves the amount open ({m.amount.not_fixed_reason}): {amount} fen per person set by a person"
    if m is not None:
        ent = lib.entitlement(req.measure, req.region_prefix, req.snapshot_on,
                              HouseholdProfile(categories=frozenset((req.categories or list(m.eligible_categories))[:1])))
        if ent.payable and ent.amount_is_minimum and amount > ent.amount_fen:
            return f"{amount} fen per person is above the policy's floor of {ent.amount_fen} fen (不低于): set by a person"
    return None


def first_official(requested_by: str) -> str:
    """The subject in ``<role>:<subject>`` (how a route records who asked)."""
    return requested_by.split(":", 1)[-1]


def _not_retryable(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


# -- planning (pure) -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Planned:
    """A request the policy accepts: its derived id, the installment schedule, the pack applied."""

    batch_id: str
    occasion: str
    categories: list[str]
    installments: list[InstallmentPlan]
    policy: dict[str, Any] | None
    amount_note: str
    # the recipients' date when the request came after the payment deadline (the entitlement's date);
    # None: the request's snapshot date
    snapshot_on: date | None = None
    overdue: bool = False


def month_start(month: str) -> datetime:
    year, m = (int(x) for x in month.split("-"))
    return datetime.combine(date(year, m, 1), time(0), tzinfo=CHINA)


# Measures whose window ends at a PAYMENT DEADLINE, not at the end of the entitlement (issue 13 item 14):
# seed 001 Jiangxi 「各地要于 7 月 15 日前为低保对象、特困人员……按照 6 月份发放标准增发一次性生活补贴」 and seed 002
# Ningxia 「从2022年6月开始，连续发放3个月」 (last installment August). A batch requested after the window is
# still paid, to the recipients entitled by the deadline, and flagged overdue.
PAYMENT_DEADLINE_MEASURES = frozenset({"one_time_living_subsidy"})


def payment_deadline_passed(lib: PolicyLibrary, measure: str, region: str, on: date) -> tuple[date, str] | None:
    """(the deadline, its citation) when ``measure`` is not in force on ``on`` only because its payment
    deadline passed for the region; None otherwise."""
    if measure not in PAYMENT_DEADLINE_MEASURES or lib.measure(measure, region, on) is not None:
        return None
    ended: list[tuple[date, str]] = []
    for p in lib.packs:
        m = p.measures.get(measure)
        if m is None or not p.matches(region):
            continue
        end = m.effective_to or p.effective_to
        if end is not None and end < on and m.in_force(end):
            ended.append((end, m.cite()))
    return max(ended) if ended else None


def occasion_for(req: BatchRequest, lib: PolicyLibrary) -> str:
    """What makes a batch "the same payment": the price-linkage month; for the one-time subsidy the pack
    (and version) whose measure it is. One batch per measure, region and occasion."""
    if req.measure == "price_linkage":
        assert req.month is not None
        return price_linkage_occasion(req.month)
    on = req.snapshot_on
    late = payment_deadline_passed(lib, req.measure, req.region_prefix, on)
    policy = _pack_policy(lib, req.measure, req.region_prefix, late[0] if late else on)
    if policy is not None:
        return f"pack:{policy['pack_id']}@{policy['pack_version']}"
    return f"snapshot:{req.snapshot_on.isoformat()}"


def _pack_policy(lib: PolicyLibrary, measure: str, region: str, on: date) -> dict[str, Any] | None:
    """The pack (most specific first) whose measure applies: what the batch records it applied."""
    for p in lib._in_force(region, on):
        m = p.measures.get(measure)
        if m is not None and m.in_force(on):
            return {"pack_id": p.pack_id, "pack_version": p.version, "measure": measure,
                    "region_prefix": p.region_prefix, "citations": [m.cite()]}
    return None


def plan_request(req: BatchRequest, lib: PolicyLibrary | None = None) -> Planned:
    """Accept or refuse a request by the policy in force for its region on the snapshot date.
    Raises BatchRejected (422) with the reason."""
    lib = lib or load_library()
    unknown = sorted(set(req.categories or ()) - CATEGORIES)
    if unknown:
        raise BatchRejected(f"unknown categories: {', '.join(unknown)}")
    on, region = req.snapshot_on, req.region_prefix
    # after the payment deadline: still paid, to those entitled by the deadline, and flagged overdue
    late = payment_deadline_passed(lib, req.measure, region, on) if req.measure != "price_linkage" else None
    if late is not None:
        on = late[0]
    m = lib.measure(req.measure, region, on)
    policy = _pack_policy(lib, req.measure, region, on)
    categories = list(req.categories or (m.eligible_categories if m and m.eligible_categories else DEFAULT_CATEGORIES))
    batch_id = batch_id_for(req.measure, region, occasion_for(req, lib))
    amount = req.amount_fen_per_person
    if req.measure == "price_linkage":
        assert req.month is not None
        if amount is None:
            raise BatchRejected("a price-linkage batch needs amount_fen_per_person (the triggering event's amount)")
        ceiling = lib.parameter("price_linkage_max_fen", region, on)
        if ceiling is not None and isinstance(ceiling.value, int) and amount > ceiling.value:
            # local practice ceiling (national pack): an amount above it is no price subsidy the policy pays
            raise BatchRejected(f"amount_fen_per_person: {amount} fen is above the price-linkage ceiling of "
                                f"{ceiling.value} fen per person ({ceiling.cite()})")
        if m is None:
            note = (f"{amount} fen per person as triggered; no policy pack in force for {region} on {on} prices "
                    "the price-linkage subsidy, so no minimum applies")
        else:
            ent = lib.entitlement(req.measure, region, on, HouseholdProfile(categories=frozenset(categories[:1])))
            floor = ent.amount_fen if ent.payable else None
            note = (f"{amount} fen per person as triggered (pack minimum {floor} fen)" if floor is None or amount >= floor
                    else f"raised from {amount} to {floor} fen per person: the pack's minimum, "
                         f"{ent.pack_id} {ent.pack_version} ({'; '.join(ent.citations)})")
        due = None  # paid at once: the mechanism has triggered
        return Planned(batch_id, occasion_for(req, lib), categories,
                       [InstallmentPlan(sequence=1, month=req.month, due_at=due)], policy, note)

    if m is None:
        ent = lib.entitlement(req.measure, region, on, HouseholdProfile(categories=frozenset(categories)))
        raise BatchRejected(ent.reason)
    level = level_month(lib, req.measure, region, on)
    if level is not None:
        # seed 001 「按照 6 月份发放标准增发一次性生活补贴」: each recipient's own level, never a flat amount
        if amount is not None:
            raise BatchRejected(f"{m.name_en} ({m.name_zh}) in {region}: the policy pays each recipient household "
                                f"its own {level.value} level (按照 {level.value} 发放标准, {level.cite()}); "
                                "leave amount_fen_per_person out")
        note = (f"each recipient household's own {level.value} level as paid on the ledger (its {level.value} "
                f"benefit, dibao:<household>:{level.value}), once per household: {level.cite()}")
        return _overdue(Planned(batch_id, occasion_for(req, lib), categories,
                                [InstallmentPlan(sequence=1, month=f"{on:%Y-%m}", due_at=None)], policy, note), late)
    if m.amount.kind == "not_fixed":
        if amount is None:
            raise BatchRejected(
                f"{m.name_en} ({m.name_zh}) in {region}: the pack fixes no amount per recipient "
                f"({m.amount.not_fixed_reason}); give amount_fen_per_person")
        note = (f"{amount} fen per person as set by the batch request: the pack fixes no amount "
                f"({m.amount.not_fixed_reason})")
        return _overdue(Planned(batch_id, occasion_for(req, lib), categories,
                                [InstallmentPlan(sequence=1, month=f"{on:%Y-%m}", due_at=None)], policy, note), late)
    ent = lib.entitlement(req.measure, region, on, HouseholdProfile(categories=frozenset(categories[:1])))
    if not ent.payable:
        raise BatchRejected(ent.reason)
    if amount is not None and not ent.amount_is_minimum and amount != ent.amount_fen:
        raise BatchRejected(f"the policy fixes the amount ({ent.amount_fen} fen per person: {ent.reason}); "
                            "leave amount_fen_per_person out")
    if ent.installments:
        installments = [InstallmentPlan(sequence=i.sequence, month=i.month, due_at=month_start(i.month))
                        for i in ent.installments]
        note = ent.reason
    else:
        installments = [InstallmentPlan(sequence=1, month=f"{on:%Y-%m}", due_at=None)]
        if ent.amount_is_minimum and amount is not None and amount < ent.amount_fen:
            note = f"raised from {amount} to {ent.amount_fen} fen per person: {ent.reason}"
        elif ent.amount_is_minimum and amount is not None:
            note = f"{amount} fen per person as set by the batch request, above the minimum: {ent.reason}"
        else:
            note = ent.reason
    return _overdue(Planned(batch_id, occasion_for(req, lib), categories, installments, policy, note), late)


def _overdue(planned: Planned, late: tuple[date, str] | None) -> Planned:
    if late is None:
        return planned
    return dataclasses.replace(
        planned, snapshot_on=late[0], overdue=True,
        amount_note=(f"overdue: requested after the payment deadline {late[0].isoformat()} ({late[1]}); "
                     f"paid to the recipients entitled by then: {planned.amount_note}"))


def level_month(lib: PolicyLibrary, measure: str, region: str, on: date) -> Figure | None:
    """Where the pack pays a measure as each recipient's own monthly level of a given month (figure
    ``<measure>_level_month``, e.g. Jiangxi's 「按照 6 月份发放标准增发」: 2022-06), that figure; else None."""
    fig = lib.parameter(f"{measure}_level_month", region, on)
    return fig if fig is not None and fig.value is not None else None


# The level of each recipient household for the month, from the ledger: what doudi paid it as that month's
# benefit (the key dibao:<household>:<month>), paid once per household, to its first recipient in the
# cohort. A household the ledger has no payment for that month under that key is not paid here (the
# batch's amounts say how many were). Back-pay after a raised standard is keyed by its first month and
# covers several months (dibao-topup:<household>:<first month>:<version>): no June share can be told
# apart on the ledger, so it is not added.
LEVELS_SQL = """
WITH payee AS (
    SELECT DISTINCT ON (household_id) household_id, ordinal
    FROM batch_recipients WHERE batch_id = $1 ORDER BY household_id, ordinal
), month_paid AS (
    SELECT l.household_id, sum(l.amount_fen)::bigint AS fen
    FROM ledger l JOIN payee p USING (household_id)
    WHERE l.kind = 'disbursement' AND l.idempotency_key = 'dibao:' || l.household_id || ':' || $2
    GROUP BY l.household_id
), ins AS (
    INSERT INTO batch_levels (batch_id, ordinal, household_id, amount_fen)
    SELECT $1, p.ordinal, p.household_id, m.fen FROM payee p JOIN month_paid m USING (household_id)
    WHERE m.fen > 0
    ON CONFLICT DO NOTHING
    RETURNING amount_fen
)
SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS fen,
       (SELECT count(*)::int FROM payee) AS households FROM ins
"""


@dataclass
class GroupAmounts:
    """Per installment, what one recipient of a (region, urban, categories) group is paid; empty = nothing."""

    amounts: dict[int, int] = field(default_factory=dict)
    reason: str = ""


def amounts_for_group(lib: PolicyLibrary, *, measure: str, on: date, requested_fen: int | None,
                      installments: list[int], region_code: str, urban: bool,
                      categories: list[str]) -> GroupAmounts:
    """The policy for one group of recipients (the pack in force for their region: a prefecture's own
    pack can differ from the province's). Reasons name no region, so they summarise across groups."""
    profile = HouseholdProfile(categories=frozenset(categories), urban=urban)
    m = lib.measure(measure, region_code, on)
    if measure == "price_linkage":
        assert requested_fen is not None
        if m is None:
            return GroupAmounts({1: requested_fen}, f"{requested_fen} fen as triggered (no pack minimum)")
        ent = lib.entitlement(measure, region_code, on, profile)
        if not ent.payable:
            return GroupAmounts({}, ent.reason)
        if requested_fen < ent.amount_fen:
            return GroupAmounts({1: ent.amount_fen}, f"raised from {requested_fen} to the pack minimum "
                                f"{ent.amount_fen} fen ({ent.pack_id} {ent.pack_version}; {'; '.join(ent.citations)})")
        return GroupAmounts({1: requested_fen}, f"{requested_fen} fen as triggered (pack minimum {ent.amount_fen} fen)")
    if m is None:
        return GroupAmounts({}, lib.entitlement(measure, region_code, on, profile).reason)
    if m.amount.kind == "not_fixed":
        cats = set(categories)
        if cats & set(m.excluded_categories):
            return GroupAmounts({}, f"not eligible: {m.name_en} excludes {', '.join(sorted(cats & set(m.excluded_categories)))}")
        if m.eligible_categories and not cats & set(m.eligible_categories) and not m.others_eligible:
            return GroupAmounts({}, f"not eligible: {m.name_en} is for {', '.join(m.eligible_categories)}")
        level = level_month(lib, measure, region_code, on)
        if level is not None:
            return GroupAmounts({}, f"each recipient household's own {level.value} level (batch_levels), not a flat "
                                    f"amount: {level.cite()}")
        if requested_fen is None:
            return GroupAmounts({}, f"the pack fixes no amount ({m.amount.not_fixed_reason})")
        return GroupAmounts({1: requested_fen}, f"{requested_fen} fen as set by the batch (the pack fixes no amount)")
    ent = lib.entitlement(measure, region_code, on, profile)
    if not ent.payable:
        return GroupAmounts({}, ent.reason)
    if ent.installments:
        return GroupAmounts({i.sequence: i.amount_fen for i in ent.installments if i.sequence in installments},
                            ent.reason)
    amount = ent.amount_fen
    if ent.amount_is_minimum and requested_fen is not None:
        if requested_fen >= amount:
            return GroupAmounts({1: requested_fen}, f"{requested_fen} fen as set by the batch; {ent.reason}")
        return GroupAmounts({1: amount}, f"raised from {requested_fen} to {amount} fen; {ent.reason}")
    return GroupAmounts({1: amount}, ent.reason)


# -- views -----------------------------------------------------------------------------------------

class InstallmentView(BaseModel):
    sequence: int
    month: str
    due_at: datetime | None
    status: str
    expected_payments: int
    stopped: int
    paid_count: int
    paid_fen: int
    chunks_done: int
    chunks: int


class AmountView(BaseModel):
    installment: int
    amount_fen: int
    recipients: int
    reason: str


class BatchView(BaseModel):
    batch_id: str
    measure: str
    region_prefix: str
    snapshot_on: date
    month: str | None
    categories: list[str]
    status: str
    note: str
    amount_note: str
    requested_amount_fen: int | None
    policy: dict[str, Any] | None
    total: int | None = Field(description="recipients in the cohort at the snapshot")
    payable: int | None = Field(description="of them, those the policy pays")
    loaded_rows: int
    expected_payments: int | None
    expected_fen: int | None
    paid_count: int
    paid_fen: int
    chunks_done: int
    chunk_count: int | None = Field(description="chunks over every installment")
    chunk_size: int
    percent: float
    installments: list[InstallmentView]
    amounts: list[AmountView]
    payment_events: bool
    payment_events_published: int
    cause_event_id: str | None
    requested_by: str
    second_approved_by: str | None = Field(default=None, description="four eyes: the second official who "
                                           "approved an amount a person set (never the one who asked)")
    created_at: datetime
    loaded_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    status_url: str


class BatchList(BaseModel):
    items: list[BatchView]
    total: int


class BatchAccepted(BaseModel):
    batch_id: str
    status: str
    created: bool
    status_url: str


# -- the service -----------------------------------------------------------------------------------

def _lock_key(batch_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"doudi-batch:{batch_id}".encode()).digest()[:8], "big", signed=True)


@contextlib.asynccontextmanager
async def _heartbeating(interval: float = 1.0, details: Any = None) -> AsyncIterator[None]:
    """Heartbeat while a long statement runs (the SDK throttles what reaches the server)."""
    async def beat() -> None:
        while True:
            activity.heartbeat(details)
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat()) if activity.in_activity() else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


PAY_CHUNK_SQL = """
WITH src AS (
    SELECT 'batch:' || r.batch_id || ':' || r.person_id || ':' || $2::int::text AS key,
           r.person_id, r.household_id, r.region_code, coalesce(v.amount_fen, a.amount_fen) AS amount_fen
    FROM batch_recipients r
    JOIN batch_amounts a ON a.batch_id = r.batch_id AND a.installment = $2 AND a.region_code = r.region_code
                        AND a.urban = r.urban AND a.categories = r.categories
    -- a recipient's own level where the policy pays one (one_time_living_subsidy_level_month)
    LEFT JOIN batch_levels v ON v.batch_id = r.batch_id AND v.ordinal = r.ordinal
    WHERE r.batch_id = $1 AND r.ordinal > $3 AND r.ordinal <= $4 AND coalesce(v.amount_fen, a.amount_fen) > 0
      AND NOT EXISTS (SELECT 1 FROM batch_stops s
                      WHERE s.batch_id = r.batch_id AND s.person_id = r.person_id AND s.from_installment <= $2)
), ins AS (
    INSERT INTO ledger (payment_id, idempotency_key, kind, case_id, pathway, person_id, household_id,
                        region_code, measure, account, amount_fen, installment, cause_event_id, reference)
    SELECT 'pay-' || left(encode(sha256(convert_to(key, 'UTF8')), 'hex'), 24), key, 'disbursement', $1, $5,
           person_id, household_id, region_code, $6, 'county-fund:' || left(region_code, 6), amount_fen, $2, $7, $1
    FROM src
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING amount_fen
)
SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS fen FROM ins
"""


class BatchService:
    def __init__(self, pool: asyncpg.Pool, temporal: Client, *, intake_url: str, nats_url: str):
        self._pool = pool
        self._temporal = temporal
        self._intake_url = intake_url.rstrip("/")
        self._nats_url = nats_url
        self._lib = load_library()

    # -- submitting (HTTP) -------------------------------------------------------------------------

    async def submit(self, req: BatchRequest) -> BatchAccepted:
        """Register the batch (idempotent by its derived id) and start its workflow."""
        from workflows.batch_subsidy.starter import start_batch

        planned = plan_request(req, self._lib)
        async with unit_of_work(self._pool) as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(f"occasion:{req.measure}:{planned.occasion}"))
            row = await conn.fetchrow("SELECT * FROM batches WHERE batch_id = $1 FOR UPDATE", planned.batch_id)
            created, restart = row is None, False
            if row is not None:
                if row["params"] != req.identity():
                    raise BatchRejected(
                        f"batch {planned.batch_id} for {req.measure} in {req.region_prefix} ({planned.occasion}) "
                        f"already exists with other parameters: {json.dumps(row['params'], ensure_ascii=False)}", 409)
                if row["status"] == "rejected":
                    await self._conflicts(conn, req, planned)
                    await conn.execute("DELETE FROM batches WHERE batch_id = $1", planned.batch_id)
                    restart = True
                    row = None
            second = open_amount_reason(req, self._lib) if row is None else None
            if row is None:
                await self._conflicts(conn, req, planned)
                await self._insert(conn, req, planned, status=AWAITING_SECOND if second else "planned",
                                   note=f"awaiting a second official's approval (four eyes): {second}" if second
                                   else "planned")
            status = (AWAITING_SECOND if second else "planned") if row is None else row["status"]
            if status == "planned":
                # started before the row commits: if the start fails nothing is registered (the caller
                # retries); if the commit fails the workflow's plan step registers the same batch itself
                await start_batch(self._temporal, planned.batch_id, req, allow_rerun=restart)
        return BatchAccepted(batch_id=planned.batch_id, status=status, created=created,
                             status_url=f"/api/batches/{planned.batch_id}")

    async def _conflicts(self, conn: asyncpg.Connection, req: BatchRequest, planned: Planned) -> None:
        other = await conn.fetchrow(
            """
            SELECT batch_id, region_prefix, status FROM batches
            WHERE measure = $1 AND occasion = $2 AND batch_id <> $3 AND status <> 'rejected'
              AND (starts_with(region_prefix, $4) OR starts_with($4, region_prefix))
            LIMIT 1
            """, req.measure, planned.occasion, planned.batch_id, req.region_prefix)
        if other is not None:
            raise BatchRejected(
                f"batch {other['batch_id']} ({other['status']}) already pays {req.measure} for "
                f"{other['region_prefix']} ({planned.occasion}); {req.region_prefix} overlaps it and its "
                "recipients would be paid twice", 409)

    async def _insert(self, conn: asyncpg.Connection, req: BatchRequest, planned: Planned, *, status: str,
                      note: str) -> None:
        await conn.execute(
            """
            INSERT INTO batches (batch_id, measure, region_prefix, occasion, snapshot_on, month, categories,
                                 requested_amount_fen, params, policy, amount_note, installments, cause_event_id,
                                 requested_by, chunk_size, payment_events, status, note)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
            ON CONFLICT (batch_id) DO NOTHING
            """,
            planned.batch_id, req.measure, req.region_prefix, planned.occasion, planned.snapshot_on or req.snapshot_on,
            req.month, planned.categories, req.amount_fen_per_person, req.identity(), planned.policy, planned.amount_note,
            [i.model_dump(mode="json") for i in planned.installments], req.cause_event_id, req.requested_by,
            req.chunk_size, req.payment_events, status, note)

    # -- activities ------------------------------------------------------------------------------

    async def plan(self, p: c.PlanBatch) -> BatchPlan:
        """The workflow's first step: the registered batch, or (a batch started from an event) register
        it now; a request the policy refuses is recorded as ``rejected`` with the reason."""
        req = p.request
        async with unit_of_work(self._pool) as conn:
            row = await conn.fetchrow("SELECT * FROM batches WHERE batch_id = $1", p.batch_id)
            if row is None:
                try:
                    planned = plan_request(req, self._lib)
                    if planned.batch_id != p.batch_id:
                        raise BatchRejected(f"the request derives batch id {planned.batch_id}, not {p.batch_id}")
                    await conn.execute("SELECT pg_advisory_xact_lock($1)",
                                       _lock_key(f"occasion:{req.measure}:{planned.occasion}"))
                    await self._conflicts(conn, req, planned)
                    await self._insert(conn, req, planned, status="planned", note="planned")
                except BatchRejected as rejected:
                    await conn.execute(
                        """
                        INSERT INTO batches (batch_id, measure, region_prefix, occasion, snapshot_on, month, categories,
                                             requested_amount_fen, params, requested_by, cause_event_id, chunk_size,
                                             status, note, finished_at)
                        VALUES ($1, $2, $3, 'rejected', $4, $5, $6, $7, $8, $9, $10, $11, 'rejected', $12, now())
                        ON CONFLICT (batch_id) DO NOTHING
                        """, p.batch_id, req.measure, req.region_prefix, req.snapshot_on, req.month,
                        req.categories or [], req.amount_fen_per_person, req.identity(), req.requested_by,
                        req.cause_event_id, req.chunk_size, rejected.reason)
                    log.warning("batch %s rejected: %s", p.batch_id, rejected.reason)
                row = await conn.fetchrow("SELECT * FROM batches WHERE batch_id = $1", p.batch_id)
        return BatchPlan(batch_id=p.batch_id, accepted=row["status"] != "rejected", reason=row["note"],
                         status=row["status"], region_prefix=row["region_prefix"],
                         installments=[InstallmentPlan.model_validate(i) for i in row["installments"] or []],
                         policy=row["policy"])

    async def set_status(self, s: c.StatusChange) -> bool:
        async with unit_of_work(self._pool) as conn:
            row = await conn.fetchrow(
                """
                UPDATE batches SET status = $2, note = $3, updated_at = now(), status_seq = status_seq + 1,
                       started_at = CASE WHEN $2 = 'paying' THEN coalesce(started_at, now()) ELSE started_at END,
                       finished_at = CASE WHEN $2 IN ('completed', 'cancelled') THEN now() ELSE finished_at END
                WHERE batch_id = $1 AND status NOT IN ('completed', 'cancelled', 'rejected')
                RETURNING *
                """, s.batch_id, s.status, s.note)
            if row is None:
                return False
            await self._progress_event(conn, row, kind="status", event_id=f"{s.batch_id}:status:{row['status_seq']}",
                                       note=f"{s.status}: {s.note}", extra={"installment": s.installment,
                                       "next_due_at": s.next_due_at.isoformat() if s.next_due_at else None})
        return True

    async def load_cohort(self, req: c.LoadCohort) -> c.CohortLoaded:
        async with self._pool.acquire() as conn:
            batch = await conn.fetchrow("SELECT * FROM batches WHERE batch_id = $1", req.batch_id)
        if batch is None:
            raise _not_retryable(f"no batch {req.batch_id}", "BatchRejected")
        if batch["loaded_at"] is None:
            async with _heartbeating(details="loading"), self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(req.batch_id))
                batch = await conn.fetchrow("SELECT * FROM batches WHERE batch_id = $1", req.batch_id)
                if batch["loaded_at"] is None:
                    await self._load(conn, batch)
            async with self._pool.acquire() as conn:
                batch = await conn.fetchrow("SELECT * FROM batches WHERE batch_id = $1", req.batch_id)
        return c.CohortLoaded(batch_id=req.batch_id, total=batch["total"], payable=batch["payable"],
                              chunks=batch["chunks_per_installment"], expected_payments=batch["expected_payments"],
                              expected_fen=batch["expected_fen"])

    async def _load(self, conn: asyncpg.Connection, batch: asyncpg.Record) -> None:
        batch_id = batch["batch_id"]
        await conn.execute("SELECT set_config('doudi.loading_batch', $1, true)", batch_id)
        expected = await self._copy_cohort(conn, batch, on=batch["snapshot_on"], table="batch_recipients",
                                           crash_midway="payment.batch_load_midway")
        count, top = await conn.fetchrow(
            "SELECT count(*)::int, coalesce(max(ordinal), 0) FROM batch_recipients WHERE batch_id = $1", batch_id)
        if count != expected or top != count:
            raise RuntimeError(f"cohort export for {batch_id} incomplete: {count} rows (ordinals to {top}), "
                               f"the registry counted {expected}")  # retried: the transaction rolls back
        groups = await conn.fetch(
            "SELECT region_code, urban, categories, count(*)::int AS n FROM batch_recipients"
            " WHERE batch_id = $1 GROUP BY 1, 2, 3", batch_id)
        sequences = [i["sequence"] for i in batch["installments"]]
        rows, payable, expected_payments, expected_fen = [], 0, 0, 0
        for g in groups:
            ga = amounts_for_group(self._lib, measure=batch["measure"], on=batch["snapshot_on"],
                                   requested_fen=batch["requested_amount_fen"], installments=sequences,
                                   region_code=g["region_code"], urban=g["urban"], categories=list(g["categories"]))
            if any(a > 0 for a in ga.amounts.values()):
                payable += g["n"]
            for seq in sequences:
                amount = ga.amounts.get(seq, 0)
                rows.append((batch_id, seq, g["region_code"], g["urban"], g["categories"], g["n"], amount, ga.reason))
                if amount > 0:
                    expected_payments += g["n"]
                    expected_fen += g["n"] * amount
        await conn.copy_records_to_table(
            "batch_amounts", records=rows,
            columns=["batch_id", "installment", "region_code", "urban", "categories", "recipients", "amount_fen",
                     "reason"])
        level = level_month(self._lib, batch["measure"], batch["region_prefix"], batch["snapshot_on"])
        if level is not None:  # each household's own level for the month (seed 001 「按照 6 月份发放标准」)
            n, fen, households = await conn.fetchrow(LEVELS_SQL, batch_id, str(level.value))
            payable, expected_payments, expected_fen = n, n, fen
            log.info("batch %s: %s of %s households were paid for %s; each gets that level once",
                     batch_id, n, households, level.value)
        # fresh statistics (this transaction's rows count), or the chunks' join is planned as a nested loop
        # over the whole chunk once per amount group: 3x slower
        await conn.execute("ANALYZE batch_recipients")
        await conn.execute("ANALYZE batch_amounts")
        chunks = -(-count // batch["chunk_size"])
        await conn.executemany(
            "INSERT INTO batch_installments (batch_id, installment, month, due_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING",
            [(batch_id, i["sequence"], i["month"],
              datetime.fromisoformat(i["due_at"]) if i.get("due_at") else None) for i in batch["installments"]])
        await conn.execute(
            """
            UPDATE batches SET total = $2, payable = $3, chunks_per_installment = $4, expected_payments = $5,
                   expected_fen = $6, loaded_rows = $7, loaded_at = clock_timestamp(), updated_at = now()
            WHERE batch_id = $1
            """, batch_id, count, payable if chunks else 0, chunks if payable else 0, expected_payments, expected_fen,
            count)
        log.info("batch %s: %s recipients loaded, %s payable, %s chunks", batch_id, count, payable, chunks)

    async def _copy_cohort(self, conn: asyncpg.Connection, batch: asyncpg.Record, *, on: date, table: str,
                           crash_midway: str | None = None) -> int:
        """Stream intake's cohort export straight into ``COPY table``; returns the count intake reported
        (its header, counted in the same snapshot as the rows)."""
        token = issue_token("svc-payment", Role.service, ttl_s=3600)
        params = {"region_prefix": batch["region_prefix"], "categories": ",".join(batch["categories"]),
                  "on": on.isoformat()}
        progress = {"rows": 0}

        async def report() -> None:  # progress of the load, visible before its transaction commits
            while True:
                await asyncio.sleep(1.0)
                if table == "batch_recipients":
                    async with self._pool.acquire() as other:
                        await other.execute("UPDATE batches SET loaded_rows = $2, updated_at = now()"
                                            " WHERE batch_id = $1", batch["batch_id"], progress["rows"])

        async with httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0)) as http, http.stream(
                "GET", f"{self._intake_url}/api/cohorts/export", params=params,
                headers={"Authorization": f"Bearer {token}"}) as resp:
            if resp.status_code != 200:
                body = (await resp.aread()).decode(errors="replace")[:500]
                raise RuntimeError(f"cohort export answered {resp.status_code}: {body}")
            expected = int(resp.headers["x-cohort-count"])

            async def source() -> AsyncIterator[bytes]:
                async for data in resp.aiter_bytes():
                    progress["rows"] += data.count(b"\n")
                    if crash_midway and expected and progress["rows"] >= expected // 2:
                        crash_point(crash_midway)
                    yield data

            reporter = asyncio.create_task(report())
            try:
                await conn.copy_to_table(table, source=source(), columns=EXPORT_COLUMNS, format="csv", header=True)
            finally:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
        return expected

    async def recheck(self, req: c.RecheckCohort) -> c.Rechecked:
        """Before a later installment: the cohort again as of its due date; whoever of the batch's
        recipients is no longer in it (died, moved out of the region, left the categories) is stopped
        from this installment on (staged aid re-checks before each installment, domain pathway 2)."""
        async with _heartbeating(details="re-checking"), self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(req.batch_id))
            inst = await conn.fetchrow("SELECT * FROM batch_installments WHERE batch_id = $1 AND installment = $2",
                                       req.batch_id, req.installment)
            if inst is None:
                raise _not_retryable(f"batch {req.batch_id} has no installment {req.installment}", "BatchRejected")
            if inst["rechecked_on"] is None:
                batch = await conn.fetchrow("SELECT * FROM batches WHERE batch_id = $1", req.batch_id)
                await conn.execute(
                    "CREATE TEMP TABLE recheck_in (ordinal integer, person_id text, household_id text,"
                    " region_code text, categories text, urban text) ON COMMIT DROP")
                await self._copy_cohort(conn, batch, on=req.on, table="recheck_in")
                await conn.execute("CREATE INDEX ON recheck_in (person_id)")
                await conn.execute("ANALYZE recheck_in")
                stopped = await conn.fetchval(
                    """
                    WITH s AS (
                        INSERT INTO batch_stops (batch_id, person_id, from_installment, reason)
                        SELECT r.batch_id, r.person_id, $2, $3
                        FROM batch_recipients r
                        JOIN batch_amounts a ON a.batch_id = r.batch_id AND a.installment = $2
                             AND a.region_code = r.region_code AND a.urban = r.urban AND a.categories = r.categories
                        WHERE r.batch_id = $1 AND a.amount_fen > 0
                          AND NOT EXISTS (SELECT 1 FROM recheck_in t WHERE t.person_id = r.person_id)
                        ON CONFLICT (batch_id, person_id) DO NOTHING
                        RETURNING 1
                    ) SELECT count(*)::int FROM s
                    """, req.batch_id, req.installment,
                    f"no longer a recipient in {batch['region_prefix']} on {req.on.isoformat()} "
                    "(died, moved away, or left the categories)")
                # every later installment loses the stopped recipients too
                lost = await conn.fetchval(
                    """
                    SELECT count(*)::int FROM batch_stops s
                    JOIN batch_recipients r ON r.batch_id = s.batch_id AND r.person_id = s.person_id
                    JOIN batch_amounts a ON a.batch_id = r.batch_id AND a.installment >= $2
                         AND a.region_code = r.region_code AND a.urban = r.urban AND a.categories = r.categories
                    WHERE s.batch_id = $1 AND s.from_installment = $2 AND a.amount_fen > 0
                    """, req.batch_id, req.installment)
                lost_fen = await conn.fetchval(
                    """
                    SELECT coalesce(sum(a.amount_fen), 0)::bigint FROM batch_stops s
                    JOIN batch_recipients r ON r.batch_id = s.batch_id AND r.person_id = s.person_id
                    JOIN batch_amounts a ON a.batch_id = r.batch_id AND a.installment >= $2
                         AND a.region_code = r.region_code AND a.urban = r.urban AND a.categories = r.categories
                    WHERE s.batch_id = $1 AND s.from_installment = $2 AND a.amount_fen > 0
                    """, req.batch_id, req.installment)
                await conn.execute("UPDATE batch_installments SET rechecked_on = $3, stopped = $4"
                                   " WHERE batch_id = $1 AND installment = $2",
                                   req.batch_id, req.installment, req.on, stopped)
                await conn.execute("UPDATE batches SET expected_payments = expected_payments - $2,"
                                   " expected_fen = expected_fen - $3, updated_at = now() WHERE batch_id = $1",
                                   req.batch_id, lost, lost_fen)
                inst = await conn.fetchrow("SELECT * FROM batch_installments WHERE batch_id = $1 AND installment = $2",
                                           req.batch_id, req.installment)
        return c.Rechecked(batch_id=req.batch_id, installment=req.installment, stopped=inst["stopped"])

    async def pay_chunk(self, req: c.PayChunk) -> c.ChunkPaid:
        async with _heartbeating(details={"chunk": req.chunk}):
            return await self._pay_chunk(req)

    async def _pay_chunk(self, req: c.PayChunk) -> c.ChunkPaid:
        async with self._pool.acquire() as conn, conn.transaction():
            done = await conn.fetchrow("SELECT paid_count, paid_fen FROM batch_chunks"
                                       " WHERE batch_id = $1 AND installment = $2 AND chunk = $3",
                                       req.batch_id, req.installment, req.chunk)
            if done is not None:  # a retry after the chunk committed: what it paid then, nothing now
                return c.ChunkPaid(batch_id=req.batch_id, installment=req.installment, chunk=req.chunk,
                                   paid_count=done["paid_count"], paid_fen=done["paid_fen"], already_done=True)
            batch = await conn.fetchrow("SELECT measure, chunk_size, cause_event_id FROM batches WHERE batch_id = $1",
                                        req.batch_id)
            size = batch["chunk_size"]
            n, fen = await conn.fetchrow(PAY_CHUNK_SQL, req.batch_id, req.installment, req.chunk * size,
                                         (req.chunk + 1) * size, PATHWAY, batch["measure"], batch["cause_event_id"])
            if fault_active("payment.batch_slow_chunks"):
                await asyncio.sleep(0.2)  # fault injection: widen the window a crash can land in
            crash_point("payment.batch_chunk_before_commit")
            recorded = await conn.fetchval(
                "INSERT INTO batch_chunks (batch_id, installment, chunk, paid_count, paid_fen) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT DO NOTHING RETURNING chunk", req.batch_id, req.installment, req.chunk, n, fen)
            if recorded is None:  # a concurrent attempt of the same chunk committed first; we inserted nothing
                first = await conn.fetchrow("SELECT paid_count, paid_fen FROM batch_chunks"
                                            " WHERE batch_id = $1 AND installment = $2 AND chunk = $3",
                                            req.batch_id, req.installment, req.chunk)
                return c.ChunkPaid(batch_id=req.batch_id, installment=req.installment, chunk=req.chunk,
                                   paid_count=first["paid_count"], paid_fen=first["paid_fen"], already_done=True)
            row = await conn.fetchrow(
                """
                UPDATE batches SET paid_count = paid_count + $2, paid_fen = paid_fen + $3, chunks_done = chunks_done + 1,
                       updated_at = now()
                WHERE batch_id = $1 RETURNING *
                """, req.batch_id, n, fen)
            await self._progress_event(
                conn, row, kind="chunk", event_id=f"{req.batch_id}:{req.installment}:{req.chunk}:progress",
                note=f"installment {req.installment}, chunk {req.chunk + 1}/{row['chunks_per_installment']}: "
                     f"{n} payments, {fen} fen",
                extra={"installment": req.installment, "chunk": req.chunk, "chunk_paid_count": n, "chunk_paid_fen": fen})
        crash_point("payment.batch_chunk_after_commit")
        return c.ChunkPaid(batch_id=req.batch_id, installment=req.installment, chunk=req.chunk, paid_count=n,
                           paid_fen=fen)

    async def _progress_event(self, conn: asyncpg.Connection, row: asyncpg.Record, *, kind: str, event_id: str,
                              note: str, extra: dict[str, Any]) -> None:
        """``doudi.payment.batch_progress``: one per chunk and per status change, atomic with it. It carries
        ``case_id`` (= the batch id) and ``pathway`` like every domain event, so the read model's timeline
        takes it as it is."""
        data = {"case_id": row["batch_id"], "pathway": PATHWAY, "batch_id": row["batch_id"], "kind": kind,
                "measure": row["measure"], "region_code": row["region_prefix"], "status": row["status"],
                "stage": row["status"], "note": note, "paid_count": row["paid_count"], "paid_fen": row["paid_fen"],
                "chunks_done": row["chunks_done"], "expected_payments": row["expected_payments"],
                "cause_event_id": row["cause_event_id"], "occurred_at": datetime.now(UTC).isoformat(), **extra}
        payload = {"specversion": "1.0", "id": event_id, "source": SOURCE, "type": f"{BATCH_PROGRESS}.v1",
                   "subject": row["batch_id"], "time": data["occurred_at"], "datacontenttype": "application/json",
                   "data": data}
        await add_to_outbox(conn, schema=SCHEMA, event_id=event_id, subject=BATCH_PROGRESS, payload=payload)

    # -- control (HTTP) --------------------------------------------------------------------------

    async def approve(self, batch_id: str, official: str, role: str, reason: str) -> None:
        """The second official approves a batch whose amount a person set (four eyes): never the one who
        asked. Both are recorded on the batch; then, and only then, its workflow starts."""
        from workflows.batch_subsidy.starter import start_batch

        async with unit_of_work(self._pool) as conn:
            row = await conn.fetchrow("SELECT * FROM batches WHERE batch_id = $1 FOR UPDATE", batch_id)
            if row is None:
                raise BatchNotFound(batch_id)
            if row["status"] != AWAITING_SECOND:
                raise BatchNotRunning(f"batch {batch_id} is {row['status']}, not awaiting a second approval")
            if first_official(row["requested_by"]) == official:
                raise BatchNotRunning("四眼原则：申请人不能自己批准 / four eyes: the official who asked for the batch "
                                      "cannot approve it; a second official must")
            await conn.execute(
                "UPDATE batches SET status = 'planned', second_approved_by = $2, second_approved_at = now(),"
                " note = $3, updated_at = now() WHERE batch_id = $1", batch_id, f"{role}:{official}",
                f"approved by a second official ({role}:{official}): {reason}")
            params = row["params"]
            req = BatchRequest(measure=params["measure"], region_prefix=params["region_prefix"],
                               snapshot_on=params["snapshot_on"], amount_fen_per_person=params["amount_fen_per_person"],
                               categories=params["categories"], month=params["month"], chunk_size=row["chunk_size"],
                               payment_events=row["payment_events"], cause_event_id=row["cause_event_id"],
                               requested_by=row["requested_by"])
            await start_batch(self._temporal, batch_id, req)

    async def control(self, batch_id: str, req: BatchControl) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT status FROM batches WHERE batch_id = $1", batch_id)
        if row is None:
            raise BatchNotFound(batch_id)
        if row["status"] in FINAL:
            raise BatchNotRunning(f"batch {batch_id} is {row['status']}")
        handle = self._temporal.get_workflow_handle(batch_id)
        try:
            by = Signatory(subject=req.official, role=req.role, region=req.region)
            return await handle.execute_update("control", signed(batch_id, "control", req, by), result_type=dict)
        except WorkflowUpdateFailedError as exc:
            raise BatchNotRunning(str(exc.cause or exc)) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise BatchNotRunning(f"batch {batch_id} has no running workflow") from None
            raise

    # -- reading ---------------------------------------------------------------------------------

    async def view(self, batch_id: str) -> BatchView | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM batches WHERE batch_id = $1", batch_id)
            if row is None:
                return None
            return await self._view(conn, row)

    async def list(self, *, jurisdiction: str, status: str | None, measure: str | None, limit: int) -> BatchList:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT * FROM batches
                WHERE starts_with(region_prefix, $1) AND ($2::text IS NULL OR status = $2)
                  AND ($3::text IS NULL OR measure = $3)
                ORDER BY created_at DESC LIMIT $4
                """, jurisdiction, status, measure, limit)
            total = await conn.fetchval(
                "SELECT count(*) FROM batches WHERE starts_with(region_prefix, $1) AND ($2::text IS NULL OR status = $2)"
                " AND ($3::text IS NULL OR measure = $3)", jurisdiction, status, measure)
            return BatchList(items=[await self._view(conn, r) for r in rows], total=total)

    async def _view(self, conn: asyncpg.Connection, row: asyncpg.Record) -> BatchView:
        bid = row["batch_id"]
        per_inst = {r["installment"]: r for r in await conn.fetch(
            "SELECT installment, count(*)::int AS chunks_done, coalesce(sum(paid_count), 0)::bigint AS paid_count,"
            " coalesce(sum(paid_fen), 0)::bigint AS paid_fen,"
            " coalesce(sum(paid_count) FILTER (WHERE events_published_at IS NOT NULL), 0)::bigint AS published"
            " FROM batch_chunks WHERE batch_id = $1 GROUP BY installment", bid)}
        expected = {r["installment"]: r["n"] for r in await conn.fetch(
            "SELECT installment, coalesce(sum(recipients), 0)::int AS n FROM batch_amounts"
            " WHERE batch_id = $1 AND amount_fen > 0 GROUP BY installment", bid)}
        levels = await conn.fetchrow("SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS fen"
                                     " FROM batch_levels WHERE batch_id = $1", bid)
        if levels["n"]:  # one installment, each household at its own level
            expected[1] = expected.get(1, 0) + levels["n"]
        stored = {r["installment"]: r for r in await conn.fetch(
            "SELECT * FROM batch_installments WHERE batch_id = $1", bid)}
        amounts = [AmountView(installment=r["installment"], amount_fen=r["amount_fen"], recipients=r["n"],
                              reason=r["reason"])
                   for r in await conn.fetch(
                       "SELECT installment, amount_fen, reason, sum(recipients)::int AS n FROM batch_amounts"
                       " WHERE batch_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2 DESC, 4 DESC", bid)]
        if levels["n"]:
            amounts.insert(0, AmountView(installment=1, amount_fen=levels["fen"], recipients=levels["n"],
                                         reason="in all: each household's own level for the month (batch_levels)"))
        chunks = row["chunks_per_installment"] or 0
        installments = []
        for i in row["installments"] or []:
            seq = i["sequence"]
            done = per_inst.get(seq)
            st = stored.get(seq)
            chunks_done = done["chunks_done"] if done else 0
            if row["loaded_at"] is not None and chunks_done >= chunks:
                state = "paid"
            elif chunks_done:
                state = "paying" if row["status"] not in FINAL else row["status"]
            else:
                state = "due" if row["status"] not in FINAL else "not paid"
            installments.append(InstallmentView(
                sequence=seq, month=i["month"], due_at=datetime.fromisoformat(i["due_at"]) if i.get("due_at") else None,
                status=state, expected_payments=expected.get(seq, 0) - (
                    await self._stopped_before(conn, bid, seq) if row["loaded_at"] else 0),
                stopped=st["stopped"] if st else 0, paid_count=done["paid_count"] if done else 0,
                paid_fen=done["paid_fen"] if done else 0, chunks_done=chunks_done, chunks=chunks))
        expected_payments = row["expected_payments"]
        percent = (100.0 * row["paid_count"] / expected_payments) if expected_payments else (
            100.0 if row["status"] == "completed" else 0.0)
        return BatchView(
            batch_id=bid, measure=row["measure"], region_prefix=row["region_prefix"], snapshot_on=row["snapshot_on"],
            month=row["month"], categories=list(row["categories"]), status=row["status"], note=row["note"],
            amount_note=row["amount_note"], requested_amount_fen=row["requested_amount_fen"], policy=row["policy"],
            total=row["total"], payable=row["payable"], loaded_rows=row["loaded_rows"],
            expected_payments=expected_payments, expected_fen=row["expected_fen"], paid_count=row["paid_count"],
            paid_fen=row["paid_fen"], chunks_done=row["chunks_done"],
            chunk_count=chunks * len(row["installments"] or []) if row["loaded_at"] else None,
            chunk_size=row["chunk_size"], percent=round(min(percent, 100.0), 2), installments=installments,
            amounts=amounts, payment_events=row["payment_events"],
            payment_events_published=sum(r["published"] for r in per_inst.values()),
            cause_event_id=row["cause_event_id"], requested_by=row["requested_by"],
            second_approved_by=row.get("second_approved_by"), created_at=row["created_at"],
            loaded_at=row["loaded_at"], started_at=row["started_at"], finished_at=row["finished_at"],
            updated_at=row["updated_at"], status_url=f"/api/batches/{bid}")

    @staticmethod
    async def _stopped_before(conn: asyncpg.Connection, batch_id: str, installment: int) -> int:
        if installment == 1:
            return 0
        return await conn.fetchval(
            """
            SELECT count(*)::int FROM batch_stops s
            JOIN batch_recipients r ON r.batch_id = s.batch_id AND r.person_id = s.person_id
            JOIN batch_amounts a ON a.batch_id = r.batch_id AND a.installment = $2 AND a.region_code = r.region_code
                 AND a.urban = r.urban AND a.categories = r.categories
            WHERE s.batch_id = $1 AND s.from_installment <= $2 AND a.amount_fen > 0
            """, batch_id, installment)

    # -- per-payment events: the bulk path --------------------------------------------------------

    async def publish_payment_events(self) -> None:
        """Background job: ``doudi.payment.disbursed`` for every batch payment, chunk by chunk, derived from
        the committed ledger rows. Waits while any batch loads or pays (payments first)."""
        from shared.infra.bus import connect

        nc = None
        try:
            while True:
                try:
                    if nc is None or nc.is_closed:
                        nc = await connect(self._nats_url, connect_timeout=5)
                    if await self.publish_next_chunk(nc.jetstream()) is None:
                        await asyncio.sleep(1.0)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("publishing batch payment events failed; retrying")
                    await asyncio.sleep(2.0)
        finally:
            if nc is not None and not nc.is_closed:
                with contextlib.suppress(Exception):
                    await nc.close()

    async def publish_next_chunk(self, js: Any) -> int | None:
        async with self._pool.acquire() as conn, conn.transaction():
            chunk = await conn.fetchrow(
                """
                SELECT k.batch_id, k.installment, k.chunk, b.chunk_size, b.measure
                FROM batch_chunks k JOIN batches b USING (batch_id)
                WHERE k.events_published_at IS NULL AND k.paid_count > 0 AND b.payment_events
                  AND NOT EXISTS (SELECT 1 FROM batches x WHERE x.status IN ('loading', 'paying'))
                ORDER BY k.done_at LIMIT 1 FOR UPDATE OF k SKIP LOCKED
                """)
            if chunk is None:
                return None
            size = chunk["chunk_size"]
            payments = await conn.fetch(
                """
                SELECT l.payment_id, l.person_id, l.household_id, l.amount_fen, l.installment, l.account,
                       l.region_code, l.created_at, l.cause_event_id
                FROM batch_recipients r
                JOIN ledger l ON l.idempotency_key = 'batch:' || r.batch_id || ':' || r.person_id || ':' || $2::int::text
                WHERE r.batch_id = $1 AND r.ordinal > $3 AND r.ordinal <= $4
                """, chunk["batch_id"], chunk["installment"], chunk["chunk"] * size, (chunk["chunk"] + 1) * size)
            stream = stream_for(PAYMENT_DISBURSED)
            for start in range(0, len(payments), EVENT_WINDOW):
                await asyncio.gather(*(self._publish_payment(js, stream, chunk, p)
                                       for p in payments[start:start + EVENT_WINDOW]))
            await conn.execute(
                "UPDATE batch_chunks SET events_published_at = now()"
                " WHERE batch_id = $1 AND installment = $2 AND chunk = $3",
                chunk["batch_id"], chunk["installment"], chunk["chunk"])
        return len(payments)

    @staticmethod
    async def _publish_payment(js: Any, stream: str, chunk: asyncpg.Record, p: asyncpg.Record) -> None:
        event_id = f"{p['payment_id']}:disbursed"
        data = PaymentEventData(case_id=chunk["batch_id"], pathway=PATHWAY, payment_id=p["payment_id"],
                                amount_fen=p["amount_fen"], person_id=p["person_id"], installment=p["installment"],
                                source_account=p["account"], cause_event_id=p["cause_event_id"],
                                paid_at=p["created_at"], region_code=p["region_code"], measure=chunk["measure"],
                                household_id=p["household_id"], batch_id=chunk["batch_id"])
        body = json.dumps(domain_cloudevent(PAYMENT_DISBURSED, event_id, data, source=SOURCE, time=p["created_at"]),
                          ensure_ascii=False).encode()
        await js.publish(PAYMENT_DISBURSED, body, stream=stream, timeout=10.0,
                         headers={"Nats-Msg-Id": event_id, "content-type": "application/cloudevents+json"})


class BatchActivities:
    """The batch pathway's activities on the ``payment`` task queue."""

    def __init__(self, service: BatchService):
        self._s = service

    @activity.defn(name=c.PLAN)
    async def plan(self, req: c.PlanBatch) -> BatchPlan:
        return await self._s.plan(req)

    @activity.defn(name=c.LOAD_COHORT)
    async def load_cohort(self, req: c.LoadCohort) -> c.CohortLoaded:
        return await self._s.load_cohort(req)

    @activity.defn(name=c.RECHECK_COHORT)
    async def recheck_cohort(self, req: c.RecheckCohort) -> c.Rechecked:
        return await self._s.recheck(req)

    @activity.defn(name=c.PAY_CHUNK)
    async def pay_chunk(self, req: c.PayChunk) -> c.ChunkPaid:
        return await self._s.pay_chunk(req)

    @activity.defn(name=c.SET_STATUS)
    async def set_status(self, req: c.StatusChange) -> bool:
        return await self._s.set_status(req)

    def all(self) -> list[Any]:
        return [self.plan, self.load_cohort, self.recheck_cohort, self.pay_chunk, self.set_status]
