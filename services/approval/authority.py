"""Tiered authority (审批权限): what the township may approve on its own.

The numbers come from the policy packs (e.g. Xinjiang, seed 000: applications under 2,000 yuan are
approved by the township on the county's behalf). A measure paid to enrolled recipients by their
status, with no application and no economic check ("直接给予" / "发放", seed 002), needs no human
approval; anything that needs a check or exceeds the township's authority goes to the county.
"""

from __future__ import annotations

from shared.contracts.activities import ApprovalOutcome, ApprovalRequest
from shared.policy import load_library

TOWNSHIP_AUTO = "system:township-authority"


def township_decision(request: ApprovalRequest) -> ApprovalOutcome:
    limit = load_library().township_limit_fen(request.region_code, request.business_date)
    common = dict(case_id=request.case_id, amount_fen=request.amount_fen, township_limit_fen=limit)
    entitled_by_status = not request.economic_check_required and (
        request.direct_payment or not request.requires_application or request.application_received)
    if entitled_by_status:
        how = ("paid directly (直接给予)" if request.direct_payment
               else "paid on the person's application with no check needed (不再进行家庭经济状况核查)"
               if request.application_received else "issued to enrolled recipients (发放)")
        return ApprovalOutcome(decision="approved", tier="township", decided_by=TOWNSHIP_AUTO,
                               reason=f"measure {request.measure} is {how}: entitled by status, no application, "
                                      "check or appraisal", **common)
    if limit is not None and request.amount_fen < limit:
        return ApprovalOutcome(decision="approved", tier="township", decided_by=TOWNSHIP_AUTO,
                               reason=f"{request.amount_fen} fen is under the township limit of {limit} fen: "
                                      "approved by the township on the county's behalf, paid from its reserve",
                               pay_from="township_reserve", **common)
    why = "no township limit in the policy pack" if limit is None else f"{request.amount_fen} fen is not under the township limit of {limit} fen"
    return ApprovalOutcome(decision="needs_county", tier="county", decided_by="pending",
                           reason=f"county approval required: {why}", **common)
