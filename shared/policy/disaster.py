"""The disaster top-up (seed 003: 「对经受灾人员救助后,基本生活仍有困难的……并根据因灾损失、人员伤亡等情况,适当提高
救助水平」): the household's losses and casualties in the disaster raise the aid the policy grants, within the
delegated limit of the tier that decides the aid.

The seed gives no scale: the figures ``disaster_topup_per_death_fen``, ``disaster_topup_per_injury_fen`` and
``disaster_topup_loss_ratio`` are LOCAL-PRACTICE defaults in the national pack, a region's pack overrides them.
The limit is the one of the lowest tier whose authority holds the base amount (the tier that decides it,
``authority_<tier>_limit_fen``): the raise never takes the aid past what that official may authorise, so
「先行救助」 stays as fast as it was; a need beyond it is the committee's (一事一议), as before. Pure."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_FLOOR, Decimal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from shared.contracts.authority import AuthorityLimits, lowest_tier_for

from .library import PolicyLibrary

# sanity bounds of the facts a disaster report may carry (an absurd figure is refused, never priced)
MAX_CASUALTIES = 100
MAX_DIRECT_LOSS_FEN = 10**12  # ten billion yuan: no household's loss


class DisasterLoss(BaseModel):
    """One household's losses in the disaster, as the disaster report (灾情核定) states them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deaths: StrictInt = Field(default=0, ge=0, le=MAX_CASUALTIES, description="members who died (因灾死亡)")
    serious_injuries: StrictInt = Field(default=0, ge=0, le=MAX_CASUALTIES, description="members seriously injured")
    direct_loss_fen: StrictInt = Field(default=0, ge=0, le=MAX_DIRECT_LOSS_FEN,
                                       description="the assessed direct property loss, integer fen")

    @property
    def any(self) -> bool:
        return bool(self.deaths or self.serious_injuries or self.direct_loss_fen)


class TopUpScale(BaseModel):
    """The scale in force for a region and date (its figures' citations beside it)."""

    model_config = ConfigDict(frozen=True)

    per_death_fen: int
    per_injury_fen: int
    loss_ratio: Decimal
    citations: tuple[str, ...] = ()


class DisasterTopUp(BaseModel):
    """What the losses raise the aid to, and why."""

    base_fen: int
    raise_fen: int          # what the scale gives, before the limit
    amount_fen: int         # the raised aid, within the limit (never below the base)
    tier: str | None        # the tier deciding the base amount (None: no tier may; nothing is raised)
    limit_fen: int | None
    capped: bool
    reason: str
    citations: list[str] = Field(default_factory=list)


FIGURES = ("disaster_topup_per_death_fen", "disaster_topup_per_injury_fen", "disaster_topup_loss_ratio")


def topup_scale(lib: PolicyLibrary, region_code: str, on: date) -> TopUpScale | None:
    """The scale of the most specific pack in force (None: no pack sets all three)."""
    cites: list[str] = []
    figs = [lib.cited(name, region_code, on, cites) for name in FIGURES]
    death, injury, ratio = figs
    if death is None or injury is None or ratio is None:
        return None
    assert isinstance(death.value, int) and isinstance(injury.value, int) and isinstance(ratio.value, Decimal)
    return TopUpScale(per_death_fen=death.value, per_injury_fen=injury.value, loss_ratio=ratio.value,
                      citations=tuple(cites))


def disaster_topup(base_fen: int, loss: DisasterLoss, scale: TopUpScale, limits: AuthorityLimits) -> DisasterTopUp:
    """The base aid raised for the losses by the scale, held within the deciding tier's limit."""
    raise_fen = (loss.deaths * scale.per_death_fen + loss.serious_injuries * scale.per_injury_fen
                 + int((Decimal(loss.direct_loss_fen) * scale.loss_ratio).to_integral_value(ROUND_FLOOR)))
    tier = lowest_tier_for(base_fen, limits) if base_fen > 0 else None
    cap = limits.cap(tier) if tier is not None else None
    if cap is None or raise_fen == 0:
        why = "no tier may decide the base amount" if raise_fen else "no losses or casualties reported"
        return DisasterTopUp(base_fen=base_fen, raise_fen=raise_fen, amount_fen=base_fen, tier=tier, limit_fen=None,
                             capped=False, reason=f"disaster top-up: none ({why})")
    most = cap.limit_fen if cap.inclusive else cap.limit_fen - 1
    amount = max(base_fen, min(base_fen + raise_fen, most))
    capped = base_fen + raise_fen > most
    reason = (f"disaster top-up (seed 003 适当提高救助水平, local-practice scale): {loss.deaths} death(s) x "
              f"{scale.per_death_fen} + {loss.serious_injuries} serious injur(ies) x {scale.per_injury_fen} + "
              f"{scale.loss_ratio} x {loss.direct_loss_fen} fen loss = {raise_fen} fen on {base_fen} fen"
              + (f", held within the {tier}'s limit of {cap.describe()}" if capped else "")
              + f": {amount} fen")
    return DisasterTopUp(base_fen=base_fen, raise_fen=raise_fen, amount_fen=amount, tier=tier,
                         limit_fen=cap.limit_fen, capped=capped, reason=reason, citations=list(scale.citations))
