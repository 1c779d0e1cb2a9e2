"""Policy evaluation for workflows, as local activities.

Policy packs are data read from files, so evaluating them is I/O as far as a workflow is concerned:
running it as a local activity records the result (amount, pack id and version) in the workflow's
history, and a replay after a pack is revised still sees what was applied then.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from temporalio import activity

from shared.policy import Entitlement, HouseholdProfile, ServiceLevels, load_library
from workflows.errors import policy_errors


class EvaluateEntitlement(BaseModel):
    measure: str
    region_code: str
    on: date
    profile: HouseholdProfile
    requested_amount_fen: int | None = None  # a caseworker's assessment (applications)


class ServiceLevelsQuery(BaseModel):
    region_code: str
    on: date


@activity.defn(name="policy.evaluate_entitlement")
async def evaluate_entitlement(request: EvaluateEntitlement) -> Entitlement:
    lib = load_library()
    with policy_errors():  # a measure no pack defines fails once, not on every retry
        if request.requested_amount_fen is not None:
            return lib.assess_request(request.measure, request.region_code, request.on, request.profile,
                                      request.requested_amount_fen)
        return lib.entitlement(request.measure, request.region_code, request.on, request.profile)


@activity.defn(name="policy.service_levels")
async def service_levels(request: ServiceLevelsQuery) -> ServiceLevels:
    with policy_errors():
        return load_library().service_levels(request.region_code, request.on)
