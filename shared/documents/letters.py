"""The decision letter (决定书) and the approval form (审批表) as PDF, in Chinese.

Rendered with reportlab's built-in CID font ``STSong-Light`` (no font file shipped: every PDF reader has
it, and text extraction reads the Chinese back). Amounts are printed in yuan from integer fen
(``records.yuan``), never through a float.
"""

from __future__ import annotations

from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from shared.documents.records import DecisionRecord, yuan

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

TITLE = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, alignment=1)
BODY = ParagraphStyle("body", fontName=FONT, fontSize=11, leading=17)
CELL = ParagraphStyle("cell", fontName=FONT, fontSize=10, leading=14)

PATHWAY_ZH: dict[str, str] = {
    "renewal": "最低生活保障", "emergency_relief": "急难救助", "one_off_assistance": "一次性救助",
    "staged_aid": "分阶段救助", "one_matter": "一事一议", "batch_subsidy": "一次性生活补贴",
    # an enrolment's review decisions (services/intake/review_decisions.py) name the enrolment's kind
    "dibao": "最低生活保障", "extreme_poverty": "特困人员救助供养",
}


def _p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(text), style)


def _rule_text(r: DecisionRecord) -> str:
    pack = f"{r.rule.pack_id}@{r.rule.pack_version}" if r.rule.pack_id else "—"
    return f"{r.rule.measure}（{pack}）依据：{r.rule.citation}"


def _amount_text(r: DecisionRecord) -> str:
    text = f"{yuan(r.amount_fen)} 元"
    if r.policy_amount_fen is not None and r.policy_amount_fen != r.amount_fen:
        # a dibao (or 特困) level is monthly
        monthly = "/月" if r.pathway in ("renewal", "benefit_cycle", "dibao", "extreme_poverty") else ""
        text += f"（按政策计算 {yuan(r.policy_amount_fen)} 元{monthly}）"
    return text


def _render(title: str, story: list[Flowable]) -> bytes:
    out = BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=20 * mm,
                            bottomMargin=20 * mm, title=title, author="doudi 兜底")
    doc.build([_p(title, TITLE), Spacer(1, 8 * mm), *story])
    return out.getvalue()


def decision_letter(r: DecisionRecord) -> bytes:
    """决定书: to the applicant, the outcome with its reason, the amount, the rule, who decided, and how and by
    when to ask for 复核 or to 申诉."""
    kind = PATHWAY_ZH.get(r.pathway, r.pathway)
    story: list[Flowable] = [
        _p(f"案件编号：{r.case_id}"),
        _p(f"事项：{kind}（{r.region_code}）"),
        Spacer(1, 4 * mm),
        _p(f"经审核，决定：{r.outcome_zh}。"),
        _p(f"理由：{r.reason or '—'}"),
        _p(f"金额：{_amount_text(r)}"),
        _p(f"政策依据：{_rule_text(r)}"),
        _p(f"决定人：{r.decided_by}" + (f"（{r.decided_role}）" if r.decided_role else "")),
        _p(f"决定日期：{r.decided_on.isoformat()}"),
        Spacer(1, 4 * mm),
        _p("复核与申诉：" + r.remedies.how_zh),
        _p(f"复核申请截止日期：{r.remedies.reconsideration_deadline.isoformat()}"),
    ]
    if r.remedies.local_practice:
        story.append(_p("（上述期限中未见于政策原文者为本地惯例：" + "、".join(r.remedies.local_practice) + "）"))
    return _render("社会救助决定书", story)


def approval_form(r: DecisionRecord) -> bytes:
    """审批表: the case's decision as the file keeps it, one row per field."""
    rows = [
        ("案件编号", r.case_id), ("救助类别", PATHWAY_ZH.get(r.pathway, r.pathway)), ("行政区划", r.region_code),
        ("审批结果", r.outcome_zh), ("金额", _amount_text(r)), ("理由", r.reason or "—"),
        ("政策依据", _rule_text(r)), ("审批人", r.decided_by + (f"（{r.decided_role}）" if r.decided_role else "")),
        ("审批日期", r.decided_on.isoformat()),
        ("复核期限", f"{r.remedies.reconsideration_days}日内（{r.remedies.reconsideration_deadline.isoformat()}前）"),
        ("申诉", f"服务热线、监督投诉电话，{r.remedies.complaint_answer_days}日内答复"),
    ]
    if r.appeal_id:
        rows.append(("复核案件", r.appeal_id))
    table = Table([[_p(k, CELL), _p(v, CELL)] for k, v in rows], colWidths=[35 * mm, 135 * mm])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, "#444444"), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return _render("社会救助审批表", [table])
