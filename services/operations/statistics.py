"""The monthly statistics report (月度救助统计表) by region and category, shaped like the figures the
notices publish (seed 000: 城乡低保对象、特困人员 …万人; 一次性生活补贴 …万元; 价格临时补贴 …万元、惠及 …万人次;
临时救助 …万人次、支出救助金 …亿元): for each county and category the households and people on the roster
(在册户数、在册人数: 低保 split 城市/农村, 特困) and the month's payments (发放人次, 发放户数, 发放人数, 支出),
a subtotal per county, a total per category over the region, and a grand total.

Where each figure comes from: the roster from intake (``/api/registry/recipients``), the payments from
payment's ledger (``/api/ledger/summary``, disbursements written in the month, Beijing time). The ledger
does not know whether a dibao household is urban or rural: its dibao rows per household
(``/api/ledger/household-sums.csv``) are merged with the registry's areas (``/api/registry/areas.csv``),
both streamed in household-id byte order, so nothing the size of a province is held in memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.operations.export_sheets import Row, Yuan
from services.operations.records_client import RecordsClient
from shared.auth import Principal
from shared.contracts.records import Area, HouseholdSum, MeasureSum, RecipientCount
from shared.regions import region_name

HEADERS = ["月份", "地区代码", "地区名称", "类别", "在册户数", "在册人数", "发放人次", "发放户数", "发放人数",
           "支出（元）"]
COUNTY_DIGITS = 6

URBAN_DIBAO, RURAL_DIBAO, DIBAO_NO_AREA = "城市低保", "农村低保", "低保（城乡未登记）"
EXTREME_POVERTY, TEMPORARY, OTHER = "特困人员", "临时救助", "其他救助"
ONE_TIME, PRICE = "一次性生活补贴", "价格临时补贴"
# the order of the report's rows; a category that is empty everywhere and not in ALWAYS is left out
CATEGORIES = (URBAN_DIBAO, RURAL_DIBAO, DIBAO_NO_AREA, EXTREME_POVERTY, TEMPORARY, ONE_TIME, PRICE, OTHER)
ALWAYS = (URBAN_DIBAO, RURAL_DIBAO, EXTREME_POVERTY, TEMPORARY, ONE_TIME, PRICE)
SUBTOTAL, TOTAL, GRAND_TOTAL = "小计", "合计", "总计"

# 临时救助 as the notices count it: every temporary-assistance measure, the epidemic's (因疫) and the
# unemployed's and graduates' (对失业或未就业人员) included (seed 000)
TEMPORARY_MEASURES = frozenset({
    "quarantine", "covid_diagnosis", "job_loss", "graduate", "medical_self_pay", "disaster_assistance",
    "temporary_assistance_individual", "temporary_assistance_emergency_household",
    "temporary_assistance_expenditure_household", "temporary_assistance_emergency",
    "temporary_assistance_expenditure", "temporary_hardship_high_risk_area"})
MEASURE_CATEGORY = {"extreme_poverty": EXTREME_POVERTY, "one_time_living_subsidy": ONE_TIME, "price_linkage": PRICE,
                    **{m: TEMPORARY for m in TEMPORARY_MEASURES}}


@dataclass
class Tally:
    roster_households: int = 0
    roster_persons: int = 0
    payments: int = 0
    paid_households: int = 0
    paid_persons: int = 0
    amount_fen: int = 0

    def add(self, other: Tally) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def empty(self) -> bool:
        return not any(vars(self).values())


@dataclass
class ReportRow:
    region_code: str   # a county code; for the totals, the report's region (or 全部)
    category: str      # a category, 小计 (a county's), 合计 (a category's over the region) or 总计
    tally: Tally


def sheet_row(month: str, r: ReportRow) -> Row:
    t = r.tally
    return [month, r.region_code, region_name(r.region_code) or "", r.category, t.roster_households,
            t.roster_persons, t.payments, t.paid_households, t.paid_persons, Yuan(t.amount_fen)]


async def monthly_report(client: RecordsClient, principal: Principal, month: str, prefix: str) -> list[ReportRow]:
    params = {"month": month, "region_prefix": prefix, "level": str(COUNTY_DIGITS)}
    sums = await client.typed_list(MeasureSum, f"{client.payment_url}/api/ledger/summary", principal,
                                   "支付台账 / the ledger", params=params)
    roster = await client.typed_list(RecipientCount, f"{client.intake_url}/api/registry/recipients", principal,
                                     "低保特困名册 / the roster", params=params)
    by_county: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
    for s in sums:
        if s.measure == "dibao":
            continue  # split by area below
        by_county[s.region_code][MEASURE_CATEGORY.get(s.measure, OTHER)].add(
            Tally(payments=s.payments, paid_households=s.households, paid_persons=s.persons, amount_fen=s.amount_fen))
    for r in roster:
        category = EXTREME_POVERTY if r.kind == "extreme_poverty" else URBAN_DIBAO if r.urban else RURAL_DIBAO
        by_county[r.region_code][category].add(Tally(roster_households=r.households, roster_persons=r.persons))
    async for county, category, tally in _dibao_by_area(client, principal, month, prefix):
        by_county[county][category].add(tally)
    return layout(by_county, prefix)


async def _dibao_by_area(client: RecordsClient, principal: Principal, month: str,
                         prefix: str) -> AsyncIterator[tuple[str, str, Tally]]:
    """Each household's dibao of the month with its area: the two streams merged by household id."""
    paid = client.rows(HouseholdSum, f"{client.payment_url}/api/ledger/household-sums.csv", principal,
                       "支付台账 / the ledger", {"month": month, "region_prefix": prefix, "measures": "dibao"})
    areas = client.rows(Area, f"{client.intake_url}/api/registry/areas.csv", principal, "户籍登记 / the registry",
                        {"region_prefix": prefix})
    area = await anext(areas, None)
    try:
        async for s in paid:
            while area is not None and area.household_id < s.household_id:
                area = await anext(areas, None)
            if area is not None and area.household_id == s.household_id:
                category = URBAN_DIBAO if area.urban else RURAL_DIBAO
            else:  # paid as dibao, but the registry of the region has no such household
                category = DIBAO_NO_AREA
            yield s.county_code, category, Tally(payments=s.payments, paid_households=1, paid_persons=s.persons,
                                                 amount_fen=s.amount_fen)
    finally:
        await areas.aclose()


def layout(by_county: dict[str, dict[str, Tally]], prefix: str) -> list[ReportRow]:
    """Counties in code order, each with its categories and 小计; then each category's 合计; then 总计."""
    present = [c for c in CATEGORIES if c in ALWAYS or any(not t[c].empty() for t in by_county.values() if c in t)]
    rows: list[ReportRow] = []
    totals: dict[str, Tally] = defaultdict(Tally)
    for county in sorted(by_county):
        subtotal = Tally()
        for category in present:
            tally = by_county[county].get(category, Tally())
            rows.append(ReportRow(county, category, tally))
            subtotal.add(tally)
            totals[category].add(tally)
        rows.append(ReportRow(county, SUBTOTAL, subtotal))
    region = prefix or "全部"  # 全部: the whole province-wide jurisdiction
    grand = Tally()
    for category in present:
        rows.append(ReportRow(region, f"{TOTAL}：{category}", totals[category]))
        grand.add(totals[category])
    rows.append(ReportRow(region, GRAND_TOTAL, grand))
    return rows
