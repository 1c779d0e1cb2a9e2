"""The economic status check's rule (家庭经济状况核对): pure, deterministic, no I/O.

The activity (``checks.py``) gathers what every department source reports about every household
member and resolves the policy figures; this module decides. The rule, in order:

1. **Verified income** = the sum, over every member, of the monthly income the sources report as in
   force on the business date: wages, unemployment-insurance benefit, basic pension
   (人力资源和社会保障部门).
2. **Counted income** = the larger of the household's declared monthly income and the verified income.
   The declaration can hold income no department sees (informal work, support from relatives); the
   departments can hold income the household did not declare. Taking the larger never under-counts,
   and not adding them never counts a declared wage twice.
3. **Employment-cost deduction** (就业成本扣减): only where the pack in force sets
   ``employment_cost_deduction_ratio`` (Jiangxi, seed 001: 30% of the monthly dibao standard): for every
   member with a verified wage, subtract ratio x standard (rounded half up, at most that member's wage).
   Counted income never goes below zero. Rigid expenditure (medical self-pay, 刚性支出) is reported but
   not deducted automatically: seed 002 deducts it where the burden is "too heavy" (负担过重), a
   caseworker's judgement.
4. **Per-capita income** = counted income / household size, the size being the larger of the declared
   size and the number of members the sources were asked about (at least 1). The comparison is exact in
   integer fen: income qualifies only when ``counted < standard x size``, i.e. per-capita income is
   strictly **under** the standard ("家庭人均收入低于当地最低生活保障标准", seed 004 item 4); equal to the
   standard is not under it. The reported per-capita figure is rounded down to the fen.
5. **Standard**: urban households ``dibao_urban_monthly_fen``, rural ``dibao_rural_monthly_fen``, as the
   packs resolve them for the region on the business date. When no pack configures it (e.g. XPCC, whose
   standard the division sets), ``limit_fen_per_capita`` is None, income is not compared, a reason says
   so, and the outcome is "eligible" only if no asset disqualifies.
6. **Assets** ("符合财产状况规定", seed 004 item 4; the seeds fix no numbers, see ``LOCAL_PRACTICE``):
   ineligible when the household holds more properties than allowed; any vehicle (other than the
   exempt kinds) assessed above the limit; or financial assets above N months of the standard per
   person (only assessable with a configured standard). A vehicle without an assessed value is reported
   for the caseworker, never disqualifying on its own.
7. Low-income database inclusion, rural-revitalisation certification, disability certificates and
   unemployment-insurance coverage are reported, never disqualifying.

Outcome: "eligible" when income qualifies (or no standard is configured) and no asset disqualifies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from services.verification.sources.base import AssetItem, ExpenditureItem, FlagItem, IncomeItem
from shared.contracts.identity import mask_national_id

# ---- Asset limits: LOCAL PRACTICE, pending policy-pack figures ----------------------------------------
# None of the five seeds gives a number for the property rule (财产状况规定): seed 004 item 4 only says
# the household must "符合财产状况规定" and leaves the rule to local regulation. These values are common
# county practice, used ONLY until a pack in force sets the figure named in the comment (the activity
# looks each one up by that name and prefers the pack's value; the reason says which one applied).
LOCAL_PRACTICE_MAX_PROPERTIES = 1                  # pack figure: asset_max_properties (unit: count)
LOCAL_PRACTICE_VEHICLE_VALUE_LIMIT_FEN = 5_000_000  # 50,000 yuan; pack figure:
#                                                    asset_vehicle_value_limit_fen (unit: fen)
LOCAL_PRACTICE_FINANCIAL_MONTHS = 24               # x monthly standard per person; pack figure:
#                                                    asset_financial_months_of_standard (unit: months)
# Vehicles that never count (production tools and mobility aids in local practice; no pack figure yet).
EXEMPT_VEHICLE_KINDS = frozenset({"motorcycle", "disability_mobility", "agricultural"})

LOCAL_PRACTICE = "local practice, pending pack figure"

Outcome = Literal["eligible", "ineligible"]


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d} yuan"


@dataclass(frozen=True)
class Standard:
    """The dibao standard the check compares with, as the packs resolve it (None: not configured)."""

    figure: str                       # dibao_urban_monthly_fen | dibao_rural_monthly_fen
    monthly_fen: int | None
    area: Literal["urban", "rural"]
    region_code: str
    on: str                           # the business date, ISO
    citation: str = ""                # seed file and quote
    region_name: str = ""             # e.g. Ningxia


@dataclass(frozen=True)
class AssetLimits:
    max_properties: int = LOCAL_PRACTICE_MAX_PROPERTIES
    vehicle_value_limit_fen: int = LOCAL_PRACTICE_VEHICLE_VALUE_LIMIT_FEN
    financial_months_of_standard: int = LOCAL_PRACTICE_FINANCIAL_MONTHS
    # figure name -> where the value came from ("pack: <seed quote>" or LOCAL_PRACTICE)
    basis: Mapping[str, str] = field(default_factory=lambda: {
        "asset_max_properties": LOCAL_PRACTICE,
        "asset_vehicle_value_limit_fen": LOCAL_PRACTICE,
        "asset_financial_months_of_standard": LOCAL_PRACTICE,
    })


@dataclass(frozen=True)
class Findings:
    """What all sources reported for the household, flattened."""

    income: tuple[IncomeItem, ...] = ()
    assets: tuple[AssetItem, ...] = ()
    expenditure: tuple[ExpenditureItem, ...] = ()
    flags: tuple[FlagItem, ...] = ()


@dataclass(frozen=True)
class Assessment:
    outcome: Outcome
    declared_income_fen: int
    verified_income_fen: int
    deductions_fen: int
    counted_income_fen: int           # after deductions: the income compared with the standard
    household_size: int
    per_capita_income_fen: int        # rounded down to the fen
    limit_fen_per_capita: int | None
    income_qualifies: bool | None     # None: no standard to compare with
    disqualifiers: tuple[str, ...]
    reasons: tuple[str, ...]


def income_under_standard(household_income_fen: int, household_size: int, standard_fen: int) -> bool:
    """Per-capita income strictly under the standard, exactly: income / size < standard."""
    if household_size < 1:
        raise ValueError("household_size must be at least 1")
    return household_income_fen < standard_fen * household_size


def _who(person_id: str) -> str:
    return mask_national_id(person_id)


def _dept(item: IncomeItem | AssetItem | ExpenditureItem | FlagItem) -> str:
    """e.g. "human resources and social security 人力资源和社会保障部门 (hrss)"."""
    english = f"{item.department_en} " if item.department_en else ""
    return f"{english}{item.department_zh} ({item.source})"


def _basis(limits: AssetLimits, figure: str) -> str:
    """``[figure: where its value came from]``, appended to an asset rule that disqualifies."""
    return f"[{figure}: {limits.basis.get(figure, LOCAL_PRACTICE)}]"


def _income_text(items: Iterable[IncomeItem]) -> str:
    by_dept: dict[str, list[str]] = defaultdict(list)
    for i in items:
        kind = i.kind.replace("_", " ")
        by_dept[_dept(i)].append(f"{kind} {yuan(i.monthly_fen)} ({_who(i.person_id)}, {i.detail})")
    return "; ".join(f"{dept}: {', '.join(parts)}" for dept, parts in by_dept.items())


def _standard_label(standard: Standard) -> str:
    region = f"{standard.region_name} " if standard.region_name else ""
    return f"the {region}{standard.area} dibao standard ({standard.figure})"


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


class _Verdicts:
    """The reasons in the order the rule reaches them; a reason that disqualifies is also a disqualifier."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.disqualifiers: list[str] = []

    def note(self, reason: str) -> None:
        self.reasons.append(reason)

    def judge(self, qualifies: bool, reason: str) -> None:
        self.reasons.append(reason)
        if not qualifies:
            self.disqualifiers.append(reason)

    def limit(self, text: str, exceeded: bool, rule: str, within: str) -> None:
        """An asset against its limit: ``rule`` says why it disqualifies, ``within`` that it does not."""
        self.judge(not exceeded, f"{text}{rule if exceeded else within}")


@dataclass(frozen=True)
class _Income:
    declared: int
    verified: int
    deductions: int
    counted: int                      # after deductions
    size: int

    @property
    def per_capita(self) -> int:
        return self.counted // self.size

    def text(self) -> str:
        return f"per-capita income {yuan(self.per_capita)}/month ({yuan(self.counted)} / {self.size} persons)"


# ---- steps 1-2: verified and counted income -------------------------------------------------------

def _counted_income(declared: int, findings: Findings, v: _Verdicts) -> tuple[int, int]:
    """(verified, counted): the larger of the declared and the verified income."""
    verified = sum(i.monthly_fen for i in findings.income)
    counted = max(declared, verified)
    if findings.income:
        found_text = f"found {yuan(verified)}/month: {_income_text(findings.income)}"
    else:
        found_text = "no income found by any department source"
    which = "the declared income" if declared >= verified else "the verified income"
    v.note(f"household income: declared {yuan(declared)}/month; {found_text}; "
           f"counted: {which}, the larger of the two, {yuan(counted)}/month")
    return verified, counted


# ---- step 3: deductions -------------------------------------------------------------------------------

def _employment_cost(findings: Findings, std: int | None, ratio: Decimal | None, citation: str,
                     v: _Verdicts) -> int:
    """就业成本扣减 (pack figure employment_cost_deduction_ratio): ratio x standard per working member,
    at most that member's wage."""
    if ratio is None or ratio <= 0:
        return 0
    if std is None:
        v.note("employment-cost deduction not applied: the dibao standard it is a share of is not configured")
        return 0
    per_worker = _half_up(Decimal(std) * ratio)
    wages: dict[str, int] = defaultdict(int)
    for i in findings.income:
        if i.kind == "wage":
            wages[i.person_id] += i.monthly_fen
    deductions = sum(min(wage, per_worker) for wage in wages.values())
    if wages:
        v.note(f"employment-cost deduction (就业成本扣减): {ratio} x {yuan(std)} = {yuan(per_worker)} "
               f"for each of {len(wages)} working member(s), {yuan(deductions)} in all"
               + (f" ({citation})" if citation else ""))
    return deductions


def _rigid_expenditure(rigid_expenditure_fen: int, remaining: int, v: _Verdicts) -> int:
    """刚性支出扣减, where the policy in force allows it: at most the income left to deduct it from."""
    if rigid_expenditure_fen <= 0:
        return 0
    rigid = min(rigid_expenditure_fen, max(0, remaining))
    v.note(f"rigid-expenditure deduction (刚性支出扣减): {yuan(rigid)}/month, as the policy in force allows")
    return rigid


# ---- step 4: household size -----------------------------------------------------------------------------

def _household_size(household_size: int, members_queried: int, v: _Verdicts) -> int:
    size = max(household_size, members_queried, 1)
    if members_queried > household_size:
        v.note(f"household size taken as {size}: {members_queried} members were checked but the "
               f"request said {household_size}")
    elif members_queried < household_size:
        v.note(f"only {members_queried} of {household_size} household members were checked "
               "(the request named no others)")
    return size


# ---- step 5: compare with the standard (or the low-income line) ------------------------------------------

def _compare_income(income: _Income, standard: Standard, *, compare_income: bool,
                    line_multiple: Decimal | None, line_citation: str, v: _Verdicts) -> bool | None:
    """Whether income qualifies; None when it is not compared (单人保, or no standard configured)."""
    std = standard.monthly_fen
    if not compare_income:
        v.note(f"{income.text()} is not compared with the standard here: a single-person inclusion "
               "(单人保) is decided by the policy against the low-income line")
        return None
    if std is None:
        v.note(f"{_standard_label(standard)} is not configured for region {standard.region_code} on "
               f"{standard.on}; per-capita income {yuan(income.per_capita)}/month was not compared with a "
               "standard, so the outcome rests on the asset checks alone")
        return None
    cite = f"; {standard.citation}" if standard.citation else ""
    if line_multiple is not None:
        # one-off aid to people 生活困难: the low-income (低保边缘) line, a multiple of the standard, compared
        # exactly (counted income < multiple x standard x size, no rounding of the line)
        qualifies = Decimal(income.counted) < line_multiple * std * income.size
        cite += f"; {line_citation}" if line_citation else ""
        line = (f"the low-income line {line_multiple} x {_standard_label(standard)} {yuan(std)} = "
                f"{yuan(_half_up(line_multiple * std))}/month")
    else:
        qualifies = income_under_standard(income.counted, income.size, std)
        line = f"{_standard_label(standard)} {yuan(std)}/month"
    v.judge(qualifies, f"{income.text()} is {'under' if qualifies else 'not under'} {line}{cite}")
    return qualifies


# ---- step 6: assets ---------------------------------------------------------------------------------------

def _properties(findings: Findings, limits: AssetLimits, v: _Verdicts) -> None:
    properties = [a for a in findings.assets if a.kind == "property"]
    if not properties:
        return
    depts = sorted({_dept(a) for a in properties})
    text = (f"{len(properties)} propert{'y' if len(properties) == 1 else 'ies'} held "
            f"({', '.join(depts)}): " + "; ".join(f"{_who(a.person_id)} {a.detail}" for a in properties))
    allowed = limits.max_properties
    v.limit(text, len(properties) > allowed,
            rule=f"; more than the {allowed} allowed {_basis(limits, 'asset_max_properties')}",
            within=f"; within the {allowed} allowed")


def _vehicles(findings: Findings, limits: AssetLimits, v: _Verdicts) -> None:
    vlimit = limits.vehicle_value_limit_fen
    for car in (a for a in findings.assets if a.kind == "vehicle"):
        text = f"vehicle {car.detail} of {_who(car.person_id)} ({_dept(car)})"
        if car.subtype in EXEMPT_VEHICLE_KINDS:
            v.note(f"{text}: {car.subtype} vehicles do not count")
        elif car.value_fen is None:
            v.note(f"{text}: no assessed value; a caseworker must assess it against the {yuan(vlimit)} limit")
        else:
            v.limit(text, car.value_fen > vlimit,
                    rule=(f": assessed above the {yuan(vlimit)} limit "
                          f"{_basis(limits, 'asset_vehicle_value_limit_fen')}"),
                    within=f": within the {yuan(vlimit)} limit")


def _financial(findings: Findings, limits: AssetLimits, std: int | None, size: int, v: _Verdicts) -> None:
    financial = [a for a in findings.assets if a.kind == "financial"]
    if not financial:
        return
    total = sum(a.value_fen or 0 for a in financial)
    text = f"financial assets {yuan(total)} ({', '.join(sorted({_dept(a) for a in financial}))})"
    if std is None:
        v.note(f"{text}: not assessed, the dibao standard the limit is a multiple of is not configured")
        return
    months = limits.financial_months_of_standard
    cap = months * std * size
    v.limit(text, total > cap,
            rule=(f": more than {months} months of the standard for {size} persons ({yuan(cap)}) "
                  f"{_basis(limits, 'asset_financial_months_of_standard')}"),
            within=f": within {months} months of the standard for {size} persons ({yuan(cap)})")


# ---- step 7: reported, never disqualifying ----------------------------------------------------------

def _reported(findings: Findings, v: _Verdicts) -> None:
    for e in findings.expenditure:
        v.note(f"{_dept(e)}: {_who(e.person_id)} {e.detail}; rigid expenditure is reported for the "
               "caseworker, not deducted automatically")
    for f in findings.flags:
        v.note(f"{_dept(f)}: {_who(f.person_id)} {f.detail}")


def _summary(v: _Verdicts, income: _Income, income_ok: bool | None, standard: Standard,
             line_multiple: Decimal | None) -> str:
    if v.disqualifiers:
        return "ineligible: " + " | ".join(v.disqualifiers)
    if income_ok is None:
        return "eligible: nothing disqualifying was found, but the dibao standard is not configured"
    if line_multiple is not None:
        under = f"the low-income line ({line_multiple} x {_standard_label(standard)})"
    else:
        under = f"{_standard_label(standard)} {yuan(standard.monthly_fen or 0)}/month"
    return (f"eligible: per-capita income {yuan(income.per_capita)}/month is under {under} "
            "and no asset disqualifies")


def assess(
    *,
    declared_monthly_income_fen: int,
    household_size: int,
    members_queried: int,
    findings: Findings,
    standard: Standard,
    asset_limits: AssetLimits | None = None,
    employment_cost_ratio: Decimal | None = None,
    employment_cost_citation: str = "",
    rigid_expenditure_fen: int = 0,
    compare_income: bool = True,
    line_multiple: Decimal | None = None,
    line_citation: str = "",
) -> Assessment:
    """Apply the rule (module docstring, steps 1-7) to what the sources found."""
    if declared_monthly_income_fen < 0:
        raise ValueError("declared_monthly_income_fen must not be negative")
    limits = asset_limits or AssetLimits()
    std = standard.monthly_fen
    v = _Verdicts()
    verified, counted = _counted_income(declared_monthly_income_fen, findings, v)
    deductions = _employment_cost(findings, std, employment_cost_ratio, employment_cost_citation, v)
    deductions += _rigid_expenditure(rigid_expenditure_fen, counted - deductions, v)
    size = _household_size(household_size, members_queried, v)
    income = _Income(declared=declared_monthly_income_fen, verified=verified, deductions=deductions,
                     counted=max(0, counted - deductions), size=size)
    income_ok = _compare_income(income, standard, compare_income=compare_income, line_multiple=line_multiple,
                                line_citation=line_citation, v=v)
    _properties(findings, limits, v)
    _vehicles(findings, limits, v)
    _financial(findings, limits, std, income.size, v)
    _reported(findings, v)
    return Assessment(
        outcome="ineligible" if v.disqualifiers else "eligible",
        declared_income_fen=income.declared,
        verified_income_fen=income.verified,
        deductions_fen=income.deductions,
        counted_income_fen=income.counted,
        household_size=income.size,
        per_capita_income_fen=income.per_capita,
        limit_fen_per_capita=std,
        income_qualifies=income_ok,
        disqualifiers=tuple(v.disqualifiers),
        reasons=(_summary(v, income, income_ok, standard, line_multiple), *v.reasons),
    )


# ---- 急难: the sudden event, verified afterwards -------------------------------------------------------
# Seed 004 item 2 gives 急难 aid 「对遭遇突发事件、意外伤害、重大疾病，受传染病疫情等
# 突发公共卫生事件影响…导致基本生活暂时陷入困境的家庭或个人」; seed 003 「对受到灾害影响,
# 导致基本生活出现困难的家庭和个人…直接实施临时救助」; the check after an assist-first payment
# is 「先行救助，后补齐说明」 (seed 002) / 「事后补充说明情况」 (seed 004). So what is verified is the
# event, not the household's income against the dibao line: the aid stands when the event is attested, by
# the agency whose report opened the case or by a document that attests this kind of event.

EVENT_EVIDENCE: Mapping[str, frozenset[str]] = {
    "quarantine": frozenset({"quarantine_notice"}),              # 隔离通知书
    "covid_diagnosis": frozenset({"hospital_record"}),           # 病历 / 住院证明
    "disaster": frozenset({"disaster_certificate"}),             # 受灾证明
    # a caseworker's emergency application: the event is whatever befell the person; any document that
    # attests a sudden event, or the supplementary explanation itself (后补齐说明)
    "application": frozenset({"explanation", "quarantine_notice", "hospital_record", "disaster_certificate"}),
}
EVENT_AGENCY = {
    "quarantine": "the health commission (卫生健康部门)",
    "covid_diagnosis": "the health commission (卫生健康部门)",
    "disaster": "emergency management (应急管理部门)",
}


@dataclass(frozen=True)
class EventAssessment:
    outcome: Literal["confirmed", "not_confirmed"]
    reasons: tuple[str, ...]


def assess_event(*, trigger: str, incident_date: str, cause_event_id: str | None,
                 document_kinds: Iterable[str], explanation: str = "") -> EventAssessment:
    """Is the sudden event the aid was paid for attested? (急难 is defined by the event: seeds 003/004.)"""
    kinds = sorted(set(document_kinds))
    event = trigger.replace("_", " ")
    accepted = EVENT_EVIDENCE.get(trigger, frozenset())
    reasons: list[str] = []
    if cause_event_id and trigger in EVENT_AGENCY:
        reasons.append(f"the {event} of {incident_date} was reported by {EVENT_AGENCY[trigger]} "
                       f"(event {cause_event_id})")
    attesting = [k for k in kinds if k in accepted]
    if attesting:
        reasons.append(f"the {event} of {incident_date} is attested by the documents filed: "
                       f"{', '.join(attesting)}")
    if reasons:
        return EventAssessment("confirmed", ("the sudden event is attested (急难: aid for the event, not an "
                                             "income test)", *reasons))
    filed = ", ".join(kinds) or "none"
    return EventAssessment("not_confirmed", (
        f"the sudden event ({event} of {incident_date}) is not attested: no agency report opened the case "
        f"and no document filed attests it (filed: {filed}; accepted: {', '.join(sorted(accepted))})",
        *((f"explanation: {explanation}",) if explanation else ())))
