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
LOCAL_PRACTICE_VEHICLE_VALUE_LIMIT_FEN = 5_000_000  # 50,000 yuan; pack figure: asset_vehicle_value_limit_fen (fen)
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
    return limits.basis.get(figure, LOCAL_PRACTICE)


def _income_text(items: Iterable[IncomeItem]) -> str:
    by_dept: dict[str, list[str]] = defaultdict(list)
    for i in items:
        by_dept[_dept(i)].append(f"{i.kind.replace('_', ' ')} {yuan(i.monthly_fen)} ({_who(i.person_id)}, {i.detail})")
    return "; ".join(f"{dept}: {', '.join(parts)}" for dept, parts in by_dept.items())


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
    """Apply the rule (module docstring) to what the sources found."""
    if declared_monthly_income_fen < 0:
        raise ValueError("declared_monthly_income_fen must not be negative")
    limits = asset_limits or AssetLimits()
    reasons: list[str] = []
    disqualifiers: list[str] = []
    std = standard.monthly_fen
    std_label = (f"the {standard.region_name + ' ' if standard.region_name else ''}{standard.area} dibao "
                 f"standard ({standard.figure})")

    # 1-2. income
    verified = sum(i.monthly_fen for i in findings.income)
    counted = max(declared_monthly_income_fen, verified)
    if findings.income:
        found_text = f"found {yuan(verified)}/month: {_income_text(findings.income)}"
    else:
        found_text = "no income found by any department source"
    which = ("the declared income" if declared_monthly_income_fen >= verified else "the verified income")
    reasons.append(
        f"household income: declared {yuan(declared_monthly_income_fen)}/month; {found_text}; "
        f"counted: {which}, the larger of the two, {yuan(counted)}/month"
    )

    # 3. employment-cost deduction (pack figure employment_cost_deduction_ratio)
    deductions = 0
    if employment_cost_ratio is not None and employment_cost_ratio > 0:
        if std is None:
            reasons.append("employment-cost deduction not applied: the dibao standard it is a share of is "
                           "not configured")
        else:
            per_worker = int((Decimal(std) * employment_cost_ratio).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            wages: dict[str, int] = defaultdict(int)
            for i in findings.income:
                if i.kind == "wage":
                    wages[i.person_id] += i.monthly_fen
            deductions = sum(min(wage, per_worker) for wage in wages.values())
            if wages:
                reasons.append(
                    f"employment-cost deduction (就业成本扣减): {employment_cost_ratio} x {yuan(std)} = "
                    f"{yuan(per_worker)} for each of {len(wages)} working member(s), {yuan(deductions)} in all"
                    + (f" ({employment_cost_citation})" if employment_cost_citation else "")
                )
    if rigid_expenditure_fen > 0:
        rigid = min(rigid_expenditure_fen, max(0, counted - deductions))
        deductions += rigid
        reasons.append(f"rigid-expenditure deduction (刚性支出扣减): {yuan(rigid)}/month, as the policy in force allows")
    counted_after = max(0, counted - deductions)

    # 4. per capita
    size = max(household_size, members_queried, 1)
    if members_queried > household_size:
        reasons.append(f"household size taken as {size}: {members_queried} members were checked but the "
                       f"request said {household_size}")
    elif members_queried < household_size:
        reasons.append(f"only {members_queried} of {household_size} household members were checked "
                       "(the request named no others)")
    per_capita = counted_after // size

    # 5. compare with the standard
    income_ok: bool | None
    if not compare_income:
        income_ok = None
        reasons.append(f"per-capita income {yuan(per_capita)}/month ({yuan(counted_after)} / {size} persons) is not "
                       "compared with the standard here: a single-person inclusion (单人保) is decided by the "
                       "policy against the low-income line")
    elif std is None:
        income_ok = None
        reasons.append(
            f"{std_label} is not configured for region {standard.region_code} on {standard.on}; "
            f"per-capita income {yuan(per_capita)}/month was not compared with a standard, so the outcome "
            "rests on the asset checks alone"
        )
    elif line_multiple is not None:
        # one-off aid to people 生活困难: the low-income (低保边缘) line, a multiple of the standard, compared
        # exactly (counted income < multiple x standard x size, no rounding of the line)
        income_ok = Decimal(counted_after) < line_multiple * std * size
        line_fen = int((line_multiple * std).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        cite = f"; {standard.citation}" if standard.citation else ""
        cite += f"; {line_citation}" if line_citation else ""
        comparison = (
            f"per-capita income {yuan(per_capita)}/month ({yuan(counted_after)} / {size} persons) is "
            f"{'under' if income_ok else 'not under'} the low-income line {line_multiple} x {std_label} "
            f"{yuan(std)} = {yuan(line_fen)}/month{cite}"
        )
        reasons.append(comparison)
        if not income_ok:
            disqualifiers.append(comparison)
    else:
        income_ok = income_under_standard(counted_after, size, std)
        cite = f"; {standard.citation}" if standard.citation else ""
        comparison = (
            f"per-capita income {yuan(per_capita)}/month ({yuan(counted_after)} / {size} persons) is "
            f"{'under' if income_ok else 'not under'} {std_label} {yuan(std)}/month{cite}"
        )
        reasons.append(comparison)
        if not income_ok:
            disqualifiers.append(comparison)

    # 6. assets
    properties = [a for a in findings.assets if a.kind == "property"]
    if properties:
        depts = sorted({_dept(a) for a in properties})
        text = (f"{len(properties)} propert{'y' if len(properties) == 1 else 'ies'} held "
                f"({', '.join(depts)}): " + "; ".join(f"{_who(a.person_id)} {a.detail}" for a in properties))
        if len(properties) > limits.max_properties:
            rule = (f"more than the {limits.max_properties} allowed "
                    f"[asset_max_properties: {_basis(limits, 'asset_max_properties')}]")
            disqualifiers.append(f"{text}; {rule}")
            reasons.append(f"{text}; {rule}")
        else:
            reasons.append(f"{text}; within the {limits.max_properties} allowed")

    vlimit = limits.vehicle_value_limit_fen
    for v in (a for a in findings.assets if a.kind == "vehicle"):
        text = f"vehicle {v.detail} of {_who(v.person_id)} ({_dept(v)})"
        if v.subtype in EXEMPT_VEHICLE_KINDS:
            reasons.append(f"{text}: {v.subtype} vehicles do not count")
        elif v.value_fen is None:
            reasons.append(f"{text}: no assessed value; a caseworker must assess it against the "
                           f"{yuan(vlimit)} limit")
        elif v.value_fen > vlimit:
            rule = (f"assessed above the {yuan(vlimit)} limit "
                    f"[asset_vehicle_value_limit_fen: {_basis(limits, 'asset_vehicle_value_limit_fen')}]")
            disqualifiers.append(f"{text}: {rule}")
            reasons.append(f"{text}: {rule}")
        else:
            reasons.append(f"{text}: within the {yuan(vlimit)} limit")

    financial = [a for a in findings.assets if a.kind == "financial"]
    if financial:
        total = sum(a.value_fen or 0 for a in financial)
        depts = sorted({_dept(a) for a in financial})
        text = f"financial assets {yuan(total)} ({', '.join(depts)})"
        months = limits.financial_months_of_standard
        if std is None:
            reasons.append(f"{text}: not assessed, the dibao standard the limit is a multiple of is not configured")
        else:
            cap = months * std * size
            if total > cap:
                rule = (f"more than {months} months of the standard for {size} persons ({yuan(cap)}) "
                        f"[asset_financial_months_of_standard: {_basis(limits, 'asset_financial_months_of_standard')}]")
                disqualifiers.append(f"{text}: {rule}")
                reasons.append(f"{text}: {rule}")
            else:
                reasons.append(f"{text}: within {months} months of the standard for {size} persons ({yuan(cap)})")

    # 7. reported, never disqualifying
    for e in findings.expenditure:
        reasons.append(f"{_dept(e)}: {_who(e.person_id)} {e.detail}; rigid expenditure is reported for the "
                       "caseworker, not deducted automatically")
    for f in findings.flags:
        reasons.append(f"{_dept(f)}: {_who(f.person_id)} {f.detail}")

    outcome: Outcome = "ineligible" if disqualifiers else "eligible"
    if outcome == "ineligible":
        summary = "ineligible: " + " | ".join(disqualifiers)
    elif income_ok is None:
        summary = "eligible: nothing disqualifying was found, but the dibao standard is not configured"
    elif line_multiple is not None:
        summary = (f"eligible: per-capita income {yuan(per_capita)}/month is under the low-income line "
                   f"({line_multiple} x {std_label}) and no asset disqualifies")
    else:
        summary = f"eligible: per-capita income {yuan(per_capita)}/month is under {std_label} {yuan(std or 0)}/month and no asset disqualifies"
    return Assessment(
        outcome=outcome,
        declared_income_fen=declared_monthly_income_fen,
        verified_income_fen=verified,
        deductions_fen=deductions,
        counted_income_fen=counted_after,
        household_size=size,
        per_capita_income_fen=per_capita,
        limit_fen_per_capita=std,
        income_qualifies=income_ok,
        disqualifiers=tuple(disqualifiers),
        reasons=(summary, *reasons),
    )


# ---- 急难: the sudden event, verified afterwards -------------------------------------------------------
# Seed 004 item 2 gives 急难 aid 「对遭遇突发事件、意外伤害、重大疾病，受传染病疫情等突发公共卫生事件影响…导致基本生活暂时
# 陷入困境的家庭或个人」; seed 003 「对受到灾害影响,导致基本生活出现困难的家庭和个人…直接实施临时救助」; the check after an
# assist-first payment is 「先行救助，后补齐说明」 (seed 002) / 「事后补充说明情况」 (seed 004). So what is verified is the
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
    accepted = EVENT_EVIDENCE.get(trigger, frozenset())
    reasons: list[str] = []
    if cause_event_id and trigger in EVENT_AGENCY:
        reasons.append(f"the {trigger.replace('_', ' ')} of {incident_date} was reported by {EVENT_AGENCY[trigger]} "
                       f"(event {cause_event_id})")
    attesting = [k for k in kinds if k in accepted]
    if attesting:
        reasons.append(f"the {trigger.replace('_', ' ')} of {incident_date} is attested by the documents filed: "
                       f"{', '.join(attesting)}")
    if reasons:
        return EventAssessment("confirmed", ("the sudden event is attested (急难: aid for the event, not an "
                                             "income test)", *reasons))
    filed = ", ".join(kinds) or "none"
    return EventAssessment("not_confirmed", (
        f"the sudden event ({trigger.replace('_', ' ')} of {incident_date}) is not attested: no agency report "
        f"opened the case and no document filed attests it (filed: {filed}; accepted: {', '.join(sorted(accepted))})",
        *((f"explanation: {explanation}",) if explanation else ())))
