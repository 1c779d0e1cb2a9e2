"""Inputs of the monthly benefit cycle of a region (pathway 4 at scale)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from workflows.renewal.inputs import PERIOD

REGION_PREFIX = r"^\d{2}(\d{2}(\d{2}(\d{3})?)?)?$"


def cycle_id_for(region_prefix: str, period: str) -> str:
    """One cycle per region and period: a second start is the same cycle."""
    return f"cycle-{region_prefix}-{period}"


class CycleInput(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"region_prefix": "6401", "period": "2026-12", "chunk_size": 20000},
    ]})

    region_prefix: str = Field(pattern=REGION_PREFIX)
    # None: the month the workflow runs in (a monthly Temporal Schedule starts it without arguments)
    period: str | None = Field(default=None, pattern=PERIOD)
    chunk_size: int = Field(default=20_000, ge=100, le=100_000)


class CycleResult(BaseModel):
    cycle_id: str
    period: str
    enrolled: int
    due: int
    continued: int
    cases_opened: int
    cases_started: int
    on_roll: int
    paid_count: int
    paid_fen: int
