"""The renewal pathway's policy questions, as a local activity (packs are data read from files: the
answer, with pack id and version, is recorded in the workflow history)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from shared.policy import Benefit, BenefitHousehold, load_library, monthly_benefit, standards
from shared.policy.exits import exit_paused, gradual_exit
from workflows.errors import policy_errors


class PeriodQuery(BaseModel):
    region_code: str
    on: date
    household: BenefitHousehold


class PeriodTerms(BaseModel):
    benefit: Benefit
    review_stable_months: int | None = None  # seed 004: 特困 and stable households, yearly
    review_unstable_months: int | None = None  # seed 004: unstable income / working-age members, half-yearly
    gradual_exit_months: int | None = None  # seeds 001/002/004: by region and household (shared/policy/exits.py)
    exit_suspended: bool = False  # seed 002: 疫情防控期间暂停低保退出, in force on the date
    quarter_payment_month: int | None = None  # seed 003: month of the quarter rural dibao is paid in
    citations: list[str] = []
    # the standards-register entry the benefit is priced at (shared/policy/standards.py per_person): a
    # newer one than the case's level was priced at is a raised standard (提标); None: no pack sets it
    standard_version: str | None = None
    standard_from: date | None = None


def _int(name: str, region: str, on: date, cites: list[str]) -> int | None:
    fig = load_library().parameter(name, region, on)
    if fig is None or fig.value is None:
        return None
    if isinstance(fig.value, bool) or not isinstance(fig.value, int | Decimal):
        # a pack that gives months as a date or a flag is wrong: PolicyError (no retry), named
        raise ValueError(f"{name}: {fig.value!r} is not a number of months")
    cites.append(fig.cite())
    return int(fig.value)


def period_terms_now(q: PeriodQuery) -> PeriodTerms:
    lib = load_library()
    cites: list[str] = []
    # seed 002 「疫情防控期间暂停低保退出」: only on the dates of the epidemic-control period (shared/policy/exits.py)
    pause = exit_paused(lib, q.region_code, q.on)
    if pause.suspended:
        cites.extend(pause.citations)
    # seeds 001/002/004: the months depend on the region's figures and, in Ningxia, on the household
    exit_months = gradual_exit(lib, q.region_code, q.on, q.household)
    cites.extend(c for c in exit_months.citations if c not in cites)
    entry = standards.per_person(lib, q.region_code, q.on, urban=q.household.urban,
                                 extreme_poverty=q.household.extreme_poverty)
    return PeriodTerms(
        standard_version=entry.version if entry else None, standard_from=entry.effective_from if entry else None,
        benefit=monthly_benefit(lib, q.region_code, q.on, q.household),
        review_stable_months=_int("review_interval_stable_months", q.region_code, q.on, cites),
        review_unstable_months=_int("review_interval_unstable_months", q.region_code, q.on, cites),
        gradual_exit_months=exit_months.months,
        exit_suspended=pause.suspended,
        quarter_payment_month=_int("rural_dibao_quarterly_payment_month_of_quarter", q.region_code, q.on, cites),
        citations=cites,
    )


@activity.defn(name="policy.renewal_period_terms")
async def period_terms(q: PeriodQuery) -> PeriodTerms:
    with policy_errors():
        return period_terms_now(q)


class RaiseQuery(BaseModel):
    """The months a renewal case (or the cycle before it) paid at ``level_fen``, priced at the standard
    entry effective ``priced_from``: what each is owed under the standards register now (提标)."""

    region_code: str
    household: BenefitHousehold
    months: list[str]
    priced_from: date
    level_fen: int
    exiting: bool = False  # a gradual exit: the kept level moves with the standard (see raised_levels_now)


class RaisedMonth(BaseModel):
    period: str
    version: str
    level_fen: int  # the level owed for the month under the newer entry


class RaisedLevels(BaseModel):
    months: list[RaisedMonth] = []  # only months under an entry newer than priced_from, decidable


def _deductions_bound(lib: Any, region: str, on: date, h: BenefitHousehold) -> BenefitHousehold:
    """The household's members with an income at which the employment-cost deduction binds at ``on``'s
    standard (and no rigid expenditure): there the change of the benefit with the standard is the same
    for every income that keeps it payable (the standard x persons, the add-ons, the deduction)."""
    rich = monthly_benefit(lib, region, on, h.model_copy(update={"monthly_income_fen": 10**12,
                                                                 "monthly_rigid_expenditure_fen": 0}))
    deduction = -sum(ln.amount_fen for ln in rich.lines if ln.label == "employment_cost_deduction")
    return h.model_copy(update={"monthly_income_fen": deduction, "monthly_rigid_expenditure_fen": 0})


def raised_levels_now(q: RaiseQuery) -> RaisedLevels:
    """Per month under a newer entry: the exact level monthly_benefit gives for the household's facts
    (an active household); for a household in gradual exit (its income already above the standard: seeds
    001/002 keep paying the level it had), the kept level plus what the raise adds to a household of the
    same members whose income every deduction binds: (new - old standard) x persons, the add-ons' and the
    employment-cost deduction's share of the raise (seeds 001, 004), income-independent."""
    lib = load_library()
    out: list[RaisedMonth] = []
    for month in q.months:
        on = date.fromisoformat(month + "-01")
        entry = standards.per_person(lib, q.region_code, on, urban=q.household.urban,
                                     extreme_poverty=q.household.extreme_poverty)
        if entry is None or entry.effective_from <= q.priced_from:
            continue
        if not q.exiting:
            b = monthly_benefit(lib, q.region_code, on, q.household)
            if b.decidable:
                out.append(RaisedMonth(period=month, version=entry.version, level_fen=b.amount_fen if b.payable else 0))
            continue
        probe = _deductions_bound(lib, q.region_code, on, q.household)
        # the old entry is in force on its own effective date
        new, old = (monthly_benefit(lib, q.region_code, d, probe) for d in (on, q.priced_from))
        if new.decidable and old.decidable and new.payable and old.payable:
            out.append(RaisedMonth(period=month, version=entry.version,
                                   level_fen=q.level_fen + max(new.amount_fen - old.amount_fen, 0)))
    return RaisedLevels(months=out)


@activity.defn(name="policy.renewal_raised_levels")
async def raised_levels(q: RaiseQuery) -> RaisedLevels:
    with policy_errors():
        return raised_levels_now(q)
