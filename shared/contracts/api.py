"""HTTP API models (docs/contracts.md, "HTTP"). OpenAPI is generated from these."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, computed_field, field_validator

from shared.contracts.identity import KnownCountyCode, NationalId, RegionCode, birth_date_of
from shared.contracts.money import CaseFen, IncomeFen, SelfPayFen
from shared.regions import region_name

REGION_NAME = ("the region's name in the official table (GB/T 2260, shared/regions); null when the table does not "
               "list the code")


class Category(StrEnum):
    """Assistance categories a household can be registered under."""

    dibao = "dibao"                                    # 最低生活保障
    extreme_poverty = "extreme_poverty"                # 特困人员救助供养
    marginal = "marginal"                              # 低保边缘 / 低收入家庭
    low_income_db = "low_income_db"                    # 低收入人口动态监测信息库
    orphan = "orphan"                                  # 孤儿
    street_person = "street_person"                    # 流浪乞讨人员
    old_age_allowance = "old_age_allowance"            # 高龄津贴
    rural_revitalisation_certified = "rural_revitalisation_certified"  # 乡村振兴部门认定
    de_facto_unsupported_child = "de_facto_unsupported_child"  # 事实无人抚养儿童
    poverty_alleviated = "poverty_alleviated"          # 脱贫人口


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {
            "person_id": "640104198003151020", "name": "马建国", "relation": "本人", "birth_date": "1980-03-15",
            "flags": ["employed"],
        },
    ]})

    person_id: NationalId
    name: str = Field(min_length=1, max_length=100)
    relation: str = Field(min_length=1, max_length=30, description="e.g. head, spouse, child, parent")
    birth_date: date
    flags: list[str] = Field(default_factory=list,
                             description="e.g. severely_disabled, seriously_ill, employed, "
                                         "full_care (特困 person needing full care), "
                                         "raised_in_institution (orphan)")
    work_region_code: KnownCountyCode | None = Field(
        default=None,
        description="务工地: where an employed member works away from home (employment-cost deduction)")

    @field_validator("birth_date")
    @classmethod
    def _born_as_the_id_says(cls, born: date, info: ValidationInfo) -> date:
        """The ID's 7th-14th characters are the birth date (GB 11643-1999): a typo in either is refused."""
        person_id = info.data.get("person_id")  # absent when the ID itself was refused
        if person_id is not None and born != birth_date_of(person_id):
            raise ValueError(f"出生日期 {born.isoformat()} 与身份证号码第 7-14 位（{person_id[6:14]}）不一致"
                             f" (birth_date does not match the national ID's 7th-14th digits)")
        return born


class HouseholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {
            "household_id": "hh-640104-000123", "region_code": "640104", "urban": True, "categories": ["dibao"],
            "monthly_income_fen": 0,
            "members": [
                {
                    "person_id": "640104198003151020", "name": "马建国", "relation": "本人",
                    "birth_date": "1980-03-15", "flags": [],
                },
                {
                    "person_id": "640104195207082019", "name": "马秀兰", "relation": "母亲",
                    "birth_date": "1952-07-08", "flags": ["seriously_ill"],
                },
            ],
        },
    ]})

    household_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    region_code: KnownCountyCode
    urban: bool
    categories: list[Category] = Field(default_factory=list)
    monthly_income_fen: IncomeFen
    members: list[MemberIn] = Field(min_length=1)
    remote: bool = Field(default=False,
                         description="XPCC 边远: a company 30 km or more from the regiment seat, or a "
                                     "border regiment (距离团部30公里以上的连队或边境团场)")

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[MemberIn]) -> list[MemberIn]:
        ids = [m.person_id for m in members]
        if len(ids) != len(set(ids)):
            raise ValueError("a person appears twice in members")
        return members


class DeclaredResidence(BaseModel):
    """Where the applicant lives or works when it is not where their household is registered (seeds 001/002:
    graduates 「由户籍所在地或经常居住地」, migrant workers 「由务工地或经常居住地」; seed 004: 「推进持有居住证人员在
    居住地申办社会救助」, 临时遇困人员 where the emergency happens). The office there decides and pays; the
    registration office is informed."""

    model_config = ConfigDict(extra="forbid")

    basis: Literal["habitual_residence", "work_place", "emergency_place"] = Field(
        description="经常居住地 / 务工地 / 急难发生地")
    region_code: RegionCode = Field(description="where; must lie in the county the application is filed in")
    evidence: str = Field(min_length=1, max_length=200,
                          description="居住证号, the employer, or what happened where (recorded, shown to the "
                                      "registration office)")


class ApplicationDetails(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_date: date | None = Field(default=None, description="the business date; defaults to today")
    requested_amount_fen: CaseFen | None = Field(default=None, description="the caseworker's assessed amount")
    household_type: Literal["individual", "emergency_household",
                            "expenditure_household"] = "emergency_household"
    stranded: bool = Field(default=False, description="临时遇困/流浪: aid where the emergency happens")
    unemployment_insured: bool | None = Field(default=None,
                                              description="job_loss: covered by unemployment insurance")
    last_income_month: str | None = Field(
        default=None, pattern=r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$",
        description="job_loss: the last month with income (YYYY-MM); 连续3个月无收入来源 is checked from it")
    annual_medical_self_pay_fen: SelfPayFen | None = Field(default=None,
                                                           description="medical: the year's self-pay")
    monthly_rigid_expenditure_fen: IncomeFen | None = Field(
        default=None,
        description="dibao: verified monthly rigid expenditure (illness, disability, schooling, care)")
    single_person: bool = Field(default=False,
                                description="dibao 单人保: the applicant alone, a severely disabled "
                                            "or seriously ill member of a low-income household")
    reason: str = Field(default="", max_length=2000)
    residence: DeclaredResidence | None = Field(
        default=None, description="applying where you live or work, not where the household is registered")


class ApplicationIn(BaseModel):
    """One-window intake (一门受理). Only the ID and the signed check authorisation may be demanded
    (一证一书): nothing a department source can look up."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {
            "application_id": "app-20261201-0042", "person_id": "640104198003151020", "region_code": "640104",
            "kind": "emergency", "consent": True,
            "details": {
                "incident_date": "2026-11-28", "requested_amount_fen": 195000,
                "household_type": "emergency_household", "reason": "家中失火",
            },
        },
    ]})

    application_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="the caller's idempotency key; the same id is the same case")
    person_id: NationalId
    region_code: KnownCountyCode
    kind: Literal["dibao", "temporary_assistance", "job_loss", "graduate", "medical", "emergency"]
    consent: bool = Field(description="the signed authorisation for the economic status check (授权书)")
    details: ApplicationDetails = Field(default_factory=ApplicationDetails)

    @field_validator("consent")
    @classmethod
    def _consent_given(cls, consent: bool) -> bool:
        if not consent:
            raise ValueError("the signed check authorisation (consent) is required")
        return consent


class ApplicationAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "case_id": "ta-app-20261201-0042", "application_id": "app-20261201-0042",
            "status_url": "/api/cases/ta-app-20261201-0042",
        },
    ]})

    case_id: str
    application_id: str
    status_url: str


class HouseholdOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "household_id": "hh-640104-000123", "region_code": "640104", "urban": True, "categories": ["dibao"],
            "monthly_income_fen": 0,
            "members": [
                {
                    "person_id": "640104198003151020", "name": "马建国", "relation": "本人",
                    "birth_date": "1980-03-15", "flags": [],
                },
            ],
            "version": 1, "created": True, "remote": False,
        },
    ]})

    household_id: str
    region_code: str
    urban: bool
    categories: list[str]
    monthly_income_fen: int
    members: list[dict[str, Any]]
    version: int
    created: bool
    remote: bool = False

    # pydantic's documented computed_field-over-property pattern, which mypy does not model
    @computed_field(description=REGION_NAME)  # type: ignore[prop-decorator]
    @property
    def region_name(self) -> str | None:
        return region_name(self.region_code)


class PaymentView(BaseModel):
    payment_id: str
    amount_fen: int
    status: str
    installment: int
    paid_at: datetime | None


class TimelineEntry(BaseModel):
    at: datetime
    event: str
    status: str | None = None
    stage: str | None = None
    note: str = Field(default="", description="the workflow's own note (English, as recorded)")
    code: str | None = Field(default=None, description="the message code (services/operations/timeline_text.py); "
                             "null for an entry recorded before codes, whose text is its note")
    params: dict[str, Any] = Field(default_factory=dict, description="the message's parameters (amounts in fen)")
    text_zh: str = Field(default="", description="the entry in Chinese: amounts in yuan (1,950.00 元), Beijing time")
    text_en: str = Field(default="", description="the entry in English: amounts in yuan (¥1,950.00), Beijing time")


class CaseSummary(BaseModel):
    """What names a case in every list: its id, pathway (a key of shared/contracts/pathways.py), state and
    whom it concerns."""

    case_id: str
    pathway: str
    status: str
    stage: str
    person_id: str | None
    household_id: str | None
    region_code: str | None

    # pydantic's documented computed_field-over-property pattern, which mypy does not model
    @computed_field(description=REGION_NAME)  # type: ignore[prop-decorator]
    @property
    def region_name(self) -> str | None:
        return region_name(self.region_code)


# the example the OpenAPI document shows (validated against the model by tests/unit/test_openapi_examples.py)
_CASE_EXAMPLE: dict[str, Any] = {
    "case_id": "em-7f3c2a91", "pathway": "emergency_relief", "status": "closed", "stage": "closed",
    "person_id": "640104198003151020", "household_id": "hh-640104-000123", "region_code": "640104",
    "cause_event_id": "evt-health-20220810-0001",
    "policy": {
        "pack_id": "ningxia-2022-20-measures", "pack_version": "2022-05-01", "measure": "quarantine",
        "region_prefix": "64",
    },
    "approved_amount_fen": 195000, "outcome": "paid", "reason": None,
    "payments": [
        {
            "payment_id": "pay-em-7f3c2a91-1", "amount_fen": 195000, "status": "disbursed", "installment": 1,
            "paid_at": "2026-12-01T08:30:04+08:00",
        },
    ],
    "deadlines": [], "flags": [], "escalated_to": None,
    "timeline": [
        {
            "at": "2026-12-01T08:30:00+08:00", "event": "doudi.case.opened", "status": "open", "stage": "opened",
            "note": "quarantined on 2022-08-10",
        },
        {
            "at": "2026-12-01T08:30:04+08:00", "event": "doudi.case.closed", "status": "closed", "stage": "closed",
            "note": "paid 195000 fen",
        },
    ],
    "opened_at": "2026-12-01T08:30:00+08:00", "updated_at": "2026-12-01T08:30:04+08:00", "stalled": False,
    "workflow_url": "http://127.0.0.1:8233/namespaces/doudi/workflows/em-7f3c2a91",
}


class CaseView(CaseSummary):
    model_config = ConfigDict(json_schema_extra={"examples": [_CASE_EXAMPLE]})

    cause_event_id: str | None
    policy: dict[str, Any] | None
    approved_amount_fen: int | None
    outcome: str | None = None
    reason: str | None = None
    payments: list[PaymentView]
    deadlines: list[dict[str, Any]]
    flags: list[str] = Field(default_factory=list)
    escalated_to: str | None = None
    timeline: list[TimelineEntry]
    opened_at: datetime | None
    updated_at: datetime | None
    stalled: bool = False
    workflow_url: str | None = None


class CaseList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_CASE_EXAMPLE], "total": 1}]})

    items: list[CaseView]
    total: int
