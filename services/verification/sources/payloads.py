"""What each department's record looks like: one pydantic model per source.

The local reference source stores exactly these (validated on ``PUT /api/reference-data``); a
production backend maps the department's API answer onto the same model. Money is integer fen
(floats are refused); periods are ``start_on``..``end_on`` inclusive, open-ended when ``end_on`` is
omitted; unknown fields are refused so a typo is a 422 naming the field, not silently ignored data.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationInfo, field_validator

from shared.contracts.money import Fen, IncomeFen, SelfPayFen


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Period(_Strict):
    start_on: date
    end_on: date | None = None

    @field_validator("end_on")
    @classmethod
    def _ordered(cls, end_on: date | None, info: ValidationInfo) -> date | None:
        start_on = info.data.get("start_on")
        if end_on is not None and start_on is not None and end_on < start_on:
            raise ValueError("end_on is before start_on")
        return end_on


# --- 人力资源和社会保障部门: wages (social-insurance contribution base), unemployment insurance, pensions ---

class Employment(_Period):
    employer: str = Field(min_length=1, max_length=200)
    monthly_wage_fen: IncomeFen  # a month's amount: at most the sane monthly maximum, an absurd one is 422


class UnemploymentBenefit(_Period):
    monthly_benefit_fen: IncomeFen


class Pension(_Period):
    monthly_pension_fen: IncomeFen


class HrssRecord(_Strict):
    employments: list[Employment] = Field(default_factory=list)
    unemployment_insured: StrictBool = False
    unemployment_benefits: list[UnemploymentBenefit] = Field(default_factory=list)
    pensions: list[Pension] = Field(default_factory=list)


# --- 医疗保障部门: policy-scope self-pay after basic medical and critical-illness insurance ---

class SelfPayYear(_Strict):
    year: StrictInt = Field(ge=2000, le=2100)
    self_pay_fen: SelfPayFen  # a year's self-pay: at most its sane maximum


class MedicalInsuranceRecord(_Strict):
    insured: StrictBool = True
    self_pay: list[SelfPayYear] = Field(default_factory=list)


# --- 残疾人联合会: disability certificates (第二代残疾人证; grades 1-2 are severe, 重度) ---

class DisabilityRecord(_Strict):
    certificate_no: str = Field(min_length=1, max_length=40)
    category: Literal["visual", "hearing", "speech", "physical", "intellectual", "mental", "multiple"]
    grade: StrictInt = Field(ge=1, le=4)
    issued_on: date
    valid_until: date | None = None


class _Registered(_Strict):
    """On a department's register from ``registered_on`` (held on a date until it leaves the register)."""

    registered_on: date


# --- 不动产登记部门: registered real estate ---

class Property(_Registered):
    certificate_no: str = Field(min_length=1, max_length=60)
    address: str = Field(default="", max_length=300)
    usage: Literal["residential", "commercial", "industrial", "other"]
    area_m2: Decimal | None = Field(default=None, ge=0)
    disposed_on: date | None = None


class RealEstateRecord(_Strict):
    properties: list[Property] = Field(default_factory=list)


# --- 公安交通管理部门（机动车登记）: registered vehicles ---

class Vehicle(_Registered):
    plate: str = Field(min_length=1, max_length=20)
    kind: Literal["car", "truck", "motorcycle", "disability_mobility", "agricultural", "other"]
    assessed_value_fen: Fen | None = None
    deregistered_on: date | None = None


class VehicleRecord(_Strict):
    vehicles: list[Vehicle] = Field(default_factory=list)


# --- 银行业金融机构: deposits and other financial assets (balance at as_of) ---

class Account(_Strict):
    institution: str = Field(min_length=1, max_length=200)
    kind: Literal["deposit", "wealth_management", "securities", "insurance", "other"] = "deposit"
    balance_fen: Fen
    as_of: date


class BankRecord(_Strict):
    accounts: list[Account] = Field(default_factory=list)


# --- 民政部门低收入人口库 (低收入人口动态监测信息库) ---

LowIncomeCategory = Literal["dibao", "extreme_poverty", "marginal", "rigid_expenditure_hardship",
                            "unstable_out_of_poverty", "edge_prone", "sudden_hardship", "other"]


class LowIncomeDbRecord(_Period):
    categories: list[LowIncomeCategory] = Field(min_length=1)


# --- 乡村振兴部门认定: 脱贫不稳定户 / 边缘易致贫户 / 突发严重困难户 ---

class RuralRevitalisationRecord(_Period):
    certification: Literal["unstable_out_of_poverty", "edge_prone", "sudden_hardship"]
