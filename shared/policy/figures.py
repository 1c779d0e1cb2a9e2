"""Policy figures: the units a pack may use, exact coercion of raw YAML values, and the seed citation
every figure carries. Floats are refused on load: money is integer fen, multiples and ratios exact
``Decimal`` (see ``shared/policy/__init__.py`` for the pack format).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, field_validator, model_validator

# The only documents a figure may cite (../shared/seeds/<file>).
SEED_FILES: frozenset[str] = frozenset(
    {
        "000_9c8be97751f7c908.txt",  # Fujian + Xinjiang newspaper reports (interleaved columns)
        "001_e4998f21954ea220.txt",  # Jiangxi 赣民字〔2022〕40号 (forwarded by Shangrao)
        "002_c6f97725f515410c.txt",  # Ningxia 宁政办规发〔2022〕7号
        "003_6315efd14f4b4bc1.txt",  # Ministry of Civil Affairs 民函〔2019〕95号
        "004_583196fe4354a547.txt",  # XPCC 新兵党办发〔2021〕42号
    }
)

MONEY_UNITS = frozenset({"fen", "fen_per_person_month", "fen_per_person_year"})
INT_UNITS = frozenset(
    {"months", "days", "km", "age_years", "persons", "person_times", "records", "count", "month_of_quarter"}
)
DECIMAL_UNITS = frozenset({"multiple", "ratio"})  # multiple: x times a base; ratio: a fraction (0.30 = 30%)
UNITS = MONEY_UNITS | INT_UNITS | DECIMAL_UNITS | {"flag", "month", "date"}

# Sanity bounds ("declared ranges") per decimal unit: a pack outside them is a typo, not policy.
DECIMAL_BOUNDS: dict[str, tuple[Decimal, Decimal]] = {
    "multiple": (Decimal("0"), Decimal("10")),
    "ratio": (Decimal("0"), Decimal("1")),
}

NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # figure names: snake_case
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

FigureValue = bool | int | Decimal | date | str | None


def coerce(unit: str, raw: Any, what: str) -> FigureValue:
    """Convert a raw YAML/JSON value to the exact type its unit demands; floats are always refused."""
    if raw is None:
        return None
    if isinstance(raw, float):
        raise ValueError(
            f"{what}: float {raw!r} not allowed; write money as integer fen and multiples/ratios "
            "as quoted exact decimals (e.g. '1.5')"
        )
    if unit in MONEY_UNITS or unit in INT_UNITS:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"{what}: unit {unit} needs an integer, got {raw!r}")
        if raw < 0:
            raise ValueError(f"{what}: must not be negative, got {raw}")
        if unit == "month_of_quarter" and not 1 <= raw <= 3:
            raise ValueError(f"{what}: month_of_quarter must be 1..3, got {raw}")
        return raw
    if unit in DECIMAL_UNITS:
        if isinstance(raw, bool) or not isinstance(raw, int | str | Decimal):
            raise ValueError(f"{what}: unit {unit} needs an exact decimal string or integer, got {raw!r}")
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation as exc:
            raise ValueError(f"{what}: {raw!r} is not a decimal number") from exc
        if not value.is_finite():
            raise ValueError(f"{what}: {raw!r} is not finite")
        low, high = DECIMAL_BOUNDS[unit]
        if not low <= value <= high:
            raise ValueError(f"{what}: {unit} {value} outside the declared range {low}..{high}")
        return value
    if unit == "flag":
        if not isinstance(raw, bool):
            raise ValueError(f"{what}: unit flag needs true/false, got {raw!r}")
        return raw
    if unit == "month":
        if not isinstance(raw, str) or not _MONTH.match(raw):
            raise ValueError(f"{what}: unit month needs 'YYYY-MM', got {raw!r}")
        return raw
    if unit == "date":
        if isinstance(raw, date):
            return raw
        if isinstance(raw, str):
            try:
                return date.fromisoformat(raw)
            except ValueError as exc:
                raise ValueError(f"{what}: {raw!r} is not an ISO date") from exc
        raise ValueError(f"{what}: unit date needs an ISO date, got {raw!r}")
    raise ValueError(f"unknown unit {unit!r}; one of {sorted(UNITS)}")


def check_seed(seed: str) -> str:
    if seed not in SEED_FILES:
        raise ValueError(f"seed {seed!r} is not one of the five seed files {sorted(SEED_FILES)}")
    return seed


def check_quote(quote: str) -> str:
    if not quote.strip() or quote != quote.strip():
        raise ValueError("quote must be a non-empty verbatim excerpt without leading/trailing whitespace")
    return quote


class Citation(BaseModel):
    """A verbatim excerpt of a seed file backing a date or a rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: StrictStr
    quote: StrictStr
    note: StrictStr | None = None

    _seed = field_validator("seed")(check_seed)
    _quote = field_validator("quote")(check_quote)

    def cite(self) -> str:
        return f"{self.seed}: 「{self.quote}」"


class Figure(BaseModel):
    """One policy figure: its value in an exact type, its unit, and the seed text it comes from.

    ``value`` is ``None`` only for a parameter the seed leaves to a lower tier (``set_by`` says who);
    such a parameter has no default money value and makes evaluation answer ``payable=False``.
    ``minimum``/``maximum`` declare a range the seed allows (e.g. Jiangxi 2-4x); ``value`` is then the
    documented default and must lie in the range. ``inclusive`` says whether the boundary value itself
    qualifies for thresholds and limits.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: FigureValue = None
    unit: StrictStr
    seed: StrictStr
    quote: StrictStr
    note: StrictStr | None = None
    minimum: FigureValue = None
    maximum: FigureValue = None
    set_by: StrictStr | None = None
    inclusive: StrictBool | None = None

    @model_validator(mode="before")
    @classmethod
    def _exact_types(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        unit = data.get("unit")
        if not isinstance(unit, str) or unit not in UNITS:
            raise ValueError(f"unit: {unit!r} is not one of {sorted(UNITS)}")
        out = dict(data)
        for key in ("value", "minimum", "maximum"):
            if key in out:
                out[key] = coerce(unit, out[key], key)
        return out

    _seed = field_validator("seed")(check_seed)
    _quote = field_validator("quote")(check_quote)

    @model_validator(mode="after")
    def _consistent(self) -> Figure:
        numeric = self.unit in MONEY_UNITS | INT_UNITS | DECIMAL_UNITS
        if (self.minimum is not None or self.maximum is not None) and not numeric:
            raise ValueError(f"minimum/maximum: not allowed for unit {self.unit}")
        if self.minimum is not None and self.maximum is not None and above(self.minimum, self.maximum):
            raise ValueError(f"minimum {self.minimum} is greater than maximum {self.maximum}")
        if self.value is not None:
            if self.minimum is not None and above(self.minimum, self.value):
                raise ValueError(f"value {self.value} is below the declared minimum {self.minimum}")
            if self.maximum is not None and above(self.value, self.maximum):
                raise ValueError(f"value {self.value} is above the declared maximum {self.maximum}")
        elif not self.set_by:
            raise ValueError("value: missing; a figure without a value must say who sets it (set_by)")
        if self.inclusive is not None and not numeric:
            raise ValueError(f"inclusive: only meaningful for numeric units, not {self.unit}")
        if self.value is not None and self.set_by and self.minimum is None and self.maximum is None:
            raise ValueError("set_by: a fixed figure with a value has no lower-tier setter; drop set_by")
        return self

    def cite(self) -> str:
        return f"{self.seed}: 「{self.quote}」"

    # Typed reads of ``value``: the unit fixed its type on load, so a mismatch is a programming error
    # (a figure of one unit read as another), never a business outcome.

    def as_int(self) -> int:
        """The value of a money or count figure (integer fen, months, persons ...)."""
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise TypeError(f"figure ({self.unit}) {self.value!r} is not an integer")
        return self.value

    def as_decimal(self) -> Decimal:
        """The value of a multiple or a ratio (an exact decimal)."""
        if not isinstance(self.value, Decimal):
            raise TypeError(f"figure ({self.unit}) {self.value!r} is not an exact decimal")
        return self.value

    def as_date(self) -> date:
        if not isinstance(self.value, date):
            raise TypeError(f"figure ({self.unit}) {self.value!r} is not a date")
        return self.value


def above(a: FigureValue, b: FigureValue) -> bool:
    """``a > b`` for two values of one unit (numbers, dates or YYYY-MM months)."""
    if isinstance(a, int | Decimal) and isinstance(b, int | Decimal):
        return a > b
    if isinstance(a, date) and isinstance(b, date):
        return a > b
    if isinstance(a, str) and isinstance(b, str):
        return a > b
    raise TypeError(f"{a!r} and {b!r} are not values of one unit")
