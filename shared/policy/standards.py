"""The standards register (救助标准): each region's standards as a time series, in force until replaced.

A standard (the urban and rural dibao standards, the extreme-poverty support standard, care levels, the
orphan allowances) is not a temporary measure: a notice that raises it (提标) sets a new level from
its effective date, and that level stays in force after the notice's own temporary measures end,
until a later notice replaces it. Seed 002 (Ningxia) raises the standards 「城乡低保标准，分别提高到每人每月
650元、每人每年5520元」 inside measures that are 「有效期至2023年12月31日」: from 2024-01-01 the measures end,
the 650-yuan standard does not. Seed 001 (Jiangxi) 「6月底前全面完成困难群众救助标准提标提补工作」 and
seed 004 (XPCC) 「与自治区同步调整救助标准」: standards change every year, often with a retroactive
effective date.

The register is read from the same pack files as everything else: a figure whose name is in
:data:`STANDARD_FIGURES` is an entry of the register, effective from its pack's ``effective_from``,
in force until an entry of the same name with a later effective date replaces it, whatever the pack's
``effective_to`` says. A new standard is therefore a new pack (version) with its effective date, e.g.
a local pack in ``DOUDI_POLICY_LOCAL_DIR``; no code changes. Among the entries for a region, the one
with the latest effective date on or before the business date wins; on the same date, the most
specific region prefix.

Pure: reads only the loaded packs.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, NamedTuple

from .models import Figure, PolicyPack

if TYPE_CHECKING:
    from .library import PolicyLibrary

# The figures that are standards (in force until replaced). Everything else in a pack lives and ends
# with its pack's (or its measure's) validity window.
STANDARD_FIGURES = frozenset({
    "dibao_urban_monthly_fen",           # 城市低保标准
    "dibao_rural_monthly_fen",           # 农村低保标准 (monthly)
    "dibao_rural_yearly_fen",            # 农村低保标准 (yearly)
    "extreme_poverty_multiple",          # 特困供养标准 = multiple x the dibao standard (seed 002)
    "orphan_institutional_monthly_fen",  # 机构内养育孤儿津贴
    "orphan_dispersed_monthly_fen",      # 社会散居孤儿津贴
    "full_care_standard_min_ratio_of_minimum_wage",  # 照料护理标准 (seed 004)
    # 照料护理 levels, where set
    "care_full_monthly_fen", "care_partial_monthly_fen", "care_self_monthly_fen",
    # 临时救助标准, the fourth of seed 002's 「“四项”社会救助保障标准」, tied to the dibao standard
    # (「临时救助标准与城乡低保标准挂钩机制」): multiples of the city monthly standard
    "temporary_assistance_individual_multiple",
    "temporary_assistance_emergency_household_multiple",
    "temporary_assistance_expenditure_household_multiple",
})


class StandardEntry(NamedTuple):
    """One entry of the register: a standard's value from ``effective_from`` until replaced."""

    name: str
    effective_from: date
    figure: Figure
    pack: PolicyPack

    @property
    def version(self) -> str:
        """Names the entry in idempotency keys and records: ``<pack_id>@<version>``."""
        return f"{self.pack.pack_id}@{self.pack.version}"

    @property
    def value(self) -> int | Decimal:
        """A standard is money (integer fen) or a multiple/ratio of one (exact decimal)."""
        value = self.figure.value
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise TypeError(f"standard {self.name} {value!r} is neither fen nor an exact decimal")
        return value


def is_standard(name: str) -> bool:
    return name in STANDARD_FIGURES


def series(lib: PolicyLibrary, name: str, region_code: str) -> list[StandardEntry]:
    """Every entry of the standard ``name`` that applies to the region, the effective one for each
    date last: ordered by effective date, then region prefix length."""
    found = [StandardEntry(name, p.effective_from, p.figures[name], p) for p in lib.packs
             if p.matches(region_code) and name in p.figures and p.figures[name].value is not None]
    return sorted(found, key=lambda e: (e.effective_from, len(e.pack.region_prefix)))


def entry(lib: PolicyLibrary, name: str, region_code: str, on: date) -> StandardEntry | None:
    """The entry of the standard in force for the region on the date (None: no pack ever set it)."""
    found = [e for e in series(lib, name, region_code) if e.effective_from <= on]
    return found[-1] if found else None


def declared(lib: PolicyLibrary, name: str, region_code: str, on: date) -> tuple[Figure, PolicyPack] | None:
    """A value-less declaration in force (e.g. Jiangxi's 「当地城市最低生活保障标准」, set by the county)."""
    for p in sorted(lib.packs, key=lambda p: len(p.region_prefix), reverse=True):
        if p.matches(region_code) and p.in_force(on) and name in p.figures:
            return p.figures[name], p
    return None


def _half_up(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def dibao_standard(lib: PolicyLibrary, region_code: str, on: date, urban: bool) -> StandardEntry | None:
    """The monthly dibao standard entry (urban, or rural: the monthly figure or the yearly one, whichever
    entry is newer; a yearly figure counts as yearly / 12, rounded half up)."""
    if urban:
        return entry(lib, "dibao_urban_monthly_fen", region_code, on)
    monthly = entry(lib, "dibao_rural_monthly_fen", region_code, on)
    yearly = entry(lib, "dibao_rural_yearly_fen", region_code, on)
    if yearly is not None and (monthly is None or (yearly.effective_from, len(yearly.pack.region_prefix))
                               > (monthly.effective_from, len(monthly.pack.region_prefix))):
        return yearly
    return monthly


def monthly_fen(e: StandardEntry) -> int:
    """The monthly per-person amount of a dibao standard entry."""
    v = int(e.value)
    return _half_up(Decimal(v) / 12) if e.figure.unit == "fen_per_person_year" else v


OWN_STANDARDS_OF_EXTREME_POVERTY = ("orphan_institutional_monthly_fen", "orphan_dispersed_monthly_fen",
                                    "full_care_standard_min_ratio_of_minimum_wage", "care_full_monthly_fen")


class PerPerson(NamedTuple):
    """What one person of an enrolled household gets per month at a standard (the level's slope): the
    dibao standard for dibao, the support standard (multiple x dibao standard) for extreme poverty."""

    fen: int
    version: str
    effective_from: date


def per_person(lib: PolicyLibrary, region_code: str, on: date, *, urban: bool,
               extreme_poverty: bool) -> PerPerson | None:
    std = dibao_standard(lib, region_code, on, urban)
    if std is None:
        return None
    fen = monthly_fen(std)
    if not extreme_poverty:
        return PerPerson(fen, std.version, std.effective_from)
    mul = entry(lib, "extreme_poverty_multiple", region_code, on)
    if mul is None:
        return None
    # the allowances carried on the extreme-poverty roster are standards of their own (orphans, care):
    # a newer entry of one of them reprices the record too (提标), at the amount monthly_benefit gives
    own = [e for name in OWN_STANDARDS_OF_EXTREME_POVERTY
           if (e := entry(lib, name, region_code, on)) is not None]
    newest = max((std, mul, *own), key=lambda e: e.effective_from)
    return PerPerson(_half_up(Decimal(fen) * Decimal(mul.value)), newest.version, newest.effective_from)
