"""A case's timeline in words (时间线): each entry's message code and parameters, rendered in Chinese and English.

The projection (services/operations/projection.py) takes a message code and its parameters from the domain
event's structured fields (``message_of``), never from the workflow's free-text note; the case view renders
them here (``render``), so the words can change without re-projecting anything:

- amounts are integer fen in the parameters and shown in yuan: 「1,950.00 元」, "¥1,950.00";
- times are shown in Beijing time (Asia/Shanghai), the offices' clock, whatever zone the event carried;
- a code this table does not know (an older entry, a new event) falls back to the existing note, its fen and
  UTC times put in yuan and Beijing time as well.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts import pathways

BEIJING = ZoneInfo("Asia/Shanghai")

Params = Mapping[str, Any]

# 案件状态 / the case's status
STATUS: Mapping[str, tuple[str, str]] = {
    "open": ("办理中", "In progress"),
    "awaiting_decision": ("待决定", "Awaiting a decision"),
    "paid": ("已发放", "Paid"),
    "closed": ("已结案", "Closed"),
}

# 环节 / the step a workflow reported (a step not listed here is shown by its key)
STAGES: Mapping[str, tuple[str, str]] = {
    "opened": ("已立案", "opened"),
    "application_received": ("已受理申请", "application received"),
    "checked": ("已完成核对", "checked"),
    "check_waived": ("免于核对", "check waived"),
    "awaiting_documents": ("等待补充材料", "awaiting documents"),
    "documents_received": ("已收到材料", "documents received"),
    "awaiting_assessment": ("待核定金额", "awaiting the assessment"),
    "assessed": ("已核定", "assessed"),
    "assessed_by_caseworker": ("经办人员已核定金额", "amount assessed by the caseworker"),
    "dossier_assembled": ("审批材料已汇总", "dossier assembled"),
    "awaiting_approval": ("待审批", "awaiting approval"),
    "awaiting_county_decision": ("待县级审批", "awaiting the county's decision"),
    "collecting_opinions": ("征求委员会意见", "collecting the committee's opinions"),
    "referred_to_committee": ("提交协调机制（一事一议）", "referred to the committee"),
    "found_ineligible": ("经核不符合条件", "found ineligible"),
    "approved": ("已批准", "approved"),
    "planned": ("已拟定发放计划", "payment plan made"),
    "staged_plan": ("分期发放计划", "staged payment plan"),
    "paying": ("发放中", "paying"),
    "installment_paid": ("分期已发放", "installment paid"),
    "paid": ("已发放", "paid"),
    "period_paid": ("当期已发放", "period paid"),
    "standard_back_paid": ("提标补发已发放", "raised standard back-paid"),
    "waiting_for_reserve": ("等待备用金", "waiting for the reserve"),
    "waiting_for_condition": ("等待条件满足", "waiting for a condition"),
    "enrolled": ("已纳入保障", "enrolled"),
    "review_opened": ("开始复核", "review opened"),
    "review_repriced": ("复核调整金额", "review repriced"),
    "exit_suspended": ("暂停退出", "exit suspended"),
    "outreach": ("主动发现", "outreach"),
    # the enrolment duties (workflows/enrolment_duties)
    "awaiting_home_visit": ("待入户调查", "awaiting the home visit"),
    "home_visited": ("已入户调查", "home visited"),
    "home_visit_overdue": ("入户调查逾期", "home visit overdue"),
    "awaiting_democratic_appraisal": ("待民主评议", "awaiting the democratic appraisal"),
    "appraised": ("已民主评议", "democratic appraisal held"),
    "democratic_appraisal_overdue": ("民主评议逾期", "democratic appraisal overdue"),
    "appraisal_skipped": ("无争议，不再进行民主评议", "undisputed: no democratic appraisal"),
    "public_notice": ("张榜公示中", "on public notice"),
    "notice_objected": ("公示期间有异议，重新核查", "objection during the notice: checked again"),
    "notice_clean": ("公示期满无异议", "notice ended without objection"),
    "closed": ("已结案", "closed"),
}

# 结案结果 / how a case ended
OUTCOMES: Mapping[str, tuple[str, str]] = {
    "paid": ("已发放", "paid"),
    "approved": ("已批准", "approved"),
    "rejected": ("不予批准", "refused"),
    "refused": ("不予批准", "refused"),
    "terminated": ("终止", "terminated"),
    "not_payable": ("不予发放", "not payable"),
    "handed_back": ("退回", "handed back"),
    "withdrawn": ("撤回", "withdrawn"),
}

# 上报 / whom a case was escalated to
ESCALATED_TO: Mapping[str, tuple[str, str]] = {
    "county": ("县级", "the county"),
    "prefecture": ("市级", "the prefecture"),
    "committee": ("协调机制（一事一议）", "the committee"),
}


def yuan_zh(fen: int) -> str:
    """Integer fen as 「1,950.00 元」 (integer arithmetic: no float touches money)."""
    sign, fen = ("-", -fen) if fen < 0 else ("", fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d} 元"


def yuan_en(fen: int) -> str:
    """Integer fen as "¥1,950.00"."""
    sign, fen = ("-", -fen) if fen < 0 else ("", fen)
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


def beijing(at: datetime | str | None) -> str:
    """A time as Beijing time, to the minute (a naive time is taken as UTC, as the database stores it)."""
    if at is None:
        return ""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo("UTC"))
    return when.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _label(table: Mapping[str, tuple[str, str]], key: Any, lang: int) -> str:
    return table.get(str(key), (str(key), str(key)))[lang] if key is not None else ""


def _pathway(name: Any, lang: int) -> str:
    zh_en = pathways.labels().get(str(name))
    return (zh_en[lang] if zh_en else str(name)) if name else ""


def _amount(p: Params, key: str, lang: int, zh: str, en: str) -> str:
    fen = p.get(key)
    if not isinstance(fen, int) or isinstance(fen, bool):
        return ""
    return zh.format(yuan_zh(fen)) if lang == 0 else en.format(yuan_en(fen))


# ---- the codes -------------------------------------------------------------------------------------------

def _opened(p: Params, lang: int) -> str:
    return f"立案：{_pathway(p.get('pathway'), 0)}" if lang == 0 else f"Case opened: {_pathway(p.get('pathway'), 1)}"


def _updated(p: Params, lang: int) -> str:
    status, stage = _label(STATUS, p.get("status"), lang), _label(STAGES, p.get("stage"), lang)
    amount = _amount(p, "approved_amount_fen", lang, "，金额 {}", ", amount {}")
    return f"{status}：{stage}{amount}" if lang == 0 else f"{status}: {stage}{amount}"


def _escalated(p: Params, lang: int) -> str:
    to = _label(ESCALATED_TO, p.get("escalated_to"), lang)
    stage = _label(STAGES, p.get("stage"), lang)
    if lang == 0:
        return f"已上报{to}决定（{stage}）" if to else f"已上报（{stage}）"
    return f"Escalated to {to} ({stage})" if to else f"Escalated ({stage})"


def _closed(p: Params, lang: int) -> str:
    outcome = _label(OUTCOMES, p.get("outcome"), lang)
    amount = _amount(p, "approved_amount_fen", lang, "，核准金额 {}", ", approved amount {}")
    return f"结案：{outcome}{amount}" if lang == 0 else f"Closed: {outcome}{amount}"


def _stalled(p: Params, lang: int) -> str:
    reason = humanise_note(str(p.get("reason") or ""))
    return f"案件停滞：{reason}" if lang == 0 else f"Stalled: {reason}"


def _disbursed(p: Params, lang: int) -> str:
    amount = _amount(p, "amount_fen", lang, "{}", "{}")
    installment, payment, at = p.get("installment", 1), p.get("payment_id", ""), beijing(p.get("paid_at"))
    if lang == 0:
        return f"已发放 {amount}（第 {installment} 期，{payment}），北京时间 {at}"
    return f"Paid {amount} (installment {installment}, {payment}) at {at} Beijing time"


def _recovery(p: Params, lang: int) -> str:
    amount = _amount(p, "amount_fen", lang, "{}", "{}")
    return f"已立案追回 {amount}" if lang == 0 else f"Recovery opened: {amount}"


def _batch(p: Params, lang: int) -> str:
    count, amount = p.get("paid_count", 0), _amount(p, "paid_fen", lang, "{}", "{}")
    status = _label(STATUS, p.get("status"), lang)
    if lang == 0:
        return f"批量发放（{status}）：已发放 {count} 笔，共 {amount}"
    return f"Batch subsidy ({status}): {count} payments, {amount} in all"


# 转介 (services/operations/referrals.py writes these entries with their parameters)
REFERRAL_TO: Mapping[str, tuple[str, str]] = {
    "department": ("部门", "department"), "charity_organisation": ("慈善组织", "charity organisation"),
    "social_worker": ("社会工作者", "social worker"), "volunteer": ("志愿服务组织", "volunteer service")}
REFERRAL_SERVICE: Mapping[str, tuple[str, str]] = {
    "charity_aid": ("慈善帮扶", "charity aid"), "social_work": ("社会工作服务", "social work"),
    "volunteer_service": ("志愿服务", "volunteer service"),
    "identity_and_family_tracing": ("身份查询和寻亲", "identity check and family tracing"),
    "medical_aid": ("医疗救助", "medical aid"), "education_aid": ("教育救助", "education aid"),
    "housing_aid": ("住房救助", "housing aid"), "employment_service": ("就业服务", "employment service"),
    "other": ("其他", "other")}
REFERRAL_OUTCOME: Mapping[str, tuple[str, str]] = {
    "helped": ("已帮扶", "helped"), "declined": ("对方未接收", "declined"), "unreachable": ("无法联系", "unreachable"),
    "family_found": ("寻亲成功", "family found"), "transferred": ("已转其他机构", "transferred")}


def _referred(p: Params, lang: int) -> str:
    kind, service = _label(REFERRAL_TO, p.get("to_kind"), lang), _label(REFERRAL_SERVICE, p.get("service"), lang)
    name, due, days, reason = p.get("to_name", ""), beijing(p.get("due_at")), p.get("days"), p.get("reason", "")
    if lang == 0:
        return f"转介至{kind}「{name}」（{service}），原因：{reason}；应于北京时间 {due} 前反馈（{days} 天）"
    return f"Referred to {kind} {name} ({service}): {reason}; outcome due {due} Beijing time ({days} days)"


def _referral_outcome(p: Params, lang: int) -> str:
    outcome, name, note = _label(REFERRAL_OUTCOME, p.get("outcome"), lang), p.get("to_name", ""), p.get("note", "")
    return f"转介结果（{name}）：{outcome}。{note}" if lang == 0 else f"Referral outcome from {name}: {outcome}. {note}"


def _referral_overdue(p: Params, lang: int) -> str:
    name, due = p.get("to_name", ""), beijing(p.get("due_at"))
    if lang == 0:
        return f"转介至「{name}」逾期未反馈（应于北京时间 {due} 前）"
    return f"Referral to {name} overdue (due {due} Beijing time)"


RENDERERS: Mapping[str, Callable[[Params, int], str]] = {
    "case.opened": _opened,
    "case.updated": _updated,
    "case.escalated": _escalated,
    "case.closed": _closed,
    "case.stalled": _stalled,
    "payment.disbursed": _disbursed,
    "payment.recovery_opened": _recovery,
    "payment.batch_progress": _batch,
    "referral.created": _referred,
    "referral.outcome": _referral_outcome,
    "referral.overdue": _referral_overdue,
}

# the structured fields each code takes from its event (never the free-text note, except a stall's reason)
PARAMS: Mapping[str, tuple[str, ...]] = {
    "case.opened": ("pathway", "status", "stage"),
    "case.updated": ("status", "stage", "approved_amount_fen"),
    "case.escalated": ("status", "stage", "escalated_to"),
    "case.closed": ("outcome", "approved_amount_fen"),
    "case.stalled": ("reason",),
    "payment.disbursed": ("amount_fen", "installment", "payment_id", "paid_at"),
    "payment.recovery_opened": ("amount_fen", "payment_id"),
    "payment.batch_progress": ("status", "paid_count", "paid_fen", "chunks_done"),
}


def message_of(event: str, data: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The message code and parameters of a domain event (``event`` = its subject without ``doudi.``)."""
    keys = PARAMS.get(event, ())
    params = {k: data[k] for k in keys if data.get(k) is not None}
    if event == "case.stalled" and "reason" not in params and data.get("note"):
        params["reason"] = data["note"]
    return event, params


def render(code: str | None, params: Params | None, note: str) -> tuple[str, str]:
    """(text_zh, text_en) of a timeline entry; an unknown code (or none) falls back to the note."""
    renderer = RENDERERS.get(code or "")
    if renderer is None:
        text = humanise_note(note)
        return text, text
    return renderer(params or {}, 0), renderer(params or {}, 1)


_FEN = re.compile(r"(?<![\w.])(-?[0-9]{1,18}) fen\b")
_UTC_TIME = re.compile(r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|\+00:00)")


def humanise_note(note: str) -> str:
    """A workflow's note with its amounts in yuan and its UTC times in Beijing time."""
    note = _FEN.sub(lambda m: yuan_en(int(m.group(1))), note)
    return _UTC_TIME.sub(lambda m: f"{beijing(m.group(0).replace('Z', '+00:00'))} (Beijing time)", note)
