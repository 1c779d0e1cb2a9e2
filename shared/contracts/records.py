"""What intake and payment answer the front door's office records (家庭档案, exports, the monthly report):
one model per answer or CSV line, imported by both sides (services/intake/records_routes.py,
services/payment/ledger_routes.py; services/operations/household_files.py, statistics.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HitMember(BaseModel):
    person_id: str = Field(description="居民身份证号码 (masked for roles that may not see it)")
    name: str
    relation: str


class HouseholdHit(BaseModel):
    """A household a search found (``GET /api/registry/search``), with why."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "household_id": "hh-640104-000123", "region_code": "640104", "urban": True, "categories": ["dibao"],
            "matched_by": "name", "enrolment_kind": "dibao", "enrolment_status": "active",
            "members": [{"person_id": "640104198003151020", "name": "马建国", "relation": "本人"}],
        },
    ]})

    household_id: str
    region_code: str
    urban: bool
    categories: list[str]
    matched_by: str = Field(description="household_id | person_id | name")
    enrolment_kind: str | None
    enrolment_status: str | None
    members: list[HitMember]


class RecipientCount(BaseModel):
    """Enrolled households of one kind in one region and area (城市/农村) in a month, and their people
    (``GET /api/registry/recipients``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "region_code": "640104", "kind": "dibao", "urban": True, "households": 812, "persons": 1530,
            "level_fen": 99450000,
        },
    ]})

    region_code: str
    kind: str = Field(description="dibao | extreme_poverty")
    urban: bool
    households: int
    persons: int = Field(description="living members of those households")
    level_fen: int = Field(description="the monthly benefits of those households, summed")


class Area(BaseModel):
    """A line of ``GET /api/registry/areas.csv``: a household and whether it is urban (城市) or rural."""

    household_id: str
    urban: bool


class MeasureSum(BaseModel):
    """A month's disbursements of one measure in one region (``GET /api/ledger/summary``; ``region_code``:
    the code cut to the level asked)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "region_code": "640104", "measure": "quarantine", "payments": 2, "persons": 2, "households": 2,
            "amount_fen": 390000,
        },
    ]})

    region_code: str
    measure: str
    payments: int = Field(description="人次: one per ledger row")
    persons: int = Field(description="distinct person ids paid")
    households: int = Field(description="distinct household ids paid (rows without a household not counted)")
    amount_fen: int


class HouseholdSum(BaseModel):
    """A line of ``GET /api/ledger/household-sums.csv``: a household's disbursements of a month."""

    household_id: str
    county_code: str
    payments: int
    persons: int
    amount_fen: int
