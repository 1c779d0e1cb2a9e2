"""Delegated authority (审批权限) of a human decision on an amount: who may decide how much.

Every fen paid is either the policy's amount computed by doudi or a person's decision within the limit
their tier holds in the policy packs (``authority_<tier>_limit_fen``: the township, the county, the
county coordination committee (一事一议), the prefecture). Above a tier's limit the decision is refused
and the case goes up a tier; above the prefecture's nothing is paid. Inside the limit the policy still
binds the decision (seed 002, 「不低于」; seeds 001/002, 「2-4 倍」 fixed by the pack):

* ``fixed``: the policy fixes the amount (e.g. 3 x the city dibao standard): the decision is that amount;
* ``floor``: the seed says 不低于: the decision is at least the policy's amount;
* ``open``: the policy leaves the amount to the county (a caseworker's assessment): any positive amount
  within the tier's limit.

Pure and deterministic (no I/O): workflow validators call it with what their history recorded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Tier = Literal["township", "county", "committee", "prefecture"]
TIERS: tuple[Tier, ...] = ("township", "county", "committee", "prefecture")
NEXT_TIER: dict[str, Tier | None] = {"township": "county", "county": "committee", "committee": "prefecture",
                                     "prefecture": None}
TIER_ZH: dict[str, str] = {"township": "乡镇（街道）", "county": "县级",
                           "committee": "县级协调机制（一事一议）", "prefecture": "地市（州）"}


class Cap(BaseModel):
    """One tier's limit; ``inclusive``: the limit itself is within it (以下 includes the figure)."""

    limit_fen: int
    inclusive: bool = True

    def allows(self, amount_fen: int) -> bool:
        return amount_fen <= self.limit_fen if self.inclusive else amount_fen < self.limit_fen

    def describe(self) -> str:
        return f"{self.limit_fen} fen ({'inclusive' if self.inclusive else 'exclusive'})"


class AuthorityLimits(BaseModel):
    """The caps in force for a case's region on its business date (from the packs, by the approval
    service); a tier without a cap decides nothing above zero."""

    township: Cap | None = None
    county: Cap | None = None
    committee: Cap | None = None
    prefecture: Cap | None = None
    pack_note: str = ""
    # 审核确认权限下放: the region's pack devolves confirming dibao/特困/临时救助 to the township
    # (Ningxia, seed 002 item 14; XPCC, seed 004 item 25); elsewhere the county confirms
    confirmation_devolved_to_township: bool = False

    def cap(self, tier: str) -> Cap | None:
        return {"township": self.township, "county": self.county, "committee": self.committee,
                "prefecture": self.prefecture}.get(tier)


class AmountRule(BaseModel):
    """What the policy says about the amount of the case (from its entitlement)."""

    kind: Literal["fixed", "floor", "open"]
    policy_fen: int = 0  # fixed: the amount; floor: the least amount; open: unused

    def describe(self) -> str:
        return {"fixed": f"the policy fixes {self.policy_fen} fen",
                "floor": f"at least {self.policy_fen} fen (不低于)",
                "open": "the policy leaves the amount open"}[self.kind]


class AboveAuthority(ValueError):
    """The decided amount is above the deciding tier's limit: the case goes up a tier."""

    def __init__(self, message: str, tier: str, next_tier: Tier | None):
        super().__init__(message)
        self.tier, self.next_tier = tier, next_tier


def amount_rule(*, amount_fen: int, amount_is_minimum: bool = False, floor_fen: int | None = None,
                amount_open: bool = False) -> AmountRule:
    """The rule of an entitlement (``shared.policy.Entitlement``'s fields)."""
    if amount_open:
        return AmountRule(kind="open")
    if amount_is_minimum:
        return AmountRule(kind="floor", policy_fen=floor_fen if floor_fen is not None else amount_fen)
    return AmountRule(kind="fixed", policy_fen=amount_fen)


def above_authority_message(tier: str, amount_fen: int, cap: Cap | None) -> str:
    up = NEXT_TIER.get(tier)
    bound = "（含）" if cap is not None and cap.inclusive else "（不含）"
    limit = "没有审批权限" if cap is None else f"审批权限为{cap.limit_fen}分{bound}"
    zh = (f"超出{TIER_ZH.get(tier, tier)}审批权限：决定金额{amount_fen}分，{limit}；"
          + (f"案件须报{TIER_ZH[up]}审批，不予支付。" if up else "任何层级均无权审批，不予支付。"))
    en = (f"above the {tier}'s authority: {amount_fen} fen decided, the {tier}'s limit is "
          f"{cap.describe() if cap else 'none'}; "
          + (f"the case goes up to the {up}, nothing is paid" if up
             else "no tier may decide it, nothing is paid"))
    return f"{zh} / {en}"


def check_decided_amount(amount_fen: int | None, *, tier: str, limits: AuthorityLimits | None,
                         rule: AmountRule | None) -> None:
    """Raise ValueError (AboveAuthority above the tier's limit) unless ``amount_fen`` is a decision the
    tier may take under the policy. ``limits`` None: a case recorded before limits existed; only the
    policy's rule applies then."""
    if amount_fen is None or amount_fen <= 0:
        raise ValueError("批准须写明正数金额 / an approval needs a positive amount_fen")
    if rule is not None and rule.kind == "fixed" and amount_fen != rule.policy_fen:
        raise ValueError(f"政策规定金额为{rule.policy_fen}分，审批不得改变：决定{amount_fen}分 / "
                         f"the policy fixes {rule.policy_fen} fen; "
                         f"a decision of {amount_fen} fen may not differ")
    if rule is not None and rule.kind == "floor" and amount_fen < rule.policy_fen:
        raise ValueError(f"政策规定不低于{rule.policy_fen}分：决定{amount_fen}分低于标准 / "
                         f"the policy grants at least {rule.policy_fen} fen (不低于); "
                         f"a decision of {amount_fen} fen is below it")
    if limits is None:
        return
    cap = limits.cap(tier)
    if cap is None or not cap.allows(amount_fen):
        raise AboveAuthority(above_authority_message(tier, amount_fen, cap), tier, NEXT_TIER.get(tier))


def lowest_tier_for(amount_fen: int, limits: AuthorityLimits, *, from_tier: Tier = "township") -> Tier | None:
    """The first tier, from ``from_tier`` up, whose limit holds the amount; None: no tier may decide it."""
    for tier in TIERS[TIERS.index(from_tier):]:
        cap = limits.cap(tier)
        if cap is not None and cap.allows(amount_fen):
            return tier
    return None
