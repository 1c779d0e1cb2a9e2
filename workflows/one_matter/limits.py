"""Every tier's delegated limit in force for a region and date, read from the policy packs: a local
activity (packs are files: reading them is I/O for a workflow; the result is recorded in its history)
and the plain function the approval service uses."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel
from temporalio import activity

from shared.contracts.authority import TIERS, AuthorityLimits, Cap
from shared.policy import PolicyLibrary, load_library
from workflows.errors import policy_errors


class LimitsQuery(BaseModel):
    region_code: str
    on: date


def authority_limits(region_code: str, on: date, lib: PolicyLibrary | None = None) -> AuthorityLimits:
    """``authority_<tier>_limit_fen`` per tier (the most specific pack in force that sets it; the
    national pack's figures are labelled local practice where no seed gives one)."""
    lib = lib or load_library()
    caps: dict[str, Cap | None] = {}
    notes = []
    for tier in TIERS:
        fig = lib.parameter(f"authority_{tier}_limit_fen", region_code, on)
        if fig is None or isinstance(fig.value, bool) or not isinstance(fig.value, int):
            caps[tier] = None
            continue
        caps[tier] = Cap(limit_fen=fig.value, inclusive=fig.inclusive is not False)
        local = "; local practice" if "LOCAL PRACTICE" in (fig.note or "") else ""
        notes.append(f"{tier} {fig.value} fen ({fig.seed}{local})")
    devolved = lib.parameter("confirmation_devolved_to_township", region_code, on)
    return AuthorityLimits(township=caps["township"], county=caps["county"], committee=caps["committee"],
                           prefecture=caps["prefecture"], pack_note="; ".join(notes),
                           confirmation_devolved_to_township=devolved is not None and devolved.value is True)


@activity.defn(name="policy.authority_limits")
async def authority_limits_activity(query: LimitsQuery) -> AuthorityLimits:
    with policy_errors():
        return authority_limits(query.region_code, query.on)
