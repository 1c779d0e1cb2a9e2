"""The department sources (seed 004 item 27, seed 002 items 13 and 17 name the departments), as data.

Each ``Department`` names one department, the record it keeps (``payloads``) and how that record reads
on a business date; the one generic adapter (``base.DepartmentAdapter``) does the rest. None of them
knows where the records come from (the backend the department is called with).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, Protocol, TypeVar

from services.verification.sources import payloads as p
from services.verification.sources.base import Department, DepartmentSource, Found, RecordBackend, in_force


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d} yuan"


class _Period(Protocol):
    @property
    def start_on(self) -> date: ...

    @property
    def end_on(self) -> date | None: ...


R = TypeVar("R", bound=_Period)


def _in_force(records: Sequence[R], on: date) -> Iterator[R]:
    return (r for r in records if in_force(r.start_on, r.end_on, on))


def _held(start: date, end: date | None, on: date) -> bool:
    """Owned on the date: registered on or before it and not yet disposed of (disposal date exclusive)."""
    return start <= on and (end is None or on < end)


def _hrss(r: p.HrssRecord, on: date, found: Found) -> None:
    """Wages, unemployment insurance and its benefit, basic pension in force on the date."""
    for job in _in_force(r.employments, on):
        found.income("wage", job.monthly_wage_fen, f"wage from {job.employer} since {job.start_on}")
    for b in _in_force(r.unemployment_benefits, on):
        found.income("unemployment_insurance", b.monthly_benefit_fen,
                     f"unemployment insurance benefit since {b.start_on}")
    for pension in _in_force(r.pensions, on):
        found.income("pension", pension.monthly_pension_fen, f"basic pension since {pension.start_on}")
    if r.unemployment_insured:
        found.flag("unemployment_insured", "covered by unemployment insurance")


def _medical(r: p.MedicalInsuranceRecord, on: date, found: Found) -> None:
    """Yearly policy-scope self-pay: the latest year up to the business date's year."""
    years = [y for y in r.self_pay if y.year <= on.year]
    if years:
        latest = max(years, key=lambda y: y.year)
        found.medical_self_pay(latest.year, latest.self_pay_fen,
                               f"medical self-pay {_yuan(latest.self_pay_fen)} in {latest.year}")


def _disability(r: p.DisabilityRecord, on: date, found: Found) -> None:
    """A certificate valid on the date; grades 1-2 are severe (重度残疾)."""
    if not in_force(r.issued_on, r.valid_until, on):
        return
    detail = f"disability certificate {r.certificate_no}, {r.category} grade {r.grade}"
    found.flag("disabled", detail)
    if r.grade <= 2:
        found.flag("severely_disabled", detail)


def _real_estate(r: p.RealEstateRecord, on: date, found: Found) -> None:
    """Real estate held on the date."""
    for prop in r.properties:
        if _held(prop.registered_on, prop.disposed_on, on):
            area = f", {prop.area_m2} m2" if prop.area_m2 is not None else ""
            detail = f"{prop.usage} property {prop.certificate_no} {prop.address}{area}".strip()
            found.asset("property", detail, subtype=prop.usage)


def _vehicles(r: p.VehicleRecord, on: date, found: Found) -> None:
    """Vehicles registered to the person on the date."""
    for v in r.vehicles:
        if _held(v.registered_on, v.deregistered_on, on):
            value = f", assessed {_yuan(v.assessed_value_fen)}" if v.assessed_value_fen is not None else ""
            found.asset("vehicle", f"{v.kind} {v.plate}{value}", subtype=v.kind,
                        value_fen=v.assessed_value_fen)


def _banks(r: p.BankRecord, on: date, found: Found) -> None:
    """Deposits and other financial assets: each account's latest reported balance."""
    for a in r.accounts:
        found.asset("financial", f"{a.kind} at {a.institution}: {_yuan(a.balance_fen)} on {a.as_of}",
                    subtype=a.kind, value_fen=a.balance_fen)


def _low_income_db(r: p.LowIncomeDbRecord, on: date, found: Found) -> None:
    """Inclusion in the civil-affairs low-income population database on the date."""
    if in_force(r.start_on, r.end_on, on):
        categories = ", ".join(r.categories)
        found.flag("low_income_db", f"in the low-income database since {r.start_on} ({categories})")


def _rural_revitalisation(r: p.RuralRevitalisationRecord, on: date, found: Found) -> None:
    """脱贫不稳定户, 边缘易致贫户, 突发严重困难户 certified on the date."""
    if in_force(r.start_on, r.end_on, on):
        found.flag("rural_revitalisation_certified", f"certified {r.certification} since {r.start_on}")


HRSS = Department("hrss", "人力资源和社会保障部门", "human resources and social security",
                  p.HrssRecord, _hrss)
MEDICAL_INSURANCE = Department("medical_insurance", "医疗保障部门", "medical insurance",
                               p.MedicalInsuranceRecord, _medical)
DISABILITY = Department("disability_federation", "残疾人联合会", "disabled persons' federation",
                        p.DisabilityRecord, _disability)
REAL_ESTATE = Department("real_estate", "不动产登记部门", "real estate registration",
                         p.RealEstateRecord, _real_estate)
VEHICLES = Department("vehicles", "公安交通管理部门（机动车登记）", "vehicle registration",
                      p.VehicleRecord, _vehicles)
BANKS = Department("banks", "银行业金融机构", "banks and financial institutions", p.BankRecord, _banks)
LOW_INCOME_DB = Department("low_income_db", "民政部门低收入人口库",
                           "civil affairs low-income population database",
                           p.LowIncomeDbRecord, _low_income_db)
RURAL_REVITALISATION = Department("rural_revitalisation", "乡村振兴部门", "rural revitalisation office",
                                  p.RuralRevitalisationRecord, _rural_revitalisation)

DEPARTMENTS: tuple[Department[Any], ...] = (
    HRSS, MEDICAL_INSURANCE, DISABILITY, REAL_ESTATE, VEHICLES, BANKS, LOW_INCOME_DB, RURAL_REVITALISATION,
)
DEPARTMENT_BY_NAME: dict[str, Department[Any]] = {d.name: d for d in DEPARTMENTS}


def department_sources(backend: RecordBackend) -> list[DepartmentSource]:
    """Every department on one backend (the check queries them all)."""
    return [department(backend) for department in DEPARTMENTS]


assert len(DEPARTMENT_BY_NAME) == len(DEPARTMENTS), "two departments share a source name"
