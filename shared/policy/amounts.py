"""How a measure's amount is computed (the amount rule of a pack's measure): every number is a reference
to a named figure of the pack, whose unit the rule's role fixes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, model_validator

from .figures import MONEY_UNITS


class Threshold(BaseModel):
    """A profile quantity that must reach a figure (e.g. medical self-pay >= 20,000 yuan)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    figure: StrictStr
    profile_field: Literal["annual_medical_self_pay_fen"]


AmountKind = Literal[
    "multiple_of_standard", "fixed", "fixed_by_area", "installments", "differential", "not_fixed"
]

AMOUNT_REFS: dict[str, tuple[str, ...]] = {
    "multiple_of_standard": ("standard", "multiple"),
    "fixed": ("fixed",),
    "fixed_by_area": ("urban", "rural"),
    "installments": ("total", "installment", "count", "first_month"),
    "differential": ("standard",),
    "not_fixed": (),
}
REF_UNITS: dict[str, frozenset[str]] = {
    "standard": frozenset({"fen_per_person_month"}),
    "multiple": frozenset({"multiple"}),
    "fixed": MONEY_UNITS,
    "urban": MONEY_UNITS,
    "rural": MONEY_UNITS,
    "total": frozenset({"fen"}),
    "installment": frozenset({"fen"}),
    "count": frozenset({"count"}),
    "first_month": frozenset({"month"}),
}


class AmountRule(BaseModel):
    """How a measure's amount is computed; every number is a reference to a named figure.

    - ``multiple_of_standard``: ``standard`` (fen/person/month) x ``multiple``
    - ``fixed``: the figure ``fixed``; ``fixed_by_area``: ``urban`` or ``rural`` by the profile
    - ``installments``: ``total`` paid as ``count`` x ``installment`` monthly from ``first_month``
    - ``differential``: ``standard`` x household size minus household income (差额)
    - ``not_fixed``: the seed fixes no amount; ``not_fixed_reason`` says who does
    ``per``: ``case`` = one amount per call; ``person`` = per person, multiplied by household_size.
    ``at_least``: the seed says 不低于 (a floor: more may be granted); fractions of a fen round up.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: AmountKind
    standard: StrictStr | None = None
    multiple: StrictStr | None = None
    fixed: StrictStr | None = None
    urban: StrictStr | None = None
    rural: StrictStr | None = None
    total: StrictStr | None = None
    installment: StrictStr | None = None
    count: StrictStr | None = None
    first_month: StrictStr | None = None
    per: Literal["case", "person"] = "case"
    at_least: StrictBool = False
    not_fixed_reason: StrictStr | None = None

    @model_validator(mode="after")
    def _refs_for_kind(self) -> AmountRule:
        needed = AMOUNT_REFS[self.kind]
        for ref in REF_UNITS:
            present = getattr(self, ref) is not None
            if ref in needed and not present:
                raise ValueError(f"{ref}: required for amount kind {self.kind}")
            if ref not in needed and present:
                raise ValueError(f"{ref}: not used by amount kind {self.kind}")
        if (self.kind == "not_fixed") != (self.not_fixed_reason is not None):
            raise ValueError("not_fixed_reason: required for kind not_fixed and only for it")
        return self

    def refs(self) -> dict[str, str]:
        """role -> figure name."""
        return {ref: getattr(self, ref) for ref in AMOUNT_REFS[self.kind]}
