"""The one interface every department data source implements (家庭经济状况核对的数据来源).

A source answers one question: what does this department hold about these people on this date?
``DepartmentSource.query`` returns a ``SourceReport``: the raw records (the evidence), and what they
mean for the check reduced to four kinds of findings, each naming its department:

- ``IncomeItem``      monthly income in force on the date (wages, unemployment benefit, pension), fen;
- ``AssetItem``       property, vehicles, deposits (value in fen where the department knows it);
- ``ExpenditureItem`` rigid expenditure (medical self-pay), yearly fen;
- ``FlagItem``        facts that are neither (in the low-income database, a disability certificate...).

Where the records come from is the adapter's *backend* (``RecordBackend``): in development and tests
the local reference table (``reference.LocalReferenceBackend``), in production a department's API.
Swapping is the argument the department is called with: ``HRSS(backend)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, Field, ValidationError
from temporalio.exceptions import ApplicationError


class Finding(BaseModel):
    source: str                 # e.g. "hrss"
    department_zh: str          # e.g. 人力资源和社会保障部门
    department_en: str = ""     # e.g. human resources and social security
    person_id: str
    detail: str = ""            # human-readable: employer, plate, address...


IncomeKind = Literal["wage", "unemployment_insurance", "pension"]
AssetKind = Literal["property", "vehicle", "financial"]
Flag = Literal["low_income_db", "rural_revitalisation_certified", "disabled", "severely_disabled",
               "unemployment_insured"]


class IncomeItem(Finding):
    kind: IncomeKind
    monthly_fen: int = Field(ge=0)


class AssetItem(Finding):
    kind: AssetKind
    value_fen: int | None = None          # None: the department does not value it
    subtype: str = ""                     # property usage, vehicle kind, account kind


class ExpenditureItem(Finding):
    kind: Literal["medical_self_pay"]
    year: int
    annual_fen: int = Field(ge=0)


class FlagItem(Finding):
    flag: Flag


class SourceReport(BaseModel):
    """One department's answer for a set of people on a date."""

    source: str
    department_zh: str
    department_en: str
    backend: str                                  # where the records came from (local-reference, api...)
    on: date
    queried: list[str]                            # every person asked about
    records: dict[str, dict[str, Any]] = Field(default_factory=dict)   # person_id -> raw payload
    retrieved: dict[str, datetime | None] = Field(default_factory=dict)  # person_id -> record as-of
    income: list[IncomeItem] = Field(default_factory=list)
    assets: list[AssetItem] = Field(default_factory=list)
    expenditure: list[ExpenditureItem] = Field(default_factory=list)
    flags: list[FlagItem] = Field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        """The report as stored with the check and returned to the workflow (JSON-safe)."""
        return self.model_dump(mode="json")


@runtime_checkable
class DepartmentSource(Protocol):
    """A department data source. Implementations must be safe to call concurrently."""

    @property
    def name(self) -> str: ...            # e.g. "hrss"

    @property
    def department_zh(self) -> str: ...   # e.g. 人力资源和社会保障部门

    @property
    def department_en(self) -> str: ...

    async def query(self, person_ids: Sequence[str], on: date) -> SourceReport: ...


class BackendRecord(BaseModel):
    person_id: str
    payload: dict[str, Any]
    as_of: datetime | None = None     # when the department's record was loaded / last changed


class RecordBackend(Protocol):
    """Where an adapter's records come from. ``fetch`` returns the people it holds a record for;
    a person it holds nothing about is simply absent (that is a finding too: nothing found)."""

    name: str

    async def fetch(self, source: str, person_ids: Sequence[str],
                    on: date) -> Mapping[str, BackendRecord]: ...


class SourceDataError(ApplicationError):
    """A department returned a record the adapter cannot read. Retryable: once the data is fixed the
    check proceeds (the case shows as stalled meanwhile, never decided on half the data)."""

    def __init__(self, message: str):
        super().__init__(message, type="SourceDataError")


P = TypeVar("P", bound=BaseModel)


class Found:
    """What one department's record of one person means, appended to the report under the department's
    and the person's name (a department's reader states only the finding itself)."""

    def __init__(self, report: SourceReport, person_id: str):
        self._report = report
        self._who: dict[str, Any] = {"source": report.source, "department_zh": report.department_zh,
                                     "department_en": report.department_en, "person_id": person_id}

    def income(self, kind: IncomeKind, monthly_fen: int, detail: str) -> None:
        self._report.income.append(IncomeItem(**self._who, detail=detail, kind=kind, monthly_fen=monthly_fen))

    def asset(self, kind: AssetKind, detail: str, *, subtype: str, value_fen: int | None = None) -> None:
        self._report.assets.append(AssetItem(**self._who, detail=detail, kind=kind, subtype=subtype,
                                             value_fen=value_fen))

    def medical_self_pay(self, year: int, annual_fen: int, detail: str) -> None:
        self._report.expenditure.append(ExpenditureItem(**self._who, detail=detail, kind="medical_self_pay",
                                                        year=year, annual_fen=annual_fen))

    def flag(self, flag: Flag, detail: str) -> None:
        self._report.flags.append(FlagItem(**self._who, detail=detail, flag=flag))


@dataclass(frozen=True)
class Department(Generic[P]):
    """One department source as data: its names, the record it keeps (``payload_model``) and how that
    record reads on a business date (``read``). Called with a backend, it is that department's adapter:
    ``HRSS(backend)``."""

    name: str                                   # e.g. "hrss"
    department_zh: str                          # e.g. 人力资源和社会保障部门
    department_en: str
    payload_model: type[P]
    read: Callable[[P, date, Found], None]

    def __call__(self, backend: RecordBackend) -> DepartmentAdapter[P]:
        return DepartmentAdapter(self, backend)


class DepartmentAdapter(Generic[P]):
    """The one adapter: fetch through the backend, validate each record with the department's payload
    model, read it into findings. Implements ``DepartmentSource``."""

    def __init__(self, department: Department[P], backend: RecordBackend):
        self.department = department
        self.backend = backend

    @property
    def name(self) -> str:
        return self.department.name

    @property
    def department_zh(self) -> str:
        return self.department.department_zh

    @property
    def department_en(self) -> str:
        return self.department.department_en

    async def query(self, person_ids: Sequence[str], on: date) -> SourceReport:
        found = await self.backend.fetch(self.name, person_ids, on)
        report = SourceReport(source=self.name, department_zh=self.department_zh,
                              department_en=self.department_en, backend=self.backend.name, on=on,
                              queried=list(person_ids))
        for pid in person_ids:
            rec = found.get(pid)
            if rec is None:
                continue
            payload = self._readable(pid, rec)
            report.records[pid] = payload.model_dump(mode="json")
            report.retrieved[pid] = rec.as_of
            self.department.read(payload, on, Found(report, pid))
        return report

    def _readable(self, person_id: str, rec: BackendRecord) -> P:
        try:
            return self.department.payload_model.model_validate(rec.payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise SourceDataError(f"{self.name} ({self.department_zh}) record of {person_id} is unreadable: "
                                  f"{where}: {first['msg']}") from None


def in_force(start: date | None, end: date | None, on: date) -> bool:
    """A record period covers the date: start <= on <= end (end inclusive, open when None)."""
    return (start is None or start <= on) and (end is None or on <= end)
