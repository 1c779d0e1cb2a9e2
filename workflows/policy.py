"""Policy evaluation for workflows, as a local activity.

Policy packs are data read from files, so evaluating them is I/O as far as a workflow is concerned:
running it as a local activity records the result (amount, pack id and version) in the workflow's
history, and a replay after a pack is revised still sees what was applied then.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from temporalio import activity

from shared.policy import Entitlement, HouseholdProfile, load_library


class EvaluateEntitlement(BaseModel):
    measure: str
    region_code: str
    on: date
    profile: HouseholdProfile


class TownshipLimitQuery(BaseModel):
    region_code: str
    on: date


@activity.defn(name="policy.evaluate_entitlement")
async def evaluate_entitlement(request: EvaluateEntitlement) -> Entitlement:
    return load_library().entitlement(request.measure, request.region_code, request.on, request.profile)
