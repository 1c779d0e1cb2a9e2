"""The department adapters (seed 004 item 27, seed 002 items 13 and 17 name the departments).

Each adapter knows one department's record (``payloads``) and what it means for the economic status
check on a business date; none of them knows where the records come from (its ``backend``).
"""

from __future__ import annotations

from datetime import date

from services.verification.sources import payloads as p
from services.verification.sources.base import (
    AssetItem,
    DepartmentSource,
    ExpenditureItem,
    FlagItem,
    IncomeItem,
    RecordAdapter,
    RecordBackend,
    SourceReport,
    in_force,
)


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d} yuan"


def _held(start: date, end: date | None, on: date) -> bool:
    """Owned on the date: registered on or before it and not yet disposed of (disposal date exclusive)."""
    return start <= on and (end is None or on < end)


class HrssSource(RecordAdapter[p.HrssRecord]):
    """人力资源和社会保障部门: wages, unemployment insurance and its benefit, basic pension."""

    name = "hrss"
    department_zh = "人力资源和社会保障部门"
    department_en = "human resources and social security"
    payload_model = p.HrssRecord

    def interpret(self, report: SourceReport, person_id: str, payload: p.HrssRecord, on: date) -> None:
        for job in payload.employments:
            if in_force(job.start_on, job.end_on, on):
                report.income.append(IncomeItem(
                    **self.finding(person_id, f"wage from {job.employer} since {job.start_on}"),
                    kind="wage", monthly_fen=job.monthly_wage_fen))
        for b in payload.unemployment_benefits:
            if in_force(b.start_on, b.end_on, on):
                report.income.append(IncomeItem(
                    **self.finding(person_id, f"unemployment insurance benefit since {b.start_on}"),
                    kind="unemployment_insurance", monthly_fen=b.monthly_benefit_fen))
        for pension in payload.pensions:
            if in_force(pension.start_on, pension.end_on, on):
                report.income.append(IncomeItem(
                    **self.finding(person_id, f"basic pension since {pension.start_on}"),
                    kind="pension", monthly_fen=pension.monthly_pension_fen))
        if payload.unemployment_insured:
            report.flags.append(FlagItem(**self.finding(person_id, "covered by unemployment insurance"),
                                         flag="unemployment_insured"))


class MedicalInsuranceSource(RecordAdapter[p.MedicalInsuranceRecord]):
    """医疗保障部门: yearly policy-scope self-pay (the latest year up to the business date's year)."""

    name = "medical_insurance"
    department_zh = "医疗保障部门"
    department_en = "medical insurance"
    payload_model = p.MedicalInsuranceRecord

    def interpret(self, report: SourceReport, person_id: str, payload: p.MedicalInsuranceRecord,
                  on: date) -> None:
        years = [y for y in payload.self_pay if y.year <= on.year]
        if years:
            latest = max(years, key=lambda y: y.year)
            report.expenditure.append(ExpenditureItem(
                **self.finding(person_id, f"medical self-pay {_yuan(latest.self_pay_fen)} in {latest.year}"),
                kind="medical_self_pay", year=latest.year, annual_fen=latest.self_pay_fen))


class DisabilitySource(RecordAdapter[p.DisabilityRecord]):
    """残疾人联合会: disability certificates valid on the date; grades 1-2 are severe (重度残疾)."""

    name = "disability_federation"
    department_zh = "残疾人联合会"
    department_en = "disabled persons' federation"
    payload_model = p.DisabilityRecord

    def interpret(self, report: SourceReport, person_id: str, payload: p.DisabilityRecord, on: date) -> None:
        if not in_force(payload.issued_on, payload.valid_until, on):
            return
        detail = f"disability certificate {payload.certificate_no}, {payload.category} grade {payload.grade}"
        report.flags.append(FlagItem(**self.finding(person_id, detail), flag="disabled"))
        if payload.grade <= 2:
            report.flags.append(FlagItem(**self.finding(person_id, detail), flag="severely_disabled"))


class RealEstateSource(RecordAdapter[p.RealEstateRecord]):
    """不动产登记部门: real estate held on the date."""

    name = "real_estate"
    department_zh = "不动产登记部门"
    department_en = "real estate registration"
    payload_model = p.RealEstateRecord

    def interpret(self, report: SourceReport, person_id: str, payload: p.RealEstateRecord, on: date) -> None:
        for prop in payload.properties:
            if _held(prop.registered_on, prop.disposed_on, on):
                area = f", {prop.area_m2} m2" if prop.area_m2 is not None else ""
                report.assets.append(AssetItem(
                    **self.finding(person_id, f"{prop.usage} property {prop.certificate_no} {prop.address}{area}".strip()),
                    kind="property", subtype=prop.usage))


class VehicleSource(RecordAdapter[p.VehicleRecord]):
    """公安交通管理部门（机动车登记）: vehicles registered to the person on the date."""

    name = "vehicles"
    department_zh = "公安交通管理部门（机动车登记）"
    department_en = "vehicle registration"
    payload_model = p.VehicleRecord

    def interpret(self, report: SourceReport, person_id: str, payload: p.VehicleRecord, on: date) -> None:
        for v in payload.vehicles:
            if _held(v.registered_on, v.deregistered_on, on):
                value = f", assessed {_yuan(v.assessed_value_fen)}" if v.assessed_value_fen is not None else ""
                report.assets.append(AssetItem(
                    **self.finding(person_id, f"{v.kind} {v.plate}{value}"),
                    kind="vehicle", subtype=v.kind, value_fen=v.assessed_value_fen))


class BankSource(RecordAdapter[p.BankRecord]):
    """银行业金融机构: deposits and other financial assets (each account's latest reported balance)."""

    name = "banks"
    department_zh = "银行业金融机构"
    department_en = "banks and financial institutions"
    payload_model = p.BankRecord

    def interpret(self, report: SourceReport, person_id: str, payload: p.BankRecord, on: date) -> None:
        for a in payload.accounts:
            report.assets.append(AssetItem(
                **self.finding(person_id, f"{a.kind} at {a.institution}: {_yuan(a.balance_fen)} on {a.as_of}"),
                kind="financial", subtype=a.kind, value_fen=a.balance_fen))


class LowIncomeDbSource(RecordAdapter[p.LowIncomeDbRecord]):
    """民政部门低收入人口库: inclusion in the civil-affairs low-income population database on the date."""

    name = "low_income_db"
    department_zh = "民政部门低收入人口库"
    department_en = "civil affairs low-income population database"
    payload_model = p.LowIncomeDbRecord

    def interpret(self, report: SourceReport, person_id: str, payload: p.LowIncomeDbRecord, on: date) -> None:
        if in_force(payload.start_on, payload.end_on, on):
            report.flags.append(FlagItem(
                **self.finding(person_id, f"in the low-income database since {payload.start_on} "
                                          f"({', '.join(payload.categories)})"),
                flag="low_income_db"))


class RuralRevitalisationSource(RecordAdapter[p.RuralRevitalisationRecord]):
    """乡村振兴部门认定: 脱贫不稳定户, 边缘易致贫户, 突发严重困难户 certified on the date."""

    name = "rural_revitalisation"
    department_zh = "乡村振兴部门"
    department_en = "rural revitalisation office"
    payload_model = p.RuralRevitalisationRecord

    def interpret(self, report: SourceReport, person_id: str, payload: p.RuralRevitalisationRecord,
                  on: date) -> None:
        if in_force(payload.start_on, payload.end_on, on):
            report.flags.append(FlagItem(
                **self.finding(person_id, f"certified {payload.certification} since {payload.start_on}"),
                flag="rural_revitalisation_certified"))


ADAPTERS: tuple[type[RecordAdapter], ...] = (  # type: ignore[type-arg]
    HrssSource, MedicalInsuranceSource, DisabilitySource, RealEstateSource, VehicleSource, BankSource,
    LowIncomeDbSource, RuralRevitalisationSource,
)
ADAPTER_BY_NAME: dict[str, type[RecordAdapter]] = {a.name: a for a in ADAPTERS}  # type: ignore[type-arg]


def department_sources(backend: RecordBackend) -> list[DepartmentSource]:
    """Every department adapter on one backend (the check queries them all)."""
    return [adapter(backend) for adapter in ADAPTERS]


assert len(ADAPTER_BY_NAME) == len(ADAPTERS), "two adapters share a source name"
