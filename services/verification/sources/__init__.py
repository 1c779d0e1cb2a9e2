"""Department data sources for the economic status check, behind one interface (``DepartmentSource``)."""

from services.verification.sources.adapters import (
    BANKS,
    DEPARTMENT_BY_NAME,
    DEPARTMENTS,
    DISABILITY,
    HRSS,
    LOW_INCOME_DB,
    MEDICAL_INSURANCE,
    REAL_ESTATE,
    RURAL_REVITALISATION,
    VEHICLES,
    department_sources,
)
from services.verification.sources.base import (
    AssetItem,
    BackendRecord,
    Department,
    DepartmentSource,
    FlagItem,
    IncomeItem,
    SourceDataError,
    SourceReport,
)
from services.verification.sources.reference import LocalReferenceBackend, StaticBackend

__all__ = [
    "BANKS",
    "DEPARTMENTS",
    "DEPARTMENT_BY_NAME",
    "DISABILITY",
    "HRSS",
    "LOW_INCOME_DB",
    "MEDICAL_INSURANCE",
    "REAL_ESTATE",
    "RURAL_REVITALISATION",
    "VEHICLES",
    "AssetItem",
    "BackendRecord",
    "Department",
    "DepartmentSource",
    "FlagItem",
    "IncomeItem",
    "LocalReferenceBackend",
    "SourceDataError",
    "SourceReport",
    "StaticBackend",
    "department_sources",
]
