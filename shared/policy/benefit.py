"""The monthly benefit of an enrolled household (低保金 / 特困供养金), pure: every number comes from the
policy packs in force for the region on the business date; nothing here reads a clock or does I/O
(call it from a local activity, as ``workflows/renewal/activities.py`` does).

Rules (seeds cited next to each):

- **dibao, differential** (seed 004 「根据差额发放低保金」): the standard minus the per-capita counted
  income, times the household size. Computed on household totals, ``standard x size - counted
  income``, which is the same number without rounding a per-capita income: every term is whole fen,
  so the result is exact. Ningxia urban, 3 persons, 300 yuan/person income: (65000 - 30000) x 3 =
  105000 fen.
- **rigid-expenditure deduction** (seed 002 Ningxia 「对因病、因残、上学、就业、照料护理及其他刚性支出
  负担过重……在核算困难群众家庭收入财产时予以扣减」, seed 004 XPCC 「扣除同期发生的因病、因残、因学等
  刚性支出费用后」, seed 003):
  where a pack in force declares it, the household's verified monthly rigid expenditure is deducted
  from the counted income (never below zero).
- **single-person inclusion** (单人保; seed 002 「对低保边缘家庭中的重残人员、重病患者等特殊困难人员，
  经本人申请，参照"单人户"纳入低保」, seed 004 with the low-income line 「低于低保标准的 1.5 倍」,
  seed 003): only a severely disabled or seriously ill applicant (``applicant_severely_disabled_or_ill``)
  of a 低保边缘 household: its income above the standard (高于: not equal to it) and either recognised
  as marginal (``marginal``: in the low-income database) or under ``marginal_line_multiple`` x the
  standard where a pack sets it. The person is enrolled alone, as a one-person household: the standard
  minus the person's own income, plus the special-member add-on where a pack sets it.
- **employment-cost deduction** (seed 001 Jiangxi 「扣减额度按照务工地同期月最低生活保障标准的 30% 计算」):
  where a pack sets ``employment_cost_deduction_ratio``, counted income = household income minus, per
  working member, ratio x the monthly standard of the member's place of work (``work_places``: 务工地, its
  urban or rural standard in the same month; a member working at home: the household's own standard),
  never below zero. A place of work whose standard no pack sets makes the benefit undecidable.
- **care allowance** (照料护理; seed 003 「抓紧落实特困人员照料护理标准」, seed 004 「确保全护理特困对象
  照料护理标准不低于当地最低工资标准的 70%」): per extreme-poverty person needing full care, on top of
  the support, the larger of the pack's ``full_care_monthly_fen`` and ratio x
  ``minimum_wage_monthly_fen`` (a floor: rounded up to the fen); undecidable where neither is set.
- **orphan allowance** (seed 002 「机构内养育孤儿和社会散居孤儿津贴标准，分别提高到每人每月1500元、
  1000元」): an orphan record (``orphan``: institutional or dispersed, carried on the roster like 特困
  persons) is paid the allowance per orphan, not income-tested, instead of the extreme-poverty support.
- **add-ons** (seed 004): ``remote_addon_ratio`` x standard per member of a remote household (30 km
  or more from the regiment seat, or a border regiment); ``special_member_addon_ratio`` x standard per
  minor, elderly, severely disabled or seriously ill member. Only where a pack in force gives the ratio
  a value (the XPCC pack leaves both to the division: a local pack configures them); only on a payable
  dibao benefit.
- **extreme-poverty support** (seed 002 「城乡特困供养标准按照城乡低保月标准1.3倍执行」): per person,
  ``extreme_poverty_multiple`` x the urban or rural monthly dibao standard, not income-tested here
  (特困 persons have no income by definition).

Rounding: money is integer fen. A product of a standard and an exact decimal ratio/multiple rounds
**half up to the fen, once per person** (then multiplied by the number of persons), so two households
with the same members always get the same amount; the differential itself needs no rounding. A rural
monthly standard only given yearly is the yearly figure / 12, rounded half up.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import standards
from .library import PolicyLibrary


class WorkPlace(BaseModel):
    """Where a working member works when away from home (务工地, seed 001): its region and area."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region_code: str = Field(pattern=r"^(\d{6}|\d{9}|\d{12})$")
    urban: bool = True  # the place of work's urban (城市) or rural (农村) standard


class BenefitHousehold(BaseModel):
    """The household facts the benefit depends on (at the business date)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int = Field(ge=1)
    monthly_income_fen: int = Field(default=0, ge=0)  # household total, before deductions
    urban: bool = True
    extreme_poverty: bool = False  # 特困供养 instead of dibao
    working_members: int = Field(default=0, ge=0)  # members in employment (employment-cost deduction)
    special_members: int = Field(default=0, ge=0)  # minors, elderly, severely disabled, seriously ill
    remote: bool = False  # 30 km or more from the regiment seat, or a border regiment (XPCC)
    # 刚性支出 per month (illness, disability, school)
    monthly_rigid_expenditure_fen: int = Field(default=0, ge=0)
    # 单人保: the applicant alone, a severely disabled / seriously ill member of this (low-income) household
    single_person: bool = False
    own_monthly_income_fen: int = Field(default=0, ge=0)  # the single person's own income
    # 单人保 needs a 低保边缘 household (seed 002), recognised as such (低收入人口数据库) ...
    marginal: bool = False
    # ... and an applicant who is severely disabled or seriously ill (「重残人员、重病患者等特殊困难人员」)
    applicant_severely_disabled_or_ill: bool = False
    # 务工地 (seed 001): the place of work of each working member who works away from home; the others
    # work where the household lives
    work_places: tuple[WorkPlace, ...] = ()
    # 照料护理 (seeds 003/004): extreme-poverty persons of the household who need full care
    full_care_persons: int = Field(default=0, ge=0)
    # the enrolled persons are orphans (seed 002): raised in an institution, or living dispersed
    orphan: Literal["institutional", "dispersed"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BenefitHousehold:
        if len(self.work_places) > self.working_members:
            raise ValueError(f"work_places: {len(self.work_places)} places for "
                             f"{self.working_members} working members")
        if self.full_care_persons > self.size:
            raise ValueError(f"full_care_persons: {self.full_care_persons} of a household of {self.size}")
        return self


class BenefitLine(BaseModel):
    label: str
    amount_fen: int
    basis: str


class Benefit(BaseModel):
    """``decidable`` False: a figure the computation needs is not configured (no amount can be given).
    ``above_standard``: the counted income reaches the standard, so dibao stops (exit / gradual exit)."""

    kind: Literal["dibao", "extreme_poverty"]
    decidable: bool
    payable: bool
    amount_fen: int
    standard_fen: int | None = None  # the monthly dibao standard per person applied
    counted_income_fen: int = 0
    above_standard: bool = False
    lines: list[BenefitLine] = Field(default_factory=list)
    reason: str
    citations: list[str] = Field(default_factory=list)
    pack_id: str | None = None
    pack_version: str | None = None


def _half_up(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def monthly_standard_fen(lib: PolicyLibrary, region: str, on: date, urban: bool,
                         cites: list[str] | None = None) -> int | None:
    """The monthly dibao standard per person (urban or rural) in force, or None if no pack sets it."""
    cites = [] if cites is None else cites
    # the standards register: in force until replaced (the newest of rural monthly / yearly wins)
    entry = standards.dibao_standard(lib, region, on, urban)
    if entry is None:
        return None
    if entry.figure.cite() not in cites:
        cites.append(entry.figure.cite())
    return standards.monthly_fen(entry)


def monthly_benefit(lib: PolicyLibrary, region: str, on: date, household: BenefitHousehold) -> Benefit:
    """The household's benefit for the month starting ``on`` (see the module docstring for the rules)."""
    cites: list[str] = []
    pack = lib.pack_for(region, on)
    where: dict[str, Any] = dict(pack_id=pack.pack_id if pack else None,
                                 pack_version=pack.version if pack else None)
    area = "urban" if household.urban else "rural"
    kind: Literal["dibao", "extreme_poverty"] = "extreme_poverty" if household.extreme_poverty else "dibao"
    standard = monthly_standard_fen(lib, region, on, household.urban, cites)
    if standard is None:
        return Benefit(kind=kind, decidable=False, payable=False, amount_fen=0, citations=cites, **where,
                       reason=f"no pack in force for {region} on {on} sets the {area} dibao standard")

    if household.orphan is not None:
        return _orphan_allowance(lib, region, on, household, standard, cites, where)
    if household.extreme_poverty:
        mul = lib.cited("extreme_poverty_multiple", region, on, cites)
        if mul is None:
            return Benefit(kind=kind, decidable=False, payable=False, amount_fen=0, standard_fen=standard,
                           citations=cites, **where,
                           reason=f"no pack in force for {region} on {on} sets the extreme-poverty multiple")
        per_person = _half_up(Decimal(standard) * mul.as_decimal())
        amount = per_person * household.size
        line = BenefitLine(label="extreme_poverty_support", amount_fen=amount,
                           basis=f"{mul.value} x {area} standard {standard} fen = {per_person} fen "
                                 f"x {household.size}")
        support = [line]
        if household.full_care_persons:
            care = _full_care(lib, region, on, household.full_care_persons, cites)
            if isinstance(care, str):
                return Benefit(kind=kind, decidable=False, payable=False, amount_fen=0, standard_fen=standard,
                               citations=cites, reason=care, **where)
            support.append(care)
            amount += care.amount_fen
        basis = "; ".join(f"{ln.label} {ln.amount_fen} fen ({ln.basis})" for ln in support)
        return Benefit(kind=kind, decidable=True, payable=amount > 0, amount_fen=amount,
                       standard_fen=standard, lines=support, citations=cites,
                       reason=f"extreme-poverty support {amount} fen: {basis}",
                       **where)

    if household.single_person:
        return _single_person(lib, region, on, household, standard, cites, where)
    lines: list[BenefitLine] = []
    income = household.monthly_income_fen
    deducts_rigid = _declared(lib, RIGID, region, on, cites)
    rigid = min(income, household.monthly_rigid_expenditure_fen) if deducts_rigid else 0
    if rigid:
        lines.append(BenefitLine(label="rigid_expenditure_deduction", amount_fen=-rigid,
                                 basis=f"{rigid} fen/month of rigid expenditure (from counted income)"))
        income -= rigid
    deduction = 0
    if household.working_members:
        found = _employment_cost(lib, region, on, household, standard, cites)
        if isinstance(found, str):
            return Benefit(kind=kind, decidable=False, payable=False, amount_fen=0, standard_fen=standard,
                           citations=cites, reason=found, **where)
        if found is not None:
            deduction = min(income, found[0])
            lines.append(BenefitLine(label="employment_cost_deduction", amount_fen=-deduction,
                                     basis=f"{found[1]} (from counted income)"))
    counted = income - deduction
    need = standard * household.size
    gap = need - counted
    if gap <= 0:
        return Benefit(kind=kind, decidable=True, payable=False, amount_fen=0, standard_fen=standard,
                       counted_income_fen=counted, above_standard=True, lines=lines, citations=cites, **where,
                       reason=(f"counted income {counted} fen reaches the standard {standard} fen x "
                               f"{household.size} = {need} fen: no dibao"))
    lines.insert(0, BenefitLine(label="dibao_differential", amount_fen=gap,
                                basis=f"({standard} fen standard x {household.size}) - {counted} fen "
                                      "counted income"))
    amount = gap
    remote_members = household.size if household.remote else 0
    special_members = household.special_members
    for addon in (_addon(lib, region, on, standard, cites, "remote_addon", remote_members),
                  _addon(lib, region, on, standard, cites, "special_member_addon", special_members)):
        if addon is not None:
            lines.append(addon)
            amount += addon.amount_fen
    basis = "; ".join(f"{ln.label} {ln.amount_fen} fen ({ln.basis})" for ln in lines)
    return Benefit(kind=kind, decidable=True, payable=True, amount_fen=amount, standard_fen=standard,
                   counted_income_fen=counted, lines=lines, citations=cites,
                   reason=f"dibao {amount} fen: {basis}", **where)


def _addon(lib: PolicyLibrary, region: str, on: date, standard: int, cites: list[str], label: str,
           members: int) -> BenefitLine | None:
    """An add-on of ``<label>_ratio`` x standard per member (seed 004): None for no member, or where no
    pack in force gives the ratio a value."""
    if not members:
        return None
    ratio = lib.cited(f"{label}_ratio", region, on, cites)
    if ratio is None:
        return None
    per = _half_up(Decimal(standard) * ratio.as_decimal())
    return BenefitLine(label=label, amount_fen=per * members,
                       basis=f"{ratio.value} x standard = {per} fen x {members} members")


def _employment_cost(lib: PolicyLibrary, region: str, on: date, h: BenefitHousehold, standard: int,
                     cites: list[str]) -> tuple[int, str] | str | None:
    """The employment-cost deduction (seed 001 「扣减额度按照务工地同期月最低生活保障标准的 30% 计算」): the
    household's pack's ratio x the monthly standard of each working member's place of work (务工地) in the
    same month; a member working at home is deducted on the household's own standard. Returns (fen, basis),
    None where no pack in force sets the ratio, or why it cannot be computed (a place of work whose
    standard no pack sets: no amount is guessed)."""
    ratio = lib.cited("employment_cost_deduction_ratio", region, on, cites)
    if ratio is None:
        return None
    at_home = h.working_members - len(h.work_places)
    total, parts = 0, []
    if at_home:
        per = _half_up(Decimal(standard) * ratio.as_decimal())
        total += per * at_home
        parts.append(f"{ratio.value} x standard {standard} fen = {per} fen x {at_home} working at home")
    for place in h.work_places:
        there = monthly_standard_fen(lib, place.region_code, on, place.urban, cites)
        area = "urban" if place.urban else "rural"
        if there is None:
            return (f"no pack in force for the place of work {place.region_code} on {on} sets its {area} "
                    "dibao standard: the employment-cost deduction (务工地标准) cannot be computed")
        per = _half_up(Decimal(there) * ratio.as_decimal())
        total += per
        parts.append(f"{ratio.value} x the {area} standard of the place of work {place.region_code} "
                     f"{there} fen = {per} fen")
    return total, "; ".join(parts)


def _full_care(lib: PolicyLibrary, region: str, on: date, persons: int,
               cites: list[str]) -> BenefitLine | str:
    """The care allowance (照料护理) of extreme-poverty persons needing full care, on top of their basic
    support: seed 003 「抓紧落实特困人员照料护理标准」 leaves the standard to the provinces
    (``full_care_monthly_fen``); XPCC (seed 004) sets a floor 「确保全护理特困对象照料护理标准
    不低于当地最低工资标准的70%」 (``full_care_standard_min_ratio_of_minimum_wage`` x the division's
    ``minimum_wage_monthly_fen``, a fraction of a fen rounded up: it is a floor). The larger of the two
    where both are set; the text of why where neither is (no amount is guessed)."""
    configured = lib.cited("full_care_monthly_fen", region, on, cites)
    ratio = lib.cited("full_care_standard_min_ratio_of_minimum_wage", region, on, cites)
    wage = lib.cited("minimum_wage_monthly_fen", region, on, cites) if ratio is not None else None
    options: list[tuple[int, str]] = []
    if configured is not None:
        options.append((configured.as_int(), f"full-care standard {configured.value} fen"))
    if ratio is not None and wage is not None:
        floor = int((Decimal(wage.as_int()) * ratio.as_decimal()).to_integral_value(rounding=ROUND_CEILING))
        options.append((floor, f"not below {ratio.value} x minimum wage {wage.value} fen = {floor} fen"))
    if not options:
        return (f"no pack in force for {region} on {on} sets the full-care standard (照料护理标准) or the "
                "minimum wage it is tied to: the care allowance cannot be computed")
    per, why = max(options)
    return BenefitLine(label="full_care_allowance", amount_fen=per * persons,
                       basis=f"{why} x {persons} persons needing full care")


def _orphan_allowance(lib: PolicyLibrary, region: str, on: date, h: BenefitHousehold, standard: int,
                      cites: list[str], where: dict[str, Any]) -> Benefit:
    """The orphan allowance (seed 002 「机构内养育孤儿和社会散居孤儿津贴标准，分别提高到每人每月
    1500元、1000元」), per orphan and month, not income-tested. Orphans are carried on the roster like
    extreme-poverty persons (kind ``extreme_poverty``: their own record, paid monthly, reviewed yearly);
    the allowance is their benefit, in place of the extreme-poverty support (local practice: no double
    support)."""
    name = f"orphan_{h.orphan}_monthly_fen"
    fig = lib.cited(name, region, on, cites)
    if fig is None:
        return Benefit(kind="extreme_poverty", decidable=False, payable=False, amount_fen=0,
                       standard_fen=standard, citations=cites, **where,
                       reason=f"no pack in force for {region} on {on} sets the {h.orphan} orphan allowance")
    amount = fig.as_int() * h.size
    line = BenefitLine(label="orphan_allowance", amount_fen=amount,
                       basis=f"{h.orphan} orphan allowance {fig.value} fen x {h.size}")
    return Benefit(kind="extreme_poverty", decidable=True, payable=amount > 0, amount_fen=amount,
                   standard_fen=standard, lines=[line], citations=cites,
                   reason=f"orphan allowance {amount} fen: {line.basis}", **where)


RIGID = ("rigid_expenditure_deduction", "rigid_expenditure_lookback_months",
         "rigid_expenditure_and_employment_cost")
SINGLE_PERSON = ("marginal_single_person_enrolment", "single_person_household_enrolment")


def _declared(lib: PolicyLibrary, names: tuple[str, ...], region: str, on: date, cites: list[str]) -> bool:
    """Whether a pack in force declares the rule (a flag, or a figure that only exists where it applies)."""
    return any(lib.cited(n, region, on, cites) is not None for n in names)


def _single_person(lib: PolicyLibrary, region: str, on: date, h: BenefitHousehold, standard: int,
                   cites: list[str], where: dict[str, Any]) -> Benefit:
    refusal = _single_person_refusal(lib, region, on, h, standard, cites)
    if refusal is not None:
        return Benefit(kind="dibao", decidable=True, payable=False, amount_fen=0, standard_fen=standard,
                       citations=cites, reason=refusal, **where)
    own = h.own_monthly_income_fen
    lines = [BenefitLine(label="single_person_inclusion", amount_fen=standard - own,
                         basis=f"one-person household: standard {standard} fen - own income {own} fen")]
    ratio = lib.cited("special_member_addon_ratio", region, on, cites)
    if ratio is not None and ratio.value is not None:
        per = _half_up(Decimal(standard) * ratio.as_decimal())
        lines.append(BenefitLine(label="special_member_addon", amount_fen=per,
                                 basis=f"{ratio.value} x standard = {per} fen "
                                       "(severely disabled or seriously ill)"))
    amount = sum(ln.amount_fen for ln in lines)
    basis = "; ".join(f"{ln.label} {ln.amount_fen} fen ({ln.basis})" for ln in lines)
    return Benefit(kind="dibao", decidable=True, payable=True, amount_fen=amount, standard_fen=standard,
                   counted_income_fen=own, lines=lines, citations=cites,
                   reason=f"dibao (single-person inclusion, 单人保) {amount} fen: {basis}", **where)


def _single_person_refusal(lib: PolicyLibrary, region: str, on: date, h: BenefitHousehold, standard: int,
                           cites: list[str]) -> str | None:
    """Why the applicant cannot be enrolled alone (None: they can)."""
    if not _declared(lib, SINGLE_PERSON, region, on, cites):
        return f"no pack in force for {region} on {on} provides single-person inclusion (单人保)"
    # seed 002 「对低保边缘家庭中的重残人员、重病患者等特殊困难人员……参照"单人户"纳入低保」: only such a
    # person
    if not h.applicant_severely_disabled_or_ill:
        return ("单人保 is for a severely disabled or seriously ill member (重残人员、重病患者); "
                "the applicant is neither")
    need, income = standard * h.size, h.monthly_income_fen
    if income < need:
        return (f"household income {income} fen is under the standard x {h.size} = {need} fen: "
                "the household applies as a whole, not one member alone")
    if income == need:  # seed 004 「家庭人均收入高于当地低保标准」: 高于 excludes the standard itself
        return (f"household income {income} fen is exactly the standard x {h.size}: not above "
                "it (高于), so the household is not a low-income household")
    # a 低保边缘 household: recognised as such (in the low-income database), or under the low-income line
    # where a pack sets one (seed 004 「高于当地低保标准，但低于低保标准的 1.5 倍」)
    line = lib.cited("marginal_line_multiple", region, on, cites)
    if not h.marginal and line is None:
        return ("the household is not a recognised 低保边缘 (marginal) household in the low-income "
                "database: 单人保 is for members of such households")
    if not h.marginal and line is not None:
        limit = _half_up(Decimal(need) * Decimal(str(line.value)))
        if income >= limit:
            return (f"household income {income} fen is not under {line.value} x the standard "
                    f"x {h.size} = {limit} fen and the household is not a recognised 低保边缘 household: "
                    "not a low-income household")
    if standard - h.own_monthly_income_fen <= 0:
        return f"the person's own income {h.own_monthly_income_fen} fen reaches the standard {standard} fen"
    return None


class LevelTerms(NamedTuple):
    """The figures a plain household's level is made of in a region, area, kind and month (the cycle's 提标
    price table, ``services/intake/enrolment.py``): each per person, rounded exactly as
    :func:`monthly_benefit` rounds it, so that the level computed from them in SQL is the one
    :func:`monthly_benefit` gives for the same facts. "Plain": no single-person inclusion, no member working
    away from home (务工地: another region's standard), no care allowance, no orphan allowance (those are
    priced by :func:`monthly_benefit` itself)."""

    standard_fen: int  # the monthly dibao standard per person (the differential's)
    per_person_fen: int  # dibao: the standard; extreme poverty: multiple x standard, half up
    remote_pp_fen: int  # remote_addon_ratio x standard, half up (0: no ratio in force)
    special_pp_fen: int  # special_member_addon_ratio x standard, half up (0: no ratio in force)
    employment_pp_fen: int | None  # employment_cost_deduction_ratio x standard, half up (None: no ratio)
    rigid_deducted: bool  # a pack in force deducts rigid expenditure from the counted income


def level_terms(lib: PolicyLibrary, region: str, on: date, *, urban: bool,
                extreme_poverty: bool) -> LevelTerms | None:
    """The :class:`LevelTerms` in force (None: the standard, or the extreme-poverty multiple, is not set)."""
    cites: list[str] = []
    standard = monthly_standard_fen(lib, region, on, urban, cites)
    if standard is None:
        return None

    def per(name: str) -> int | None:
        ratio = lib.cited(name, region, on, cites)
        return None if ratio is None else _half_up(Decimal(standard) * ratio.as_decimal())

    per_person = standard
    if extreme_poverty:
        mul = per("extreme_poverty_multiple")
        if mul is None:
            return None
        per_person = mul
    return LevelTerms(standard, per_person, per("remote_addon_ratio") or 0,
                      per("special_member_addon_ratio") or 0, per("employment_cost_deduction_ratio"),
                      _declared(lib, RIGID, region, on, cites))


def needs_full_computation(h: BenefitHousehold) -> bool:
    """Whether the level is outside :class:`LevelTerms` (priced by :func:`monthly_benefit` itself)."""
    return h.single_person or bool(h.work_places) or h.full_care_persons > 0 or h.orphan is not None
