"""Evaluating one measure for one household: what the profile is entitled to (:func:`entitlement`) and a
caseworker's assessed amount bounded by the policy (:func:`assess_request`).

Pure and deterministic: reads only the loaded packs and the arguments. ``PolicyLibrary.entitlement`` and
``PolicyLibrary.assess_request`` are the public entry points; they check the region code and call here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, NamedTuple

from .amounts import AmountRule
from .models import MEASURE_IDS, Entitlement, Figure, HouseholdProfile, Installment, Measure, PolicyPack

if TYPE_CHECKING:
    from .library import PolicyLibrary


class UnknownMeasureError(ValueError):
    """No pack in the library defines this measure id: a programming error, not a business outcome."""


class _Missing(Exception):
    """An amount cannot be computed (a figure is not configured, or the seed fixes none)."""


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d} yuan ({fen} fen)"


_TEST_TEXT = {
    "dibao_standard": "income under the dibao standard",
    "low_income_line": "income under the low-income line (低收入/低保边缘), not the dibao standard",
    "expenditure": "expenditure type (支出型): income after rigid expenditure under the dibao standard",
}


# ---- the answer ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    """Answers about one measure as one pack defines it; every reason names the profile's unknown
    categories (accepted, matched by no measure)."""

    measure_id: str
    pack: PolicyPack
    measure: Measure
    ignored: str

    @property
    def label(self) -> str:
        return f"{self.pack.region_name_en} {self.measure_id} ({self.measure.name_zh})"

    def give(self, payable: bool, reason: str, *, amount_fen: int = 0, check: bool | None = None,
             citations: list[str] | None = None, amount_is_minimum: bool = False,
             installments: list[Installment] | None = None, needs_assessment: bool = False) -> Entitlement:
        m = self.measure
        return Entitlement(
            measure=self.measure_id,
            payable=payable,
            amount_fen=amount_fen if payable else 0,
            reason=reason + self.ignored,
            pack_id=self.pack.pack_id,
            pack_version=self.pack.version,
            region_prefix=self.pack.region_prefix,
            direct_payment=m.direct_payment,
            requires_application=m.requires_application,
            economic_check_required=m.economic_check == "required" if check is None else check,
            citations=[m.cite()] if citations is None else citations,
            pathway=m.pathway,
            economic_test=m.economic_test,
            amount_is_minimum=amount_is_minimum,
            installments=installments or [],
            needs_assessment=needs_assessment,
        )


# ---- entitlement --------------------------------------------------------------------------------------


def entitlement(lib: PolicyLibrary, measure: str, code: str, on: date,
                profile: HouseholdProfile) -> Entitlement:
    """What the profile is entitled to under ``measure`` in the region ``code`` on the business date:
    eligibility, the threshold, the economic check, then the amount the pack fixes."""
    if measure not in MEASURE_IDS or not any(measure in p.measures for p in lib.packs):
        raise UnknownMeasureError(f"no policy pack defines measure {measure!r}")
    found = lib.measure_in_force(measure, code, on)
    if found is None:
        return _not_in_force(lib, measure, code, on)
    pack, m = found
    unknown = profile.unknown_categories()
    ignored = f" [unknown categories ignored: {', '.join(unknown)}]" if unknown else ""
    answer = _Answer(measure, pack, m, ignored)

    refusal = _ineligibility(m, profile, answer.label)
    if refusal is not None:
        return answer.give(False, refusal)
    citations = [m.cite()]
    below = _threshold_not_met(lib, answer, code, on, profile, citations)
    if below is not None:
        return below
    check, check_text = _economic_check(lib, m, profile.categories, code, on, citations)
    if m.amount.kind == "not_fixed":
        # 「发放一次性临时救助金」「直接实施临时救助」 with no amount: eligible, and the county's caseworker
        # assesses the amount, which the approval tiers then decide (never a silent not_payable)
        return answer.give(
            False,
            f"{answer.label}: eligible; the seed fixes no amount ({m.amount.not_fixed_reason}): a caseworker "
            f"assesses it, then the approval tiers decide; {check_text}",
            check=check, citations=citations, needs_assessment=True,
        )
    return _priced(lib, answer, code, on, profile, check, check_text, citations)


def _ineligibility(m: Measure, profile: HouseholdProfile, label: str) -> str | None:
    """Why the profile is outside the measure's people (excluded category, insured, other category)."""
    cats = profile.categories
    excluded = sorted(cats & set(m.excluded_categories))
    if excluded:
        return f"not eligible: {label} is not for people already in {', '.join(excluded)}"
    if m.requires_uninsured and profile.unemployment_insured is True:
        return (f"not eligible: {label} is for people not covered by unemployment insurance "
                "(失业保险政策无法覆盖); this person is insured")
    if m.requires_uninsured and profile.unemployment_insured is None:
        return (f"not yet decidable: {label} is only for the uninsured; unemployment insurance status "
                "is unknown (set unemployment_insured=False once confirmed)")
    if m.eligible_categories and not _in_category(m, profile) and not m.others_eligible:
        have = ", ".join(sorted(cats)) or "none"
        return (f"not eligible: {label} is for categories {', '.join(m.eligible_categories)}; "
                f"the profile has {have}")
    return None


def _in_category(m: Measure, profile: HouseholdProfile) -> bool:
    return bool(profile.categories & set(m.eligible_categories))


def _threshold_not_met(lib: PolicyLibrary, answer: _Answer, code: str, on: date, profile: HouseholdProfile,
                       citations: list[str]) -> Entitlement | None:
    """The refusal where the measure's threshold (e.g. medical self-pay) is unset, unknown or not reached."""
    m, label = answer.measure, answer.label
    if m.threshold is None:
        return None
    resolved = lib.resolve(m.threshold.figure, code, on)
    assert resolved is not None  # validated: the measure's own pack declares it
    fig = resolved[0]
    citations.append(fig.cite())
    have_value = getattr(profile, m.threshold.profile_field)
    if fig.value is None:
        return answer.give(False, f"not payable: {label}: threshold {m.threshold.figure} is not configured")
    if have_value is None:
        return answer.give(False,
                           f"not yet decidable: {label} needs {m.threshold.profile_field}; it is unknown")
    limit = fig.as_int()
    reached = have_value >= limit if fig.inclusive else have_value > limit
    if reached:
        return None
    rel = "at least" if fig.inclusive else "more than"
    return answer.give(
        False,
        f"not eligible: {label} needs {m.threshold.profile_field} {rel} {yuan(limit)}; "
        f"the profile has {yuan(have_value)}",
        citations=citations,
    )


def _economic_check(lib: PolicyLibrary, m: Measure, cats: frozenset[str], code: str, on: date,
                    citations: list[str]) -> tuple[bool, str]:
    """Whether the household's economic status is checked, and the text saying against which line."""
    if m.economic_check == "not_required":
        return False, "no economic status check (eligibility is by category)"
    waived = sorted(_waiver_categories(lib, cats, code, on, citations) & set(m.economic_check_waived_for))
    if waived:
        return False, f"no economic status check: already {', '.join(waived)} (不再进行家庭经济状况核查)"
    return True, f"economic status check required ({_TEST_TEXT[m.economic_test]})"


def _waiver_categories(lib: PolicyLibrary, cats: frozenset[str], code: str, on: date,
                       citations: list[str]) -> frozenset[str]:
    """The profile's categories as the waiver reads them: a 低保边缘 (marginal) household counts as listed
    in the low-income database where a pack in force says marginal households are monitored there
    (seed 002 「对纳入低收入人口监测范围的低保对象、特困人员、低保边缘家庭」)."""
    if "marginal" not in cats or "low_income_db" in cats:
        return cats
    fig = lib.parameter("marginal_households_in_low_income_db", code, on)
    if fig is None or fig.value is not True:
        return cats
    if fig.cite() not in citations:
        citations.append(fig.cite())
    return cats | {"low_income_db"}


def _priced(lib: PolicyLibrary, answer: _Answer, code: str, on: date, profile: HouseholdProfile,
            check: bool, check_text: str, citations: list[str]) -> Entitlement:
    """The eligible household's amount, as the measure's amount rule computes it from the figures."""
    m, label = answer.measure, answer.label
    try:
        amount, how, used, installments = _amount(lib, m, code, on, profile)
    except _Missing as missing:
        return answer.give(False, f"not payable: {label}: {missing}", citations=citations)
    citations.extend(c for c in used if c not in citations)
    if amount <= 0:
        return answer.give(False, f"not payable: {label}: {how}", citations=citations)
    if m.others_eligible and not _in_category(m, profile):
        check_text += (
            f"; outside {', '.join(m.eligible_categories)} the household qualifies only if the event "
            "caused temporary hardship"
        )
    floor = " at least" if m.amount.at_least else ""
    reason = f"{label}:{floor} {yuan(amount)} = {how}; {check_text}; {_how_paid(m)}"
    return answer.give(True, reason, amount_fen=amount, check=check, citations=citations,
                       amount_is_minimum=m.amount.at_least, installments=installments)


def _how_paid(m: Measure) -> str:
    if m.direct_payment:
        return "paid directly, no application (直接给予)"
    if m.requires_application:
        return "on the person's application (经本人申请)"
    return "no application stated by the seed"


def _not_in_force(lib: PolicyLibrary, measure: str, code: str, on: date) -> Entitlement:
    """Not payable: no pack of the region defines the measure, or the nearest definition is out of force."""
    defining = [p for p in lib.packs if p.matches(code) and measure in p.measures]
    current = lib.pack_for(code, on)
    if not defining:
        where = f"pack in force: {current.pack_id} {current.version}" if current else "no pack in force"
        return Entitlement(
            measure=measure,
            payable=False,
            amount_fen=0,
            reason=(f"not available: no policy pack for region {code} defines measure {measure} "
                    f"({where} on {on})"),
            pack_id=current.pack_id if current else None,
            pack_version=current.version if current else None,
            region_prefix=current.region_prefix if current else None,
        )

    def distance(p: PolicyPack) -> int:
        m = p.measures[measure]
        assert m.effective_from is not None
        if on < m.effective_from:
            return (m.effective_from - on).days
        return (on - m.effective_to).days if m.effective_to else 0

    nearest = min(defining, key=lambda p: (-len(p.region_prefix), distance(p)))
    m = nearest.measures[measure]
    return Entitlement(
        measure=measure,
        payable=False,
        amount_fen=0,
        reason=(
            f"not in force: {nearest.region_name_en} measure {measure} applies {m.window()} "
            f"({m.name_zh}); business date {on}"
        ),
        pack_id=nearest.pack_id,
        pack_version=nearest.version,
        region_prefix=nearest.region_prefix,
        direct_payment=m.direct_payment,
        requires_application=m.requires_application,
        economic_check_required=m.economic_check == "required",
        citations=[m.cite()],
        pathway=m.pathway,
    )


# ---- the amount ---------------------------------------------------------------------------------------


@dataclass
class _Figures:
    """The figures an amount rule names, resolved for the region and date; ``used`` collects their seeds."""

    lib: PolicyLibrary
    code: str
    on: date
    used: list[str] = field(default_factory=list)

    def get(self, name: str) -> Figure:
        resolved = self.lib.resolve(name, self.code, self.on)
        if resolved is None:
            raise _Missing(f"figure {name} is not declared by any pack in force for region {self.code}")
        fig, pack = resolved
        self.used.append(fig.cite())
        if fig.value is None:
            rng = f" (allowed range {fig.minimum}..{fig.maximum})" if fig.minimum is not None else ""
            raise _Missing(
                f"{name} is set by the {fig.set_by}{rng}; no pack in force for region {self.code} "
                f"on {self.on} configures it ({pack.region_name_en} pack {pack.pack_id} leaves it open)"
            )
        return fig


class _Priced(NamedTuple):
    amount: int
    how: str
    installments: list[Installment]


def _multiple_of_standard(rule: AmountRule, figs: _Figures, profile: HouseholdProfile) -> _Priced:
    refs = rule.refs()
    std = figs.get(refs["standard"])
    mul = figs.get(refs["multiple"])
    multiple = mul.as_decimal()
    # 不低于 (at least): a fraction of a fen rounds up, the floor is never undercut
    rounding = ROUND_CEILING if rule.at_least else ROUND_HALF_UP
    amount = int((Decimal(std.as_int()) * multiple).quantize(Decimal(1), rounding=rounding))
    chosen = ""
    if mul.minimum is not None or mul.maximum is not None:
        chosen = f" ({refs['multiple']} default; the seed allows {mul.minimum}-{mul.maximum}x)"
    return _Priced(amount, f"{multiple.normalize():f}{chosen} x {refs['standard']} {yuan(std.as_int())}", [])


def _fixed(rule: AmountRule, figs: _Figures, profile: HouseholdProfile) -> _Priced:
    name = rule.refs()["fixed"]
    return _Priced(figs.get(name).as_int(), name, [])


def _fixed_by_area(rule: AmountRule, figs: _Figures, profile: HouseholdProfile) -> _Priced:
    role = "urban" if profile.urban else "rural"
    name = rule.refs()[role]
    return _Priced(figs.get(name).as_int(), f"{role} rate {name}", [])


def _installments(rule: AmountRule, figs: _Figures, profile: HouseholdProfile) -> _Priced:
    refs = rule.refs()
    total = figs.get(refs["total"])
    inst = figs.get(refs["installment"])
    count = figs.get(refs["count"])
    first = figs.get(refs["first_month"])
    year, month = (int(x) for x in str(first.value).split("-"))
    per_installment = inst.as_int() * (profile.household_size if rule.per == "person" else 1)
    plan = []
    for i in range(count.as_int()):
        y, mo = divmod(month - 1 + i, 12)
        plan.append(Installment(sequence=i + 1, month=f"{year + y:04d}-{mo + 1:02d}",
                                amount_fen=per_installment))
    how = f"{count.as_int()} monthly installments of {yuan(inst.as_int())} from {first.value}"
    return _Priced(total.as_int(), how, plan)


def _differential(rule: AmountRule, figs: _Figures, profile: HouseholdProfile) -> _Priced:
    name = rule.refs()["standard"]
    std = figs.get(name).as_int()
    amount = max(0, std * profile.household_size - profile.monthly_income_fen)
    how = (
        f"{name} {yuan(std)} x {profile.household_size} persons minus household "
        f"income {yuan(profile.monthly_income_fen)} (差额; add-ons are assessed separately)"
    )
    return _Priced(amount, how, [])


_PRICERS: dict[str, Callable[[AmountRule, _Figures, HouseholdProfile], _Priced]] = {
    "multiple_of_standard": _multiple_of_standard,
    "fixed": _fixed,
    "fixed_by_area": _fixed_by_area,
    "installments": _installments,
    "differential": _differential,
}


def _amount(lib: PolicyLibrary, m: Measure, code: str, on: date,
            profile: HouseholdProfile) -> tuple[int, str, list[str], list[Installment]]:
    """(amount in fen, how it was computed, the figures' citations, the installment plan if any)."""
    rule = m.amount
    if rule.kind == "not_fixed":
        raise _Missing(f"the seed fixes no amount: {rule.not_fixed_reason}")
    figs = _Figures(lib, code, on)
    amount, how, installments = _PRICERS[rule.kind](rule, figs, profile)
    # a differential is already the household's (standard x size - income); the rest may be per person
    if rule.kind != "differential" and rule.per == "person":
        if profile.household_size != 1:
            amount *= profile.household_size
            how += f", per person x {profile.household_size} persons"
        else:
            how += ", per person"
    return amount, how, figs.used, installments


# ---- a caseworker's assessed amount -------------------------------------------------------------------


def assess_request(lib: PolicyLibrary, measure: str, code: str, on: date, profile: HouseholdProfile,
                   requested_amount_fen: int) -> Entitlement:
    """A caseworker's assessed amount for temporary assistance (临时救助), bounded by the policy.

    Where the region's pack prices the measure, an "at least" figure is a floor the request is raised
    to, and a fixed figure replaces the request; where no pack in force prices it (the seeds leave
    many temporary-assistance amounts to the county), the caseworker's assessment stands, always
    with an economic status check and the normal approval tiers (seed 003: county and township
    two-level approval).
    """
    found = lib.measure_in_force(measure, code, on) if measure in MEASURE_IDS else None
    if found is None:
        return _unpriced(lib, measure, code, on, requested_amount_fen)
    ent = entitlement(lib, measure, code, on, profile)
    if found[1].amount.kind == "not_fixed":
        return _assessed(ent, found[1], requested_amount_fen)
    return _bounded(ent, requested_amount_fen)


def _assessed(ent: Entitlement, m: Measure, requested_amount_fen: int) -> Entitlement:
    """The measure's eligibility rules apply; only the amount is the caseworker's assessment."""
    if not ent.needs_assessment:
        return ent
    if requested_amount_fen <= 0:
        return ent.model_copy(update={"needs_assessment": True,
                                      "reason": f"{ent.reason}; the assessed amount must be positive"})
    return ent.model_copy(update={
        "payable": True, "needs_assessment": False, "amount_fen": requested_amount_fen, "amount_open": True,
        "reason": (f"{m.name_zh}: {requested_amount_fen} fen as assessed by the caseworker (the "
                   f"policy fixes no amount), subject to the approval tiers; {ent.reason}")})


def _bounded(ent: Entitlement, requested_amount_fen: int) -> Entitlement:
    """The policy prices the measure: a floor is raised to the request, a fixed amount replaces it."""
    if not ent.payable:
        return ent
    if ent.amount_is_minimum and requested_amount_fen > ent.amount_fen:
        return ent.model_copy(update={
            "amount_fen": requested_amount_fen, "floor_fen": ent.amount_fen,
            "reason": f"{ent.reason}; the caseworker assessed {requested_amount_fen} fen, above the minimum"})
    if ent.amount_is_minimum or requested_amount_fen == ent.amount_fen:
        return ent.model_copy(update={"reason": f"{ent.reason}; requested {requested_amount_fen} fen"})
    return ent.model_copy(update={
        "reason": f"{ent.reason}; the policy fixes the amount (requested {requested_amount_fen} fen)"})


def _unpriced(lib: PolicyLibrary, measure: str, code: str, on: date,
              requested_amount_fen: int) -> Entitlement:
    """No pack in force prices the measure: the caseworker's assessment stands, checked and tiered."""
    pack = lib.pack_for(code, on)
    return Entitlement(
        measure=measure, payable=True, amount_fen=requested_amount_fen,
        reason=(f"{measure}: no amount fixed by the policy in force for {code} on {on.isoformat()}; "
                f"{requested_amount_fen} fen as assessed by the caseworker, subject to the approval tiers "
                "and an economic status check"),
        pack_id=pack.pack_id if pack else None, pack_version=pack.version if pack else None,
        region_prefix=pack.region_prefix if pack else None, direct_payment=False,
        requires_application=True, economic_check_required=True, amount_open=True,
        citations=[], pathway="emergency_relief",
    )
