"""Department data sources for the economic status check, behind one interface (``DepartmentSource``)."""

from services.verification.sources.adapters import (
    ADAPTER_BY_NAME,
    ADAPTERS,
    BankSource,
    DisabilitySource,
    HrssSource,
    LowIncomeDbSource,
    MedicalInsuranceSource,
    RealEstateSource,
    RuralRevitalisationSource,
    VehicleSource,
    department_sources,
)
from services.verification.sources.base import (
    AssetItem,
    BackendRecord,
    DepartmentSource,
    ExpenditureItem,
    FlagItem,
    IncomeItem,
    RecordAdapter,
    RecordBackend,
    SourceDataError,
    SourceReport,
)
from services.verification.sources.reference import LocalReferenceBackend, StaticBackend

__all__ = [
    "ADAPTERS",
    "ADAPTER_BY_NAME",
    "AssetItem",
    "BackendRecord",
    "BankSource",
    "DepartmentSource",
    "DisabilitySource",
    "ExpenditureItem",
    "FlagItem",
    "HrssSource",
    "IncomeItem",
    "LocalReferenceBackend",
    "LowIncomeDbSource",
    "MedicalInsuranceSource",
    "RealEstateSource",
    "RecordAdapter",
    "RecordBackend",
    "RuralRevitalisationSource",
    "SourceDataError",
    "SourceReport",
    "StaticBackend",
    "VehicleSource",
    "department_sources",
]
