"""Tiered authority (审批权限): what the township may approve on its own, and every tier's limit.

The numbers come from the policy packs (e.g. Xinjiang, seed 000: 「对 2000元以下的临时救助申请，由县级人民政府
民政部门委托乡镇（街道）审批」; 以下 includes the figure, so 200000 fen itself is the township's). A measure
paid to enrolled recipients by their status, with no application and no economic check ("直接给予" /
"发放", seed 002), needs no human approval; anything that needs a check or exceeds the township's
authority goes to the county. The caps of a person's decision per tier (``authority_<tier>_limit_fen``,
local practice in the national pack where no seed gives one) travel with the outcome, so the workflow's
validators hold a county approver, a committee chair, to them.
"""

from __future__ import annotations

from shared.contracts.activities import ApprovalOutcome, ApprovalRequest
from shared.policy import load_library
from workflows.one_matter.limits import authority_limits

TOWNSHIP_AUTO = "system:township-authority"


def township_decision(request: ApprovalRequest) -> ApprovalOutcome:
    lib = load_library()
    limit = lib.township_limit_fen(request.region_code, request.business_date)
    within = lib.township_may_approve(request.region_code, request.business_date, request.amount_fen)
    limits = authority_limits(request.region_code, request.business_date, lib)
    common = dict(case_id=request.case_id, amount_fen=request.amount_fen, township_limit_fen=limit,
                  limits=limits)
    entitled_by_status = not request.economic_check_required and (
        request.direct_payment or not request.requires_application or request.application_received)
    if entitled_by_status:
        how = ("paid directly (直接给予)" if request.direct_payment
               else "paid on the person's application with no check needed (不再进行家庭经济状况核查)"
               if request.application_received else "issued to enrolled recipients (发放)")
        return ApprovalOutcome(decision="approved", tier="township", decided_by=TOWNSHIP_AUTO,
                               reason=f"measure {request.measure} is {how}: entitled by status, no "
                                      "application, check or appraisal", **common)
    inclusive = lib.township_limit_inclusive(request.region_code, request.business_date)
    bound = "up to and including" if inclusive else "under"
    if within:
        within_why = (f"{request.amount_fen} fen is within the township limit ({bound} {limit} fen): "
                      "approved by the township on the county's behalf, paid from its reserve")
        return ApprovalOutcome(decision="approved", tier="township", decided_by=TOWNSHIP_AUTO,
                               reason=within_why, pay_from="township_reserve", **common)
    why = ("no township limit in the policy pack" if limit is None
           else f"{request.amount_fen} fen is not within the township limit ({bound} {limit} fen)")
    return ApprovalOutcome(decision="needs_county", tier="county", decided_by="pending",
                           reason=f"county approval required: {why}", **common)
