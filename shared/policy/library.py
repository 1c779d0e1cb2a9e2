"""Loading the packs and answering questions about them (pure after the one-time load)."""

from __future__ import annotations

import functools
import os
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from . import evaluation, standards
from .evaluation import UnknownMeasureError
from .figures import above
from .models import Entitlement, Figure, HouseholdProfile, Measure, PolicyPack, ServiceLevels

__all__ = ["PACKS_DIR", "PolicyLibrary", "PolicyPackError", "UnknownMeasureError", "load_library",
           "load_pack"]

PACKS_DIR = Path(__file__).parent / "packs"
_REGION_CODE_LENGTHS = frozenset({2, 4, 6, 9, 12})


class PolicyPackError(ValueError):
    """A pack file (or the set of packs) is invalid; the message names the file and the field."""


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


def _where(p: PolicyPack) -> str:
    return p.source_file or p.pack_id


def _unique_versions(packs: list[PolicyPack]) -> None:
    seen: dict[tuple[str, str], PolicyPack] = {}
    ids: dict[str, PolicyPack] = {}
    for p in packs:
        key = (p.region_prefix, p.version)
        if key in seen:
            raise ValueError(
                f"{_where(p)}: version: duplicate pack (prefix {p.region_prefix!r}, version {p.version}) "
                f"also in {_where(seen[key])}"
            )
        seen[key] = p
        if p.pack_id in ids and ids[p.pack_id].version == p.version:
            raise ValueError(f"{_where(p)}: pack_id: {p.pack_id} version {p.version} defined twice")
        ids[p.pack_id] = p


def _no_overlapping_windows(packs: list[PolicyPack]) -> None:
    for i, a in enumerate(packs):
        for b in packs[i + 1 :]:
            if a.region_prefix == b.region_prefix and a.overlaps(b):
                raise ValueError(
                    f"{_where(b)}: effective_from: window {b.window()} overlaps "
                    f"{_where(a)} ({a.window()}) for the same region prefix {a.region_prefix!r}"
                )


def _within_enclosing_ranges(packs: list[PolicyPack]) -> None:
    """A more specific pack may set or override a figure, but only within the range an enclosing pack
    declares for it (e.g. a prefecture choosing Jiangxi's 2-4x multiple)."""
    for child in packs:
        for parent in packs:
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
                        f"{_where(child)}: figures.{name}.unit: {fig.unit} differs from {pf.unit} "
                        f"in {_where(parent)}"
                    )
                low, high = pf.minimum, pf.maximum
                below_range = low is not None and above(low, fig.value)
                if below_range or (high is not None and above(fig.value, high)):
                    raise ValueError(
                        f"{_where(child)}: figures.{name}.value: {fig.value} outside the "
                        f"range {low}..{high} declared by {_where(parent)}"
                    )


class PolicyLibrary(BaseModel):
    """All packs, validated together. Read-only: share the cached instance, never mutate it."""

    model_config = ConfigDict(frozen=True)

    packs: list[PolicyPack]

    @model_validator(mode="after")
    def _cross_pack(self) -> PolicyLibrary:
        _unique_versions(self.packs)
        _no_overlapping_windows(self.packs)
        _within_enclosing_ranges(self.packs)
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

    def resolve(self, name: str, region_code: str, on: date) -> tuple[Figure, PolicyPack] | None:
        """The most specific in-force value of a figure; a value-less declaration only if none has a value.
        A standard (``standards.STANDARD_FIGURES``) is in force until replaced: the register answers."""
        if standards.is_standard(name):
            entry = standards.entry(self, name, _check_region_code(region_code), on)
            if entry is not None:
                return entry.figure, entry.pack
            return standards.declared(self, name, region_code, on)
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
        found = self.resolve(name, region_code, on)
        return found[0] if found else None

    def cited(self, name: str, region_code: str, on: date, cites: list[str]) -> Figure | None:
        """The figure with a value in force (None: unset), its seed quote added to ``cites`` once."""
        fig = self.parameter(name, region_code, on)
        if fig is None or fig.value is None:
            return None
        if fig.cite() not in cites:
            cites.append(fig.cite())
        return fig

    def service_levels(self, region_code: str, on: date) -> ServiceLevels:
        """The operational deadlines in force for the region: the most specific pack that sets them."""
        for p in self._in_force(region_code, on):
            if p.service_levels is not None:
                return p.service_levels
        for p in sorted(self.packs, key=lambda p: p.effective_from, reverse=True):
            if p.region_prefix == "" and p.service_levels is not None:
                return p.service_levels  # the national baseline's, even outside a regional window
        raise LookupError(f"no pack sets service levels for {region_code} on {on}")

    def job_loss_gap(self, region_code: str, last_income_month: str,
                     reported_on: date) -> tuple[bool, date, str]:
        """"连续3个月无收入来源" (seed 002): the months without income after ``last_income_month`` (YYYY-MM)
        must be complete by the report. Returns (met, the date the gap completed, why)."""
        figure = self.parameter("job_loss_months_without_income", region_code, reported_on)
        if figure is None or figure.value is None:
            why = f"no pack in force for {region_code} on {reported_on} sets the months without income"
            return False, reported_on, why
        months = figure.as_int()
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
        found = self.measure_in_force(measure, region_code, on)
        return found[1] if found else None

    def measure_in_force(
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

    # ---- evaluation (shared/policy/evaluation.py) ------------------------------------------------------

    def entitlement(self, measure: str, region_code: str, on: date, profile: HouseholdProfile) -> Entitlement:
        """What the profile is entitled to under ``measure`` in the region on the business date.

        Pure and deterministic: reads only the loaded packs and the arguments.
        Raises UnknownMeasureError for an id no pack defines and ValueError for a malformed region code.
        """
        return evaluation.entitlement(self, measure, _check_region_code(region_code), on, profile)

    def assess_request(self, measure: str, region_code: str, on: date, profile: HouseholdProfile,
                       requested_amount_fen: int) -> Entitlement:
        """A caseworker's assessed amount for temporary assistance (临时救助), bounded by the policy
        (see ``evaluation.assess_request``)."""
        return evaluation.assess_request(self, measure, _check_region_code(region_code), on, profile,
                                         requested_amount_fen)


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
