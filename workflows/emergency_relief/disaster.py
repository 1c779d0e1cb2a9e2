"""The disaster top-up as a local activity (packs are files: reading them is I/O for a workflow; the answer is
recorded in its history). The rule itself is shared/policy/disaster.py."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from temporalio import activity

from shared.policy import load_library
from shared.policy.disaster import DisasterLoss, DisasterTopUp, disaster_topup, topup_scale
from workflows.errors import policy_errors
from workflows.one_matter.limits import authority_limits


class DisasterTopUpQuery(BaseModel):
    region_code: str
    on: date
    base_fen: int
    loss: DisasterLoss


@activity.defn(name="policy.disaster_topup")
async def disaster_topup_activity(query: DisasterTopUpQuery) -> DisasterTopUp:
    with policy_errors():
        lib = load_library()
        scale = topup_scale(lib, query.region_code, query.on)
        if scale is None:  # the national pack sets it: only a deployment without it lands here
            return DisasterTopUp(base_fen=query.base_fen, raise_fen=0, amount_fen=query.base_fen, tier=None,
                                 limit_fen=None, capped=False, reason="disaster top-up: no pack sets a scale")
        return disaster_topup(query.base_fen, query.loss, scale, authority_limits(query.region_code, query.on, lib))
