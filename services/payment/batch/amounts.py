"""Stage 2, **load**, its policy half (pure): what one recipient of a (region, urban, categories) group
is paid per installment. A load evaluates this a few hundred times (once per group), never once per
recipient; the pack in force for the group's own region decides (a prefecture's pack can differ from
its province's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.payment.batch.plan import level_month
from shared.policy import Entitlement, HouseholdProfile, Measure, PolicyLibrary


@dataclass
class GroupAmounts:
    """Per installment, what one recipient of a (region, urban, categories) group is paid; empty = nothing."""

    amounts: dict[int, int] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class _Group:
    lib: PolicyLibrary
    measure: str
    on: date
    requested_fen: int | None
    installments: list[int]
    region_code: str
    categories: list[str]
    profile: HouseholdProfile

    def entitlement(self) -> Entitlement:
        return self.lib.entitlement(self.measure, self.region_code, self.on, self.profile)


def amounts_for_group(lib: PolicyLibrary, *, measure: str, on: date, requested_fen: int | None,
                      installments: list[int], region_code: str, urban: bool,
                      categories: list[str]) -> GroupAmounts:
    """The policy for one group of recipients (the pack in force for their region: a prefecture's own
    pack can differ from the province's). Reasons name no region, so they summarise across groups."""
    g = _Group(lib=lib, measure=measure, on=on, requested_fen=requested_fen, installments=installments,
               region_code=region_code, categories=categories,
               profile=HouseholdProfile(categories=frozenset(categories), urban=urban))
    m = lib.measure(measure, region_code, on)
    if measure == "price_linkage":
        return _price_linkage(g, m)
    if m is None:
        return GroupAmounts({}, g.entitlement().reason)
    if m.amount.kind == "not_fixed":
        return _open_amount(g, m)
    return _pack_amount(g)


def _price_linkage(g: _Group, m: Measure | None) -> GroupAmounts:
    """The triggered amount, raised to the pack's minimum where a pack sets one."""
    requested = g.requested_fen
    assert requested is not None
    if m is None:
        return GroupAmounts({1: requested}, f"{requested} fen as triggered (no pack minimum)")
    ent = g.entitlement()
    if not ent.payable:
        return GroupAmounts({}, ent.reason)
    if requested < ent.amount_fen:
        return GroupAmounts({1: ent.amount_fen}, f"raised from {requested} to the pack minimum "
                            f"{ent.amount_fen} fen ({ent.pack_id} {ent.pack_version}; {'; '.join(ent.citations)})")
    return GroupAmounts({1: requested}, f"{requested} fen as triggered (pack minimum {ent.amount_fen} fen)")


def _open_amount(g: _Group, m: Measure) -> GroupAmounts:
    """The pack fixes no amount: the batch's, to the categories the measure covers; none where each
    household is paid its own level (``batch_levels``)."""
    cats = set(g.categories)
    if cats & set(m.excluded_categories):
        excluded = ", ".join(sorted(cats & set(m.excluded_categories)))
        return GroupAmounts({}, f"not eligible: {m.name_en} excludes {excluded}")
    if m.eligible_categories and not cats & set(m.eligible_categories) and not m.others_eligible:
        return GroupAmounts({}, f"not eligible: {m.name_en} is for {', '.join(m.eligible_categories)}")
    level = level_month(g.lib, g.measure, g.region_code, g.on)
    if level is not None:
        return GroupAmounts({}, f"each recipient household's own {level.value} level (batch_levels), not a flat "
                                f"amount: {level.cite()}")
    if g.requested_fen is None:
        return GroupAmounts({}, f"the pack fixes no amount ({m.amount.not_fixed_reason})")
    return GroupAmounts({1: g.requested_fen}, f"{g.requested_fen} fen as set by the batch (the pack fixes no amount)")


def _pack_amount(g: _Group) -> GroupAmounts:
    """The pack's amount: its installments, or one payment (a floor the batch may raise)."""
    ent = g.entitlement()
    if not ent.payable:
        return GroupAmounts({}, ent.reason)
    if ent.installments:
        return GroupAmounts({i.sequence: i.amount_fen for i in ent.installments if i.sequence in g.installments},
                            ent.reason)
    amount, requested = ent.amount_fen, g.requested_fen
    if ent.amount_is_minimum and requested is not None:
        if requested >= amount:
            return GroupAmounts({1: requested}, f"{requested} fen as set by the batch; {ent.reason}")
        return GroupAmounts({1: amount}, f"raised from {requested} to {amount} fen; {ent.reason}")
    return GroupAmounts({1: amount}, ent.reason)
