"""How the office's records show money, time and names: yuan with two decimals from integer fen (no float
anywhere in the conversion), Beijing time, pathway and measure names in Chinese."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared.contracts import pathways

BEIJING = ZoneInfo("Asia/Shanghai")

# the measures' names as the notices write them (seed 000: 低保、特困、临时救助、一次性生活补贴、价格临时补贴)
MEASURE_ZH: dict[str, str] = {
    "dibao": "最低生活保障（低保）",
    "extreme_poverty": "特困人员救助供养",
    "quarantine": "临时救助（隔离收治）",
    "covid_diagnosis": "临时救助（新冠肺炎确诊）",
    "job_loss": "临时救助（未参保失业人员）",
    "graduate": "临时救助（未就业大中专毕业生）",
    "medical_self_pay": "临时救助（因病支出型）",
    "temporary_assistance_individual": "临时救助（个人对象）",
    "temporary_assistance_emergency_household": "临时救助（急难型家庭）",
    "temporary_assistance_expenditure_household": "临时救助（支出型家庭）",
    "temporary_assistance_emergency": "临时救助（急难型）",
    "temporary_assistance_expenditure": "临时救助（支出型）",
    "temporary_hardship_high_risk_area": "临时救助（疫情中高风险地区）",
    "disaster_assistance": "临时救助（受灾群众先行救助）",
    "one_time_living_subsidy": "一次性生活补贴",
    "price_linkage": "价格临时补贴",
}
LEDGER_KIND_ZH = {"disbursement": "发放", "recovery_claim": "追回", "reserve_credit": "备用金拨入"}


def yuan_text(fen: int) -> str:
    """Integer fen as yuan with two decimals, no separators: 195000 -> "1950.00", -5 -> "-0.05"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def yuan_decimal(fen: int) -> Decimal:
    """The same amount as an exact decimal (a spreadsheet's number cell), built from the text, not a float."""
    return Decimal(yuan_text(fen))


def beijing_text(at: datetime | None) -> str:
    """``2026-12-01 20:30:05`` in Beijing time; empty for no time."""
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if at is not None else ""


def pathway_zh(name: str | None) -> str:
    if not name:
        return ""
    try:
        return pathways.PATHWAYS[pathways.canonical(name)].label_zh
    except KeyError:
        return name


def measure_zh(measure: str | None) -> str:
    return MEASURE_ZH.get(measure or "", measure or "")
