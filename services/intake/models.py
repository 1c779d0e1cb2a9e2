"""Intake's HTTP models: one per request and per answer (the views of the registry and the roster are
the store's: services/intake/store)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.api import HouseholdIn
from shared.contracts.money import PositiveCaseFen
from workflows.renewal.inputs import PERIOD

Period = Annotated[str, Field(pattern=PERIOD, description="YYYY-MM")]


class ImportLine(BaseModel):
    """One existing recipient household (``doudi import``: one JSON object per line)."""

    model_config = ConfigDict(extra="forbid")

    household: HouseholdIn
    kind: Literal["dibao", "extreme_poverty"] = "dibao"
    enrolled_from: Period
    level_fen: int | None = Field(default=None, gt=0,
                                  description="default: computed by the pack in force")
    next_review: Period | None = Field(default=None,
                                       description="default: enrolled_from plus the pack's review interval "
                                       "for the household's profile (none if no pack sets one)")
    paid_through: Period | None = Field(default=None,
                                        description="the last period the earlier system paid")
    income_stable: bool = True
    rural_quarterly: bool = False
    monthly_rigid_expenditure_fen: int = Field(default=0, ge=0,
                                               description="verified; deducted where a pack says so")
    single_person: bool = Field(default=False, description="单人保: the head alone is enrolled")


class ImportResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"lines": 3, "enrolled": 2, "already_enrolled": 1}]})

    lines: int
    enrolled: int
    already_enrolled: int


class CycleStarted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "cycle_id": "cycle-6401-2026-12", "workflow_id": "cycle-6401-2026-12", "region_prefix": "6401",
            "period": "2026-12",
        },
    ]})

    cycle_id: str
    workflow_id: str
    region_prefix: str
    period: str


class CycleSchedule(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "schedule_id": "doudi-benefit-cycle-6401", "cron": "0 2 1 * *", "timezone": "Asia/Shanghai",
            "created": True,
        },
    ]})

    schedule_id: str
    cron: str
    timezone: str
    created: bool


class AssessmentIn(BaseModel):
    """核定救助金额: the amount a caseworker assesses where the policy grants aid but leaves the amount to
    the county; the approval tiers then decide it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"amount_fen": 150000, "reason": "入户核查：医疗自付 1.2 万元，按支出型核定"},
    ]})

    # at most one case's sane maximum: an absurd amount is 422 naming the field, never sent to the workflow
    amount_fen: PositiveCaseFen = Field(description="the assessed amount in fen")
    reason: str = Field(min_length=1, max_length=2000, description="why this amount (the household's need)")


class AssessmentOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"case_id": "ta-app-20261201-0042", "accepted": True, "by": "li.caseworker"},
    ]})

    case_id: str
    accepted: bool
    by: str
