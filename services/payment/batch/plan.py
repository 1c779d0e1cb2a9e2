"""Stage 1, **plan** (pure): accept or refuse a batch request by the policy in force for its region on
the snapshot date, and say where its amount comes from. Nothing here reads a database."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from services.payment.batch.errors import BatchRejected
from shared.policy import CATEGORIES, Figure, HouseholdProfile, Measure, PolicyLibrary, load_library
from workflows.batch_subsidy.inputs import BatchRequest, InstallmentPlan, batch_id_for, price_linkage_occasion

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")  # a month starts at 00:00 China time
DEFAULT_CATEGORIES = ("dibao", "extreme_poverty")
AWAITING_SECOND = "awaiting_second_approval"

# Measures whose window ends at a PAYMENT DEADLINE, not at the end of the entitlement (issue 13 item 14):
# seed 001 Jiangxi 「各地要于 7 月 15 日前为低保对象、特困人员……按照 6 月份发放标准增发一次性生活补贴」 and seed 002
# Ningxia 「从2022年6月开始，连续发放3个月」 (last installment August). A batch requested after the window is
# still paid, to the recipients entitled by the deadline, and flagged overdue.
PAYMENT_DEADLINE_MEASURES = frozenset({"one_time_living_subsidy"})


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


def first_official(requested_by: str) -> str:
    """The subject in ``<role>:<subject>`` (how a route records who asked)."""
    return requested_by.split(":", 1)[-1]


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
        return (f"the policy leaves the amount open ({m.amount.not_fixed_reason}): "
                f"{amount} fen per person set by a person")
    if m is not None:
        ent = lib.entitlement(
            req.measure, req.region_prefix, req.snapshot_on,
            HouseholdProfile(categories=frozenset((req.categories or list(m.eligible_categories))[:1])))
        if ent.payable and ent.amount_is_minimum and amount > ent.amount_fen:
            return (f"{amount} fen per person is above the policy's floor of {ent.amount_fen} fen (不低于): "
                    "set by a person")
    return None


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


def level_month(lib: PolicyLibrary, measure: str, region: str, on: date) -> Figure | None:
    """Where the pack pays a measure as each recipient's own monthly level of a given month (figure
    ``<measure>_level_month``, e.g. Jiangxi's 「按照 6 月份发放标准增发」: 2022-06), that figure; else None."""
    fig = lib.parameter(f"{measure}_level_month", region, on)
    return fig if fig is not None and fig.value is not None else None


@dataclass(frozen=True)
class _Context:
    """What every branch of the plan needs: the request, the date its recipients are taken at, the
    measure in force then, and the batch's identity."""

    req: BatchRequest
    lib: PolicyLibrary
    on: date
    region: str
    measure: Measure | None
    policy: dict[str, Any] | None
    categories: list[str]
    batch_id: str
    occasion: str

    def planned(self, installments: list[InstallmentPlan], note: str) -> Planned:
        return Planned(self.batch_id, self.occasion, self.categories, installments, self.policy, note)

    def once(self, note: str) -> Planned:
        """One installment in the recipients' month."""
        return self.planned([InstallmentPlan(sequence=1, month=f"{self.on:%Y-%m}", due_at=None)], note)


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
    cx = _Context(req=req, lib=lib, on=on, region=region, measure=m,
                  policy=_pack_policy(lib, req.measure, region, on),
                  categories=list(req.categories or (m.eligible_categories if m and m.eligible_categories
                                                     else DEFAULT_CATEGORIES)),
                  batch_id=batch_id_for(req.measure, region, occasion_for(req, lib)),
                  occasion=occasion_for(req, lib))
    if req.measure == "price_linkage":
        return _plan_price_linkage(cx)
    if m is None:
        ent = lib.entitlement(req.measure, region, on, HouseholdProfile(categories=frozenset(cx.categories)))
        raise BatchRejected(ent.reason)
    return _overdue(_plan_by_measure(cx, m), late)


def _plan_price_linkage(cx: _Context) -> Planned:
    """The triggering event's amount, within the local-practice ceiling, raised to a pack's minimum
    where a pack sets one; paid at once (the mechanism has triggered)."""
    req, lib, on, region = cx.req, cx.lib, cx.on, cx.region
    amount = req.amount_fen_per_person
    assert req.month is not None
    if amount is None:
        raise BatchRejected("a price-linkage batch needs amount_fen_per_person (the triggering event's amount)")
    ceiling = lib.parameter("price_linkage_max_fen", region, on)
    if ceiling is not None and isinstance(ceiling.value, int) and amount > ceiling.value:
        # local practice ceiling (national pack): an amount above it is no price subsidy the policy pays
        raise BatchRejected(f"amount_fen_per_person: {amount} fen is above the price-linkage ceiling of "
                            f"{ceiling.value} fen per person ({ceiling.cite()})")
    if cx.measure is None:
        note = (f"{amount} fen per person as triggered; no policy pack in force for {region} on {on} prices "
                "the price-linkage subsidy, so no minimum applies")
    else:
        ent = lib.entitlement(req.measure, region, on, HouseholdProfile(categories=frozenset(cx.categories[:1])))
        floor = ent.amount_fen if ent.payable else None
        note = (f"{amount} fen per person as triggered (pack minimum {floor} fen)" if floor is None or amount >= floor
                else f"raised from {amount} to {floor} fen per person: the pack's minimum, "
                     f"{ent.pack_id} {ent.pack_version} ({'; '.join(ent.citations)})")
    return cx.planned([InstallmentPlan(sequence=1, month=req.month, due_at=None)], note)


def _plan_by_measure(cx: _Context, m: Measure) -> Planned:
    """A measure in force: each household's own level of a month, an amount the pack leaves open, or
    the pack's amount (fixed, a floor, or installments)."""
    level = level_month(cx.lib, cx.req.measure, cx.region, cx.on)
    if level is not None:
        return _plan_level_month(cx, m, level)
    if m.amount.kind == "not_fixed":
        return _plan_open_amount(cx, m)
    return _plan_pack_amount(cx)


def _plan_level_month(cx: _Context, m: Measure, level: Figure) -> Planned:
    # seed 001 「按照 6 月份发放标准增发一次性生活补贴」: each recipient's own level, never a flat amount
    if cx.req.amount_fen_per_person is not None:
        raise BatchRejected(f"{m.name_en} ({m.name_zh}) in {cx.region}: the policy pays each recipient household "
                            f"its own {level.value} level (按照 {level.value} 发放标准, {level.cite()}); "
                            "leave amount_fen_per_person out")
    return cx.once(f"each recipient household's own {level.value} level as paid on the ledger (its {level.value} "
                   f"benefit, dibao:<household>:{level.value}), once per household: {level.cite()}")


def _plan_open_amount(cx: _Context, m: Measure) -> Planned:
    amount = cx.req.amount_fen_per_person
    if amount is None:
        raise BatchRejected(
            f"{m.name_en} ({m.name_zh}) in {cx.region}: the pack fixes no amount per recipient "
            f"({m.amount.not_fixed_reason}); give amount_fen_per_person")
    return cx.once(f"{amount} fen per person as set by the batch request: the pack fixes no amount "
                   f"({m.amount.not_fixed_reason})")


def _plan_pack_amount(cx: _Context) -> Planned:
    amount = cx.req.amount_fen_per_person
    ent = cx.lib.entitlement(cx.req.measure, cx.region, cx.on,
                             HouseholdProfile(categories=frozenset(cx.categories[:1])))
    if not ent.payable:
        raise BatchRejected(ent.reason)
    if amount is not None and not ent.amount_is_minimum and amount != ent.amount_fen:
        raise BatchRejected(f"the policy fixes the amount ({ent.amount_fen} fen per person: {ent.reason}); "
                            "leave amount_fen_per_person out")
    if ent.installments:
        return cx.planned([InstallmentPlan(sequence=i.sequence, month=i.month, due_at=month_start(i.month))
                           for i in ent.installments], ent.reason)
    if ent.amount_is_minimum and amount is not None and amount < ent.amount_fen:
        return cx.once(f"raised from {amount} to {ent.amount_fen} fen per person: {ent.reason}")
    if ent.amount_is_minimum and amount is not None:
        return cx.once(f"{amount} fen per person as set by the batch request, above the minimum: {ent.reason}")
    return cx.once(ent.reason)


def _overdue(planned: Planned, late: tuple[date, str] | None) -> Planned:
    if late is None:
        return planned
    return dataclasses.replace(
        planned, snapshot_on=late[0], overdue=True,
        amount_note=(f"overdue: requested after the payment deadline {late[0].isoformat()} ({late[1]}); "
                     f"paid to the recipients entitled by then: {planned.amount_note}"))
