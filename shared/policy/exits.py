"""Leaving dibao (低保退出), pure: how long a gradual exit lasts and whether exits are paused on a date.
Every number comes from the packs in force for the region on the business date; no clock, no I/O.

- **gradual exit** (渐退期) after employment lifts the household's income above the standard:
  Jiangxi (seed 001) 「给予不低于 6 个月的渐退期」 fixes a floor only: ``gradual_exit_min_months``;
  Ningxia (seed 002) 「可根据家庭情况给予不少于6个月、不超过18个月的低保渐退期」 gives a range
  (``gradual_exit_min_months``..``gradual_exit_max_months``) chosen 「根据家庭情况」: the seed does not say
  how, so a labelled local-practice rule of the national pack decides, which a region's pack overrides:
  the minimum plus ``gradual_exit_extra_months_per_special_member`` per special member (a minor, an
  elderly, a severely disabled or a seriously ill member), capped at the maximum;
  XPCC (seed 004) 「给予一定时间的渐退期」 grants one without a figure (``gradual_exit_granted``): the
  national pack's local-practice ``gradual_exit_default_months``.
  None where no pack in force grants a gradual exit (the household exits at once).
- **the epidemic pause** (seed 002 「疫情防控期间暂停低保退出」): where a pack in force sets
  ``epidemic_suspends_dibao_exit``, exits are paused on the dates of the epidemic-control period
  (``epidemic_control_start``..``epidemic_control_end``, both inclusive, either open), not for the whole
  window of the pack; the seed dates neither end, so the national pack labels its end as local practice.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from .benefit import BenefitHousehold
from .library import PolicyLibrary


class GradualExit(BaseModel):
    months: int | None  # None: no gradual exit in force, the household exits at once
    basis: str
    citations: list[str] = []


class ExitPause(BaseModel):
    suspended: bool
    basis: str
    citations: list[str] = []


def gradual_exit(lib: PolicyLibrary, region: str, on: date, household: BenefitHousehold) -> GradualExit:
    """The months of gradual exit a household whose income employment lifted above the standard gets."""
    cites: list[str] = []
    minimum = lib.cited("gradual_exit_min_months", region, on, cites)
    if minimum is None:
        return _granted_without_figure(lib, region, on, cites)
    low = minimum.as_int()
    maximum = lib.cited("gradual_exit_max_months", region, on, cites)
    if maximum is None:
        return GradualExit(months=low, basis=f"{low} months (the pack's minimum)", citations=cites)
    step = lib.cited("gradual_exit_extra_months_per_special_member", region, on, cites)
    per_member = step.as_int() if step is not None else 0
    months = min(maximum.as_int(), low + per_member * household.special_members)
    return GradualExit(months=months, citations=cites,
                       basis=(f"{months} months: minimum {low} + {per_member} x "
                              f"{household.special_members} special members, at most {maximum.value} "
                              "(根据家庭情况, local-practice rule)"))


def _granted_without_figure(lib: PolicyLibrary, region: str, on: date, cites: list[str]) -> GradualExit:
    """XPCC 「给予一定时间的渐退期」: a gradual exit granted without months, the national pack's default."""
    granted = lib.cited("gradual_exit_granted", region, on, cites)
    if granted is None or granted.value is not True:
        return GradualExit(months=None, basis=f"no pack in force for {region} on {on} grants a gradual exit",
                           citations=cites)
    default = lib.cited("gradual_exit_default_months", region, on, cites)
    if default is None:
        return GradualExit(months=None, basis="a gradual exit is granted but no pack sets its months",
                           citations=cites)
    return GradualExit(months=default.as_int(),
                       basis=f"{default.value} months: the pack grants a gradual exit without a figure "
                             "(local-practice default)", citations=cites)


def exit_paused(lib: PolicyLibrary, region: str, on: date) -> ExitPause:
    """Whether exits due on ``on`` wait for the end of the epidemic-control period."""
    cites: list[str] = []
    pause = lib.cited("epidemic_suspends_dibao_exit", region, on, cites)
    if pause is None or pause.value is not True:
        return ExitPause(suspended=False, basis="no epidemic pause of exits in force", citations=cites)
    start = lib.cited("epidemic_control_start", region, on, cites)
    end = lib.cited("epidemic_control_end", region, on, cites)
    inside = (start is None or start.as_date() <= on) and (end is None or on <= end.as_date())
    period = f"{start.value if start else '(open)'}..{end.value if end else '(open)'}"
    basis = (f"{on} is inside the epidemic-control period {period}: exits paused" if inside else
             f"{on} is outside the epidemic-control period {period}: exits proceed")
    return ExitPause(suspended=inside, citations=cites, basis=basis)
