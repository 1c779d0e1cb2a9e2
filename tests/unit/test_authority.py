"""Delegated authority (审批权限) and the policy's amount rules, pure: every tier's cap read from the packs,
checked at limit - 1, limit and limit + 1; the township's own approval honouring the pack's
``inclusive`` flag (Xinjiang 「2000元以下」 includes 2,000 yuan); a fixed amount cannot be changed, a 不低于
floor cannot be undercut, the committee only raises aid; absurd amounts refused.

Every expected figure is written by hand from the seed (or the labelled local-practice default of the
national pack), never obtained from the code under test."""

from __future__ import annotations

from datetime import date

import pytest

from services.approval.authority import township_decision
from shared.contracts.activities import ApprovalRequest
from shared.contracts.authority import (
    AboveAuthority,
    AmountRule,
    amount_rule,
    check_decided_amount,
    lowest_tier_for,
)
from shared.policy import HouseholdProfile, load_library
from workflows.one_matter.limits import authority_limits

AUG_12 = date(2022, 8, 12)
XINJIANG = "650102001"  # Urumqi, Tianshan district, a township
NINGXIA = "640104"      # Yinchuan, Xingqing district
XPCC = "660101"
JIANGXI = "361102"

# Xinjiang, seed 000: 「对 2000元以下的临时救助申请， 由县级人民政府民政部门委托乡镇（街道）审批」:
# 2000 yuan x 100 = 200000 fen, and 以下 includes the figure.
XINJIANG_TOWNSHIP = 200_000
# national pack, LOCAL PRACTICE (no seed gives a figure): township 1,000 yuan, county 10,000 yuan,
# committee 50,000 yuan, prefecture 200,000 yuan, each inclusive.
LOCAL_TOWNSHIP = 1_000 * 100
COUNTY = 10_000 * 100
COMMITTEE = 50_000 * 100
PREFECTURE = 200_000 * 100


def test_every_tier_has_its_cap_from_the_packs() -> None:
    xj = authority_limits(XINJIANG, AUG_12)
    assert (xj.township.limit_fen, xj.township.inclusive) == (XINJIANG_TOWNSHIP, True)
    assert (xj.county.limit_fen, xj.committee.limit_fen, xj.prefecture.limit_fen) == (COUNTY, COMMITTEE, PREFECTURE)
    nx = authority_limits(NINGXIA, AUG_12)  # Ningxia's seed gives no township figure: the local default
    assert nx.township.limit_fen == LOCAL_TOWNSHIP and "local practice" in nx.pack_note


TIER_CAPS = [("township", XINJIANG, XINJIANG_TOWNSHIP), ("township", NINGXIA, LOCAL_TOWNSHIP),
             ("county", NINGXIA, COUNTY), ("committee", NINGXIA, COMMITTEE), ("prefecture", NINGXIA, PREFECTURE)]


@pytest.mark.parametrize(("tier", "region", "limit"), TIER_CAPS)
def test_a_tier_decides_up_to_and_including_its_limit_and_not_one_fen_more(tier: str, region: str, limit: int) -> None:
    limits = authority_limits(region, AUG_12)
    open_amount = AmountRule(kind="open")
    check_decided_amount(limit - 1, tier=tier, limits=limits, rule=open_amount)
    check_decided_amount(limit, tier=tier, limits=limits, rule=open_amount)
    with pytest.raises(AboveAuthority) as above:
        check_decided_amount(limit + 1, tier=tier, limits=limits, rule=open_amount)
    message = str(above.value)
    assert "超出" in message and "above the" in message and str(limit + 1) in message
    assert above.value.next_tier == {"township": "county", "county": "committee", "committee": "prefecture",
                                     "prefecture": None}[tier]


@pytest.mark.parametrize("absurd", [2**63 - 1, 9 * 10**18, -1, 0])
def test_absurd_amounts_are_refused_at_every_tier(absurd: int) -> None:
    limits = authority_limits(NINGXIA, AUG_12)
    for tier in ("township", "county", "committee", "prefecture"):
        with pytest.raises(ValueError):
            check_decided_amount(absurd, tier=tier, limits=limits, rule=AmountRule(kind="open"))


def test_no_tier_may_decide_above_the_prefectures_cap() -> None:
    limits = authority_limits(NINGXIA, AUG_12)
    assert lowest_tier_for(LOCAL_TOWNSHIP, limits) == "township"
    assert lowest_tier_for(LOCAL_TOWNSHIP + 1, limits) == "county"
    assert lowest_tier_for(COUNTY + 1, limits) == "committee"
    assert lowest_tier_for(COMMITTEE + 1, limits) == "prefecture"
    assert lowest_tier_for(PREFECTURE + 1, limits) is None


@pytest.mark.parametrize(("amount", "decision", "pay_from"), [
    (XINJIANG_TOWNSHIP - 1, "approved", "township_reserve"),
    (XINJIANG_TOWNSHIP, "approved", "township_reserve"),   # 以下 includes 2,000 yuan itself
    (XINJIANG_TOWNSHIP + 1, "needs_county", "county_fund"),
])
def test_the_township_approves_on_the_countys_behalf_up_to_and_including_2000_yuan(
        amount: int, decision: str, pay_from: str) -> None:
    outcome = township_decision(ApprovalRequest(
        case_id="c-1", pathway="emergency_relief", measure="temporary_assistance_emergency", region_code=XINJIANG,
        business_date=AUG_12, amount_fen=amount))
    assert (outcome.decision, outcome.pay_from) == (decision, pay_from)
    assert outcome.limits is not None and outcome.limits.county.limit_fen == COUNTY


def test_a_fixed_amount_cannot_be_changed_by_the_approver() -> None:
    # Ningxia job loss, seed 002: 「按照当地城市低保月标准3倍，发放一次性临时救助金」; 650 yuan x 3 = 1,950 yuan
    fixed = 650 * 3 * 100
    ent = load_library().entitlement("job_loss", NINGXIA, AUG_12, HouseholdProfile(unemployment_insured=False))
    assert ent.payable, ent.reason
    rule = amount_rule(amount_fen=ent.amount_fen, amount_is_minimum=ent.amount_is_minimum, floor_fen=ent.floor_fen,
                       amount_open=ent.amount_open)
    assert rule == AmountRule(kind="fixed", policy_fen=fixed)
    limits = authority_limits(NINGXIA, AUG_12)
    check_decided_amount(fixed, tier="county", limits=limits, rule=rule)
    for other in (fixed - 1, fixed + 1, 2 * fixed):
        with pytest.raises(ValueError, match="policy fixes"):
            check_decided_amount(other, tier="county", limits=limits, rule=rule)


def test_a_floor_cannot_be_undercut_but_may_be_exceeded_within_the_limit() -> None:
    # Ningxia emergency household, seed 002: 「不低于城市低保月标准…2倍」; 650 yuan x 2 = 1,300 yuan = 130000 fen
    floor = 650 * 2 * 100
    lib = load_library()
    assessed = lib.assess_request("temporary_assistance_emergency_household", NINGXIA, AUG_12, HouseholdProfile(),
                                  250_000)
    rule = amount_rule(amount_fen=assessed.amount_fen, amount_is_minimum=assessed.amount_is_minimum,
                       floor_fen=assessed.floor_fen, amount_open=assessed.amount_open)
    assert rule == AmountRule(kind="floor", policy_fen=floor)  # the caseworker's 2,500 yuan does not move the floor
    limits = authority_limits(NINGXIA, AUG_12)
    with pytest.raises(ValueError, match="不低于"):
        check_decided_amount(floor - 1, tier="county", limits=limits, rule=rule)
    check_decided_amount(floor, tier="county", limits=limits, rule=rule)
    check_decided_amount(COUNTY, tier="county", limits=limits, rule=rule)
    with pytest.raises(AboveAuthority):
        check_decided_amount(COUNTY + 1, tier="county", limits=limits, rule=rule)


def test_an_open_amount_is_bound_only_by_the_tier() -> None:
    # Xinjiang leaves the job-loss aid to the county (「发放一次性临时救助金」, no figure): an assessment
    assessed = load_library().assess_request("temporary_assistance_emergency", XINJIANG, AUG_12, HouseholdProfile(),
                                             300_000)
    assert assessed.amount_open
    rule = amount_rule(amount_fen=assessed.amount_fen, amount_is_minimum=assessed.amount_is_minimum,
                       floor_fen=assessed.floor_fen, amount_open=assessed.amount_open)
    limits = authority_limits(XINJIANG, AUG_12)
    check_decided_amount(1, tier="county", limits=limits, rule=rule)
    check_decided_amount(COUNTY, tier="county", limits=limits, rule=rule)


def test_the_committee_only_ever_raises_aid() -> None:
    # the base entitlement 130000 fen (see above) stays the least the committee may decide
    base = AmountRule(kind="floor", policy_fen=130_000)
    limits = authority_limits(NINGXIA, AUG_12)
    with pytest.raises(ValueError, match="不低于"):
        check_decided_amount(129_999, tier="committee", limits=limits, rule=base)
    check_decided_amount(COMMITTEE, tier="committee", limits=limits, rule=base)
    with pytest.raises(AboveAuthority):
        check_decided_amount(COMMITTEE + 1, tier="committee", limits=limits, rule=base)


@pytest.mark.parametrize(("region", "devolved"), [
    (NINGXIA, True),   # seed 002 item 14: 「按照社会救助确认权限下放工作要求」
    (XPCC, True),      # seed 004 item 25: 「将低保、特困、临时救助等社会救助审核确认权限下放至团场(街道)」
    (XINJIANG, False),  # no devolution in seed 000: the national local-practice default, county confirms
    (JIANGXI, False),
])
def test_confirmation_is_devolved_to_the_township_where_the_seed_says_so(region: str, devolved: bool) -> None:
    figure = load_library().parameter("confirmation_devolved_to_township", region, AUG_12)
    assert figure is not None and figure.value is devolved
