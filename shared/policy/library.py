"""Loading the packs and answering questions about them (pure after the one-time load)."""

from __future__ import annotations

import functools
import os
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from . import standards
from .models import (
    MEASURE_IDS,
    Entitlement,
    Figure,
    HouseholdProfile,
    Installment,
    Measure,
    PolicyPack,
    ServiceLevels,
)

PACKS_DIR = Path(__file__).parent / "packs"
_REGION_CODE_LENGTHS = frozenset({2, 4, 6, 9, 12})


class PolicyPackError(ValueError):
    """A pack file (or the set of packs) is invalid; the message names the file and the field."""


class UnknownMeasureError(ValueError):
    """No pack in the library defines this measure id: a programming error, not a business outcome."""


def _check_region_code(region_code: str) -> str:
    if (
        not isinstance(region_code, str)
        or not region_code.isdigit()
        or len(region_code) not in _REGION_CODE_LENGTHS
    ):
        raise ValueError(
            f"region_code {region_code!r}: expected a GB/T 2260 code of 2, 4, 6 digits, "
            "or 9/12 digits with township/village parts"
        )
    return region_code


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d} yuan ({fen} fen)"


def _fmt_multiple(m: Decimal) -> str:
    return f"{m.normalize():f}"


_TEST_TEXT = {
    "dibao_standard": "income under the dibao standard",
    "low_income_line": "income under the low-income line (低收入/低保边缘), not the dibao standard",
    "expenditure": "expenditure type (支出型): income after rigid expenditure under the dibao standard",
}


class _Missing(Exception):
    """An amount cannot be computed (a figure is not configured, or the seed fixes none)."""


class PolicyLibrary(BaseModel):
    """All packs, validated together. Read-only: share the cached instance, never mutate it."""

    model_config = ConfigDict(frozen=True)

    packs: list[PolicyPack]

    @model_validator(mode="after")
    def _cross_pack(self) -> PolicyLibrary:
        seen: dict[tuple[str, str], PolicyPack] = {}
        ids: dict[str, PolicyPack] = {}
        for p in self.packs:
            where = p.source_file or p.pack_id
            key = (p.region_prefix, p.version)
            if key in seen:
                raise ValueError(
                    f"{where}: version: duplicate pack (prefix {p.region_prefix!r}, version {p.version}) "
                    f"also in {seen[key].source_file or seen[key].pack_id}"
                )
            seen[key] = p
            if p.pack_id in ids and ids[p.pack_id].version == p.version:
                raise ValueError(f"{where}: pack_id: {p.pack_id} version {p.version} defined twice")
            ids[p.pack_id] = p
        for i, a in enumerate(self.packs):
            for b in self.packs[i + 1 :]:
                if a.region_prefix == b.region_prefix and a.overlaps(b):
                    raise ValueError(
                        f"{b.source_file or b.pack_id}: effective_from: window {b.window()} overlaps "
                        f"{a.source_file or a.pack_id} ({a.window()}) for the same region prefix {a.region_prefix!r}"
                    )
        # A more specific pack may set or override a figure, but only within the range an enclosing pack
        # declares for it (e.g. a prefecture choosing Jiangxi's 2-4x multiple).
        for child in self.packs:
            for parent in self.packs:
                if parent is child or not child.region_prefix.startswith(parent.region_prefix):
                    continue
                if len(parent.region_prefix) >= len(child.region_prefix) or not parent.overlaps(child):
                    continue
                for name, fig in child.figures.items():
                    pf = parent.figures.get(name)
                    if pf is None or fig.value is None:
                        continue
                    if pf.unit != fig.unit:
                        raise ValueError(
                            f"{child.source_file or child.pack_id}: figures.{name}.unit: {fig.unit} differs from "
                            f"{pf.unit} in {parent.source_file or parent.pack_id}"
                        )
                    low, high = pf.minimum, pf.maximum
                    if (low is not None and fig.value < low) or (high is not None and fig.value > high):  # type: ignore[operator]
                        raise ValueError(
                            f"{child.source_file or child.pack_id}: figures.{name}.value: {fig.value} outside the "
                            f"range {low}..{high} declared by {parent.source_file or parent.pack_id}"
                        )
        return self

    # ---- lookups -------------------------------------------------------------------------------------

    def _in_force(self, region_code: str, on: date) -> list[PolicyPack]:
        """Packs matching the region and in force on the date, most specific first."""
        code = _check_region_code(region_code)
        found = [p for p in self.packs if p.matches(code) and p.in_force(on)]
        return sorted(found, key=lambda p: len(p.region_prefix), reverse=True)

    def pack_for(self, region_code: str, on: date) -> PolicyPack | None:
        """The most specific pack (longest region prefix) in force on the date, or None."""
        found = self._in_force(region_code, on)
        return found[0] if found else None

    def _resolve(self, name: str, region_code: str, on: date) -> tuple[Figure, PolicyPack] | None:
        """The most specific in-force value of a figure; a value-less declaration only if none has a value.
        A standard (``standards.STANDARD_FIGURES``) is in force until replaced: the register answers."""
        if standards.is_standard(name):
            entry = standards.entry(self, name, _check_region_code(region_code), on)
            return (entry.figure, entry.pack) if entry is not None else standards.declared(self, name, region_code, on)
        declared: tuple[Figure, PolicyPack] | None = None
        for p in self._in_force(region_code, on):
            fig = p.figures.get(name)
            if fig is None:
                continue
            if fig.value is not None:
                return fig, p
            declared = declared or (fig, p)
        return declared

    def parameter(self, name: str, region_code: str, on: date) -> Figure | None:
        """Any named figure as it applies to the region on the date (None: no pack in force declares it)."""
        found = self._resolve(name, region_code, on)
        return found[0] if found else None

    def service_levels(self, region_code: str, on: date) -> ServiceLevels:
        """The operational deadlines in force for the region: the most specific pack that sets them."""
        for p in self._in_force(region_code, on):
            if p.service_levels is not None:
                return p.service_levels
        for p in sorted(self.packs, key=lambda p: p.effective_from, reverse=True):
            if p.region_prefix == "" and p.service_levels is not None:
                return p.service_levels  # the national baseline's, even outside a regional window
        raise LookupError(f"no pack sets service levels for {region_code} on {on}")

    def job_loss_gap(self, region_code: str, last_income_month: str, reported_on: date) -> tuple[bool, date, str]:
        """"连续3个月无收入来源" (seed 002): the months without income after ``last_income_month`` (YYYY-MM)
        must be complete by the report. Returns (met, the date the gap completed, why)."""
        figure = self.parameter("job_loss_months_without_income", region_code, reported_on)
        if figure is None or figure.value is None:
            return False, reported_on, f"no pack in force for {region_code} on {reported_on} sets the months without income"
        months = int(figure.value)
        year, month = (int(x) for x in last_income_month.split("-"))
        index = year * 12 + (month - 1) + months + 1  # the first day after the gap
        completed = date(index // 12, index % 12 + 1, 1)
        if reported_on < completed:
            return False, completed, (f"not yet {months} consecutive months without income: last income "
                                      f"{last_income_month}, reported {reported_on.isoformat()} "
                                      f"(complete on {completed.isoformat()}; {figure.seed})")
        return True, completed, f"{months} consecutive months without income since {last_income_month}"

    def township_limit_fen(self, region_code: str, on: date) -> int | None:
        """The amount a township may approve for temporary assistance; None = the packs set no limit.

        Read it with ``township_limit_inclusive`` (or use ``township_may_approve``): Xinjiang's limit
        of 200000 fen is inclusive ("2000元以下": in Chinese legal usage 以下 includes the figure), so
        200000 fen itself is the largest amount the township approves on the county's behalf.
        """
        fig = self.parameter("township_approval_limit_fen", region_code, on)
        return fig.value if fig is not None and isinstance(fig.value, int) else None

    def township_limit_inclusive(self, region_code: str, on: date) -> bool | None:
        fig = self.parameter("township_approval_limit_fen", region_code, on)
        return None if fig is None or fig.value is None else bool(fig.inclusive)

    def township_may_approve(self, region_code: str, on: date, amount_fen: int) -> bool | None:
        """True/False against the township limit; None when no pack in force sets one."""
        limit = self.township_limit_fen(region_code, on)
        if limit is None:
            return None
        return amount_fen <= limit if self.township_limit_inclusive(region_code, on) else amount_fen < limit

    def measure(self, measure: str, region_code: str, on: date) -> Measure | None:
        """The measure metadata that applies to the region on the date (most specific pack), or None."""
        found = self._measure_in_force(measure, region_code, on)
        return found[1] if found else None

    def _measure_in_force(
        self, measure: str, region_code: str, on: date
    ) -> tuple[PolicyPack, Measure] | None:
        """The measure as the most specific region's newest pack defines it on the date: a measure of a
        pack in force, or a standard-linked one (``Measure.standard_linked``) that has outlived its
        pack's window and no later pack of that region has redefined."""
        code = _check_region_code(region_code)
        found: list[tuple[PolicyPack, Measure]] = []
        for p in self.packs:
            m = p.measures.get(measure)
            if m is None or not p.matches(code) or not m.in_force(on):
                continue
            if p.in_force(on) or m.standard_linked:
                found.append((p, m))
        if not found:
            return None
        # most specific region first; within it, the newest definition replaces older ones
        return max(found, key=lambda pm: (len(pm[0].region_prefix), pm[1].effective_from))

    # ---- evaluation ------------------------------------------------------------------------------------

    def assess_request(self, measure: str, region_code: str, on: date, profile: HouseholdProfile,
                       requested_amount_fen: int) -> Entitlement:
        """A caseworker's assessed amount for temporary assistance (临时救助), bounded by the policy.

        Where the region's pack prices the measure, an "at least" figure is a floor the request is raised
        to, and a fixed figure replaces the request; where no pack in force prices it (the seeds leave
        many temporary-assistance amounts to the county), the caseworker's assessment stands, always
        with an economic status check and the normal approval tiers (seed 003: county and township
        two-level approval).
        """
        code = _check_region_code(region_code)
        found = self._measure_in_force(measure, code, on) if measure in MEASURE_IDS else None
        if found is not None and found[1].amount.kind == "not_fixed":
            # the measure's eligibility rules still apply; only the amount is the caseworker's assessment
            ent = self.entitlement(measure, code, on, profile)
            if not ent.needs_assessment:
                return ent
            if requested_amount_fen <= 0:
                return ent.model_copy(update={"needs_assessment": True, "reason":
                                              f"{ent.reason}; the assessed amount must be positive"})
            return ent.model_copy(update={
                "payable": True, "needs_assessment": False, "amount_fen": requested_amount_fen, "amount_open": True,
                "reason": (f"{found[1].name_zh}: {requested_amount_fen} fen as assessed by the caseworker (the "
                           f"policy fixes no amount), subject to the approval tiers; {ent.reason}")})
        if found is not None:
            ent = self.entitlement(measure, code, on, profile)
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
        pack = self.pack_for(code, on)
        what = found[1].name_zh if found is not None else measure
        return Entitlement(
            measure=measure, payable=True, amount_fen=requested_amount_fen,
            reason=(f"{what}: no amount fixed by the policy in force for {code} on {on.isoformat()}; "
                    f"{requested_amount_fen} fen as assessed by the caseworker, subject to the approval tiers "
                    "and an economic status check"),
            pack_id=pack.pack_id if pack else None, pack_version=pack.version if pack else None,
            region_prefix=pack.region_prefix if pack else None, direct_payment=False,
            requires_application=True, economic_check_required=True, amount_open=True,
            citations=[f"{found[0].seed}: 「{found[1].quote}」"] if found is not None else [],
            pathway="emergency_relief",
        )

    def entitlement(self, measure: str, region_code: str, on: date, profile: HouseholdProfile) -> Entitlement:
        """What the profile is entitled to under ``measure`` in the region on the business date.

        Pure and deterministic: reads only the loaded packs and the arguments.
        Raises UnknownMeasureError for an id no pack defines and ValueError for a malformed region code.
        """
        code = _check_region_code(region_code)
        if measure not in MEASURE_IDS or not any(measure in p.measures for p in self.packs):
            raise UnknownMeasureError(f"no policy pack defines measure {measure!r}")

        found = self._measure_in_force(measure, code, on)
        if found is None:
            return self._not_in_force(measure, code, on)
        pack, m = found
        label = f"{pack.region_name_en} {measure} ({m.name_zh})"
        cats = profile.categories

        unknown = profile.unknown_categories()
        ignored = f" [unknown categories ignored: {', '.join(unknown)}]" if unknown else ""

        def answer(payable: bool, reason: str, **kw: Any) -> Entitlement:
            reason += ignored
            return Entitlement(
                measure=measure,
                payable=payable,
                amount_fen=kw.pop("amount_fen", 0) if payable else 0,
                reason=reason,
                pack_id=pack.pack_id,
                pack_version=pack.version,
                region_prefix=pack.region_prefix,
                direct_payment=m.direct_payment,
                requires_application=m.requires_application,
                economic_check_required=kw.pop("economic_check_required", m.economic_check == "required"),
                citations=kw.pop("citations", [m.cite()]),
                pathway=m.pathway,
                economic_test=m.economic_test,
                **kw,
            )

        excluded = sorted(cats & set(m.excluded_categories))
        if excluded:
            return answer(False, f"not eligible: {label} is not for people already in {', '.join(excluded)}")
        if m.requires_uninsured:
            if profile.unemployment_insured is True:
                return answer(
                    False,
                    f"not eligible: {label} is for people not covered by unemployment insurance "
                    "(失业保险政策无法覆盖); this person is insured",
                )
            if profile.unemployment_insured is None:
                return answer(
                    False,
                    f"not yet decidable: {label} is only for the uninsured; unemployment insurance status "
                    "is unknown (set unemployment_insured=False once confirmed)",
                )
        in_category = bool(cats & set(m.eligible_categories))
        if m.eligible_categories and not in_category and not m.others_eligible:
            have = ", ".join(sorted(cats)) or "none"
            return answer(
                False,
                f"not eligible: {label} is for categories {', '.join(m.eligible_categories)}; "
                f"the profile has {have}",
            )

        citations = [m.cite()]
        if m.threshold is not None:
            resolved = self._resolve(m.threshold.figure, code, on)
            assert resolved is not None  # validated: the measure's own pack declares it
            fig = resolved[0]
            citations.append(fig.cite())
            have_value = getattr(profile, m.threshold.profile_field)
            if fig.value is None:
                return answer(
                    False, f"not payable: {label}: threshold {m.threshold.figure} is not configured"
                )
            if have_value is None:
                return answer(
                    False, f"not yet decidable: {label} needs {m.threshold.profile_field}; it is unknown"
                )
            limit: int = fig.value  # type: ignore[assignment]
            reached = have_value >= limit if fig.inclusive else have_value > limit
            if not reached:
                rel = "at least" if fig.inclusive else "more than"
                return answer(
                    False,
                    f"not eligible: {label} needs {m.threshold.profile_field} {rel} {_yuan(limit)}; "
                    f"the profile has {_yuan(have_value)}",
                    citations=citations,
                )

        if m.economic_check == "not_required":
            check, check_text = False, "no economic status check (eligibility is by category)"
        else:
            waived = sorted(self._waiver_categories(cats, code, on, citations) & set(m.economic_check_waived_for))
            if waived:
                check = False
                check_text = (
                    f"no economic status check: already {', '.join(waived)} (不再进行家庭经济状况核查)"
                )
            else:
                check, check_text = True, f"economic status check required ({_TEST_TEXT[m.economic_test]})"

        if m.amount.kind == "not_fixed":
            # 「发放一次性临时救助金」「直接实施临时救助」 with no amount: eligible, and the county's caseworker
            # assesses the amount, which the approval tiers then decide (never a silent not_payable)
            return answer(
                False,
                f"{label}: eligible; the seed fixes no amount ({m.amount.not_fixed_reason}): a caseworker "
                f"assesses it, then the approval tiers decide; {check_text}",
                economic_check_required=check, citations=citations, needs_assessment=True,
            )
        try:
            amount, how, used, installments = self._amount(m, code, on, profile)
        except _Missing as missing:
            return answer(False, f"not payable: {label}: {missing}", citations=citations)
        citations.extend(c for c in used if c not in citations)
        if amount <= 0:
            return answer(False, f"not payable: {label}: {how}", citations=citations)
        if m.others_eligible and not in_category:
            check_text += (
                f"; outside {', '.join(m.eligible_categories)} the household qualifies only if the event "
                "caused temporary hardship"
            )
        how_paid = (
            "paid directly, no application (直接给予)"
            if m.direct_payment
            else "on the person's application (经本人申请)"
            if m.requires_application
            else "no application stated by the seed"
        )
        floor = " at least" if m.amount.at_least else ""
        reason = f"{label}:{floor} {_yuan(amount)} = {how}; {check_text}; {how_paid}"
        return answer(
            True,
            reason,
            amount_fen=amount,
            economic_check_required=check,
            citations=citations,
            amount_is_minimum=m.amount.at_least,
            installments=installments,
        )

    def _waiver_categories(self, cats: frozenset[str], code: str, on: date, citations: list[str]) -> frozenset[str]:
        """The profile's categories as the waiver reads them: a 低保边缘 (marginal) household counts as listed
        in the low-income database where a pack in force says marginal households are monitored there
        (seed 002 「对纳入低收入人口监测范围的低保对象、特困人员、低保边缘家庭」)."""
        if "marginal" not in cats or "low_income_db" in cats:
            return cats
        fig = self.parameter("marginal_households_in_low_income_db", code, on)
        if fig is None or fig.value is not True:
            return cats
        if fig.cite() not in citations:
            citations.append(fig.cite())
        return cats | {"low_income_db"}

    def _not_in_force(self, measure: str, code: str, on: date) -> Entitlement:
        defining = [p for p in self.packs if p.matches(code) and measure in p.measures]
        current = self.pack_for(code, on)
        if not defining:
            where = f"pack in force: {current.pack_id} {current.version}" if current else "no pack in force"
            return Entitlement(
                measure=measure,
                payable=False,
                amount_fen=0,
                reason=f"not available: no policy pack for region {code} defines measure {measure} ({where} on {on})",
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

    def _figure(self, name: str, code: str, on: date, used: list[str]) -> Figure:
        resolved = self._resolve(name, code, on)
        if resolved is None:
            raise _Missing(f"figure {name} is not declared by any pack in force for region {code}")
        fig, pack = resolved
        used.append(fig.cite())
        if fig.value is None:
            rng = f" (allowed range {fig.minimum}..{fig.maximum})" if fig.minimum is not None else ""
            raise _Missing(
                f"{name} is set by the {fig.set_by}{rng}; no pack in force for region {code} "
                f"on {on} configures it ({pack.region_name_en} pack {pack.pack_id} leaves it open)"
            )
        return fig

    def _amount(
        self, m: Measure, code: str, on: date, profile: HouseholdProfile
    ) -> tuple[int, str, list[str], list[Installment]]:
        rule = m.amount
        refs = rule.refs()
        used: list[str] = []
        installments: list[Installment] = []
        rounding = ROUND_CEILING if rule.at_least else ROUND_HALF_UP

        if rule.kind == "not_fixed":
            raise _Missing(f"the seed fixes no amount: {rule.not_fixed_reason}")
        if rule.kind == "multiple_of_standard":
            std = self._figure(refs["standard"], code, on, used)
            mul = self._figure(refs["multiple"], code, on, used)
            multiple: Decimal = mul.value  # type: ignore[assignment]
            base = (Decimal(std.value) * multiple).quantize(Decimal(1), rounding=rounding)  # type: ignore[arg-type]
            chosen = ""
            if mul.minimum is not None or mul.maximum is not None:
                chosen = f" ({refs['multiple']} default; the seed allows {mul.minimum}-{mul.maximum}x)"
            how = f"{_fmt_multiple(multiple)}{chosen} x {refs['standard']} {_yuan(std.value)}"  # type: ignore[arg-type]
            amount = int(base)
        elif rule.kind == "fixed":
            fig = self._figure(refs["fixed"], code, on, used)
            amount = fig.value  # type: ignore[assignment]
            how = f"{refs['fixed']}"
        elif rule.kind == "fixed_by_area":
            role = "urban" if profile.urban else "rural"
            fig = self._figure(refs[role], code, on, used)
            amount = fig.value  # type: ignore[assignment]
            how = f"{role} rate {refs[role]}"
        elif rule.kind == "installments":
            total = self._figure(refs["total"], code, on, used)
            inst = self._figure(refs["installment"], code, on, used)
            count = self._figure(refs["count"], code, on, used)
            first = self._figure(refs["first_month"], code, on, used)
            year, month = (int(x) for x in str(first.value).split("-"))
            per_inst: int = inst.value  # type: ignore[assignment]
            n: int = count.value  # type: ignore[assignment]
            if rule.per == "person":
                per_inst *= profile.household_size
            for i in range(n):
                y, mo = divmod(month - 1 + i, 12)
                installments.append(
                    Installment(sequence=i + 1, month=f"{year + y:04d}-{mo + 1:02d}", amount_fen=per_inst)
                )
            amount = total.value  # type: ignore[assignment]
            how = f"{n} monthly installments of {_yuan(inst.value)} from {first.value}"  # type: ignore[arg-type]
        elif rule.kind == "differential":
            std = self._figure(refs["standard"], code, on, used)
            need = std.value * profile.household_size  # type: ignore[operator]
            amount = max(0, need - profile.monthly_income_fen)
            how = (
                f"{refs['standard']} {_yuan(std.value)} x {profile.household_size} persons minus household "  # type: ignore[arg-type]
                f"income {_yuan(profile.monthly_income_fen)} (差额; add-ons are assessed separately)"
            )
            return amount, how, used, installments
        else:  # pragma: no cover - guarded by the AmountRule Literal
            raise _Missing(f"unknown amount kind {rule.kind}")

        if rule.per == "person" and profile.household_size != 1:
            amount *= profile.household_size
            how += f", per person x {profile.household_size} persons"
        elif rule.per == "person":
            how += ", per person"
        return amount, how, used, installments


# ---- loading ----------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (a silent override would hide a typo)."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _format_validation(file: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(pack)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{file}: {loc}: {msg}")
    return "\n".join(lines)


def load_pack(path: Path) -> PolicyPack:
    """Load and validate one pack file; PolicyPackError names the file and the field."""
    name = path.name
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise PolicyPackError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyPackError(f"{name}: (pack): expected a mapping at the top level")
    if "source_file" in data:
        raise PolicyPackError(f"{name}: source_file: set by the loader, not by the pack")
    try:
        return PolicyPack.model_validate({**data, "source_file": name})
    except ValidationError as exc:
        raise PolicyPackError(_format_validation(name, exc)) from exc


def load_library(path: str | os.PathLike[str] | None = None) -> PolicyLibrary:
    """Load and validate every ``*.yaml`` pack in ``path`` (default: the packs shipped with this package,
    plus the deployment's own local packs in ``DOUDI_POLICY_LOCAL_DIR``: a prefecture's or county's
    configuration, e.g. the local dibao standard a provincial notice leaves to them).

    Cached: the first call does the I/O, later calls return the same read-only library.
    """
    if path is not None:
        return _load((Path(path),))
    local = os.environ.get("DOUDI_POLICY_LOCAL_DIR")
    return _load((PACKS_DIR, Path(local)) if local else (PACKS_DIR,))


@functools.cache
def _load(folders: tuple[Path, ...]) -> PolicyLibrary:
    files = sorted(f for folder in folders for f in folder.glob("*.yaml"))
    if not files:
        raise PolicyPackError(f"{', '.join(map(str, folders))}: no *.yaml policy packs found")
    packs = [load_pack(f) for f in files]
    try:
        return PolicyLibrary(packs=packs)
    except ValidationError as exc:
        raise PolicyPackError(
            "\n".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        ) from exc
