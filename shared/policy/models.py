"""Pydantic models of the policy packs, the household profile and the entitlement answer.

Nothing here holds a policy number: the numbers live in ``packs/*.yaml``. This module fixes the
vocabulary (categories, pathways, measure ids) and the pack's validation rules; the figures and their
units are in ``figures.py``, the amount rules in ``amounts.py`` (both re-exported here).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from shared.contracts.pathways import MEASURES as PATHWAY_MEASURES
from shared.contracts.pathways import applied_measures, canonical, known_names

from .amounts import REF_UNITS as REF_UNITS
from .amounts import AmountKind, AmountRule, Threshold
from .figures import (
    DECIMAL_BOUNDS,
    DECIMAL_UNITS,
    INT_UNITS,
    MONEY_UNITS,
    NAME,
    SEED_FILES,
    UNITS,
    Citation,
    Figure,
    FigureValue,
    check_quote,
    check_seed,
)

__all__ = [
    "CATEGORIES", "DECIMAL_BOUNDS", "DECIMAL_UNITS", "INT_UNITS", "MEASURE_IDS", "MONEY_UNITS", "PATHWAYS",
    "SEED_FILES", "UNITS", "AmountKind", "AmountRule", "Citation", "EconomicTest", "Entitlement", "Figure",
    "FigureValue", "HouseholdProfile", "Installment", "Measure", "PolicyPack", "ServiceLevels", "Threshold",
]

# Household / person categories a profile may carry (and a measure may name).
CATEGORIES: frozenset[str] = frozenset(
    {
        "dibao",  # 低保对象
        "extreme_poverty",  # 特困人员
        "marginal",  # 低保边缘家庭 / 低收入家庭
        "low_income_db",  # 已纳入民政部门低收入人口数据库
        "orphan",  # 孤儿
        "street_person",  # 流浪乞讨人员
        "old_age_allowance",  # 领取高龄津贴人员
        "rural_revitalisation_certified",  # 乡村振兴部门认定的脱贫不稳定户、边缘易致贫户、突发严重困难户
        "de_facto_unsupported_child",  # 事实无人抚养儿童 (seeds 001, 003)
        "poverty_alleviated",  # 脱贫人口 (seed 001)
    }
)

# Pathway names a pack may write, older names included (shared/contracts/pathways.py maps them).
PATHWAYS: frozenset[str] = known_names()

# Measure ids, one vocabulary for every pack (a pack may define any subset): the measures a registered
# pathway applies (shared/contracts/pathways.py), so a pack cannot define a measure no pathway runs.
MEASURE_IDS: dict[str, str] = {m: d for m, d in PATHWAY_MEASURES.items() if m in applied_measures()}


def _check_categories(values: tuple[str, ...], field: str) -> tuple[str, ...]:
    unknown = [c for c in values if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"{field}: unknown categories {unknown}; known: {sorted(CATEGORIES)}")
    if len(set(values)) != len(values):
        raise ValueError(f"{field}: duplicate categories {list(values)}")
    return values



EconomicTest = Literal["dibao_standard", "low_income_line", "expenditure"]


class Measure(BaseModel):
    """A payable (or data-only) measure of a pack, with its eligibility metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name_zh: StrictStr
    name_en: StrictStr
    pathway: StrictStr
    seed: StrictStr
    quote: StrictStr
    note: StrictStr | None = None
    effective_from: date | None = None  # defaults to the pack's window
    effective_to: date | None = None
    # A measure priced by a standard the notice ties to the dibao standard (seed 002 「严格落实城乡特困和
    # 临时救助标准与城乡低保标准挂钩机制」): like the standards it prices, it stays in force after its pack's
    # temporary measures end, until a later pack for the region defines the measure again.
    standard_linked: StrictBool = False
    eligible_categories: tuple[str, ...] = ()  # empty: not restricted by category
    others_eligible: StrictBool = False  # households outside eligible_categories may qualify (check applies)
    excluded_categories: tuple[str, ...] = ()  # e.g. 未纳入低保范围: not for people already on dibao
    requires_uninsured: StrictBool = False  # 失业保险政策无法覆盖: profile.unemployment_insured must be False
    threshold: Threshold | None = None
    direct_payment: StrictBool = False  # the seed says 直接给予 / 直接发放 / 直接实施
    requires_application: StrictBool = False  # the seed says 经本人申请
    economic_check: Literal["required", "not_required"] = "required"
    # categories that skip the check (不再进行家庭经济状况核查)
    economic_check_waived_for: tuple[str, ...] = ()
    # the line the check compares income with: the dibao standard (enrolment), the low-income line
    # (one-off aid to people 生活困难, marginal households included), or the expenditure test (支出型: income
    # minus rigid expenditure under the standard, seed 004 item 7)
    economic_test: EconomicTest = "dibao_standard"
    # one payment per person and incident, or per household and incident (家庭: seeds 001/002 quarantine)
    once_per: Literal["person_incident", "household_incident"] = "person_incident"
    amount: AmountRule

    _seed = field_validator("seed")(check_seed)
    _quote = field_validator("quote")(check_quote)

    @field_validator("pathway")
    @classmethod
    def _pathway(cls, v: str) -> str:
        if v not in PATHWAYS:
            raise ValueError(f"unknown pathway {v!r}; one of {sorted(PATHWAYS)}")
        return canonical(v)  # one vocabulary: an older name (event_one_off ...) reads as the registry's key

    @field_validator("eligible_categories", "excluded_categories", "economic_check_waived_for")
    @classmethod
    def _categories(cls, v: tuple[str, ...], info: Any) -> tuple[str, ...]:
        return _check_categories(v, info.field_name)

    @model_validator(mode="after")
    def _consistent(self) -> Measure:
        if self.effective_from and self.effective_to and self.effective_from > self.effective_to:
            raise ValueError(
                f"effective_from {self.effective_from} is after effective_to {self.effective_to}"
            )
        both = set(self.eligible_categories) & set(self.excluded_categories)
        if both:
            raise ValueError(f"excluded_categories: {sorted(both)} also listed as eligible")
        if self.economic_check == "not_required" and self.economic_check_waived_for:
            raise ValueError("economic_check_waived_for: pointless when economic_check is not_required")
        if self.others_eligible and not self.eligible_categories:
            raise ValueError("others_eligible: only meaningful with eligible_categories")
        if self.standard_linked and self.effective_to is not None:
            raise ValueError("effective_to: a standard-linked measure is in force until replaced")
        return self

    def in_force(self, on: date) -> bool:
        assert self.effective_from is not None  # filled in by PolicyPack
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def window(self) -> str:
        return f"{self.effective_from}..{self.effective_to if self.effective_to else '(no end date)'}"

    def cite(self) -> str:
        return f"{self.seed}: 「{self.quote}」"


class ServiceLevels(BaseModel):
    """Operational deadlines of the pathways: local practice, not fixed by any seed (the seeds say
    "assist first, document later" and "small amounts first, explain afterwards" without a period).
    ``basis`` must say who set them and why; a more specific pack may override them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document_deadline_days: int = Field(ge=1, le=365)
    document_reminder_days_before: tuple[int, ...] = ()
    county_decision_sla_hours: int = Field(ge=1, le=24 * 30)
    county_decision_reminder_hours: int = Field(ge=1, le=24 * 30)
    reserve_retry_minutes: int = Field(ge=1, le=24 * 60)
    outreach_window_days: int = Field(default=90, ge=1, le=366)
    # one matter, one discussion (一事一议): above this need a case goes to the county coordination
    # committee; members give opinions within the days; quorum is a share of the roster (percent);
    # the decision follows the majority of the opinions given.
    committee_threshold_fen: int = Field(default=1_000_000, ge=1)
    committee_opinion_days: int = Field(default=7, ge=1, le=90)
    committee_quorum_percent: int = Field(default=50, ge=1, le=100)
    # a measure whose amount the seed leaves to the county: a caseworker assesses it within these days
    assessment_deadline_days: int = Field(default=5, ge=1, le=90)
    basis: StrictStr

    @model_validator(mode="after")
    def _consistent(self) -> ServiceLevels:
        if any(d <= 0 or d >= self.document_deadline_days for d in self.document_reminder_days_before):
            raise ValueError("document reminders must fall inside the document deadline")
        if self.county_decision_reminder_hours >= self.county_decision_sla_hours:
            raise ValueError("the county decision reminder must come before its deadline")
        return self


class PolicyPack(BaseModel):
    """One region's policy pack version (one YAML file)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pack_id: StrictStr = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    version: StrictStr = Field(pattern=r"^\d{4}\.\d+$")
    region_prefix: StrictStr = Field(pattern=r"^(\d{2}|\d{4}|\d{6})?$")  # "" = national baseline
    region_name_en: StrictStr
    region_name_zh: StrictStr
    title_zh: StrictStr
    document_number: StrictStr | None = None
    seed: StrictStr
    effective_from: date
    effective_to: date | None = None
    validity: tuple[Citation, ...] = Field(min_length=1)  # the seed text behind the dates
    note: StrictStr | None = None
    figures: dict[str, Figure] = Field(default_factory=dict)
    measures: dict[str, Measure] = Field(default_factory=dict)
    service_levels: ServiceLevels | None = None
    source_file: StrictStr | None = None  # set by the loader

    _seed = field_validator("seed")(check_seed)

    @field_validator("figures")
    @classmethod
    def _figure_names(cls, v: dict[str, Figure]) -> dict[str, Figure]:
        bad = [k for k in v if not NAME.match(k)]
        if bad:
            raise ValueError(f"figure names must be snake_case: {bad}")
        return v

    @field_validator("measures")
    @classmethod
    def _measure_ids(cls, v: dict[str, Measure]) -> dict[str, Measure]:
        unknown = [k for k in v if k not in MEASURE_IDS]
        if unknown:
            raise ValueError(f"unknown measure ids {unknown}; known: {sorted(MEASURE_IDS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PolicyPack:
        if self.effective_to is not None and self.effective_from > self.effective_to:
            raise ValueError(
                f"effective_from {self.effective_from} is after effective_to {self.effective_to}"
            )
        measures: dict[str, Measure] = {}
        for mid, m in self.measures.items():
            start, end = self._measure_window(mid, m)
            self._check_amount_figures(mid, m)
            self._check_threshold_figure(mid, m)
            measures[mid] = m.model_copy(update={"effective_from": start, "effective_to": end})
        object.__setattr__(self, "measures", measures)
        return self

    def _measure_window(self, mid: str, m: Measure) -> tuple[date, date | None]:
        """The measure's window, defaulted to the pack's and inside it (a standard-linked measure may
        outlive it: it is in force until replaced)."""
        start = m.effective_from or self.effective_from
        end = m.effective_to if m.effective_to is not None or m.standard_linked else self.effective_to
        if start < self.effective_from or (
            not m.standard_linked and self.effective_to is not None
            and (end is None or end > self.effective_to)
        ):
            raise ValueError(
                f"measures.{mid}: window {start}..{end} lies outside the pack window "
                f"{self.effective_from}..{self.effective_to}"
            )
        if end is not None and start > end:
            raise ValueError(f"measures.{mid}: effective_from {start} is after effective_to {end}")
        return start, end

    def _check_amount_figures(self, mid: str, m: Measure) -> None:
        """Every figure the amount rule names is declared here, in the unit its role needs; installments
        add up to the total."""
        for role, fname in m.amount.refs().items():
            fig = self.figures.get(fname)
            if fig is None:
                raise ValueError(
                    f"measures.{mid}.amount.{role}: figure {fname!r} is not declared in this pack")
            if fig.unit not in REF_UNITS[role]:
                raise ValueError(
                    f"measures.{mid}.amount.{role}: figure {fname!r} has unit {fig.unit}, "
                    f"expected one of {sorted(REF_UNITS[role])}"
                )
        if m.amount.kind != "installments":
            return
        refs = m.amount.refs()
        figures = [self.figures[refs[r]] for r in ("total", "installment", "count")]
        if any(f.value is None for f in figures):
            return
        total, inst, count = (f.as_int() for f in figures)
        if inst * count != total:
            raise ValueError(
                f"measures.{mid}.amount: {count} installments of {inst} fen do not make the total {total}"
            )

    def _check_threshold_figure(self, mid: str, m: Measure) -> None:
        if m.threshold is None:
            return
        fig = self.figures.get(m.threshold.figure)
        if fig is None or fig.unit not in MONEY_UNITS or fig.inclusive is None:
            raise ValueError(
                f"measures.{mid}.threshold.figure: {m.threshold.figure!r} must be a money figure "
                "of this pack with 'inclusive' set"
            )

    def matches(self, region_code: str) -> bool:
        return region_code.startswith(self.region_prefix)

    def in_force(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def window(self) -> str:
        return f"{self.effective_from}..{self.effective_to if self.effective_to else '(no end date)'}"

    def overlaps(self, other: PolicyPack) -> bool:
        a_end = self.effective_to or date.max
        b_end = other.effective_to or date.max
        return self.effective_from <= b_end and other.effective_from <= a_end


class HouseholdProfile(BaseModel):
    """Facts of the person/household at the business date (nothing else is consulted)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    categories: frozenset[str] = frozenset()
    urban: StrictBool = True
    household_size: StrictInt = Field(default=1, ge=1)
    monthly_income_fen: StrictInt = Field(default=0, ge=0)  # household total
    unemployment_insured: StrictBool | None = None
    # Yearly policy-scope self-pay after basic insurance and critical-illness insurance (medical_self_pay).
    annual_medical_self_pay_fen: StrictInt | None = Field(default=None, ge=0)

    def unknown_categories(self) -> list[str]:
        """Categories outside ``CATEGORIES``. They are accepted (a profile is built inside workflow code
        from registry data, where a validation error would wedge the workflow) but match no measure,
        and every entitlement reason names them."""
        return sorted(self.categories - CATEGORIES)


class Installment(BaseModel):
    model_config = ConfigDict(frozen=True)

    sequence: int  # 1-based
    month: str  # YYYY-MM
    amount_fen: int


class Entitlement(BaseModel):
    measure: str
    payable: bool
    amount_fen: int  # 0 when not payable
    reason: str
    pack_id: str | None
    pack_version: str | None
    region_prefix: str | None
    direct_payment: bool = False
    requires_application: bool = False
    economic_check_required: bool = True
    citations: list[str] = Field(default_factory=list)
    # additions beyond the agreed shape (all defaulted, so callers may ignore them):
    amount_is_minimum: bool = False  # the seed says 不低于: a floor, more may be granted
    # the policy's own floor when a caseworker's assessment raised the amount above it (不低于)
    floor_fen: int | None = None
    # the policy fixes no amount: the figure is a caseworker's assessment, bounded only by the tiers'
    # authority
    amount_open: bool = False
    installments: list[Installment] = Field(default_factory=list)  # staged payment plan, if any
    pathway: str | None = None
    # eligible, but the seed leaves the amount to the county: a caseworker assesses it (payable stays False
    # until the assessed amount is evaluated with ``assess_request``)
    needs_assessment: bool = False
    economic_test: str = "dibao_standard"  # Measure.economic_test: which line the economic check applies
