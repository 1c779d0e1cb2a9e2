"""The renewal pathway's policy questions, as a local activity (packs are data read from files: the
answer, with pack id and version, is recorded in the workflow history)."""
from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from temporalio import activity

from shared.policy import Benefit, BenefitHousehold, load_library, monthly_benefit
from shared.policy.exits import exit_paused, gradual_exit


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


def _int(name: str, region: str, on: date, cites: list[str]) -> int | None:
    fig = load_library().parameter(name, region, on)
    if fig is None or fig.value is None:
        return None
    cites.append(fig.cite())
    return int(fig.value)  # type: ignore[arg-type]


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
    return PeriodTerms(
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
    return period_terms_now(q)
