"""The conformance table: rows computed by hand from the seeds (``tests/conformance/*.yaml``), and the
library they run against (the shipped packs plus the local packs a table names from
``tests/fixtures/policy``, as a deployment adds its own through ``DOUDI_POLICY_LOCAL_DIR``).

A row is evaluated by ``test_conformance.py`` (the policy layer, every row) and, where it has an ``e2e``
block, by ``tests/integration/test_conformance_e2e.py`` (the API and the bus on the embedded stack).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from shared.policy import PolicyLibrary, load_library

TABLE_DIR = Path(__file__).resolve().parent
LOCAL_PACKS_DIR = TABLE_DIR.parent / "fixtures" / "policy"

Kind = Literal["standard", "benefit", "entitlement", "assess", "township", "parameter", "job_loss_gap",
               "gradual_exit", "exit_paused"]
Tier = Literal["township", "county", "none"]

# what each kind reads besides region and business date
_INPUTS: dict[str, tuple[str, ...]] = {
    "standard": ("urban",),
    "benefit": ("household",),
    "entitlement": ("profile",),
    "assess": ("profile", "requested_fen"),
    "township": ("amount_fen",),
    "parameter": ("figure",),
    "job_loss_gap": ("last_income_month",),
    "gradual_exit": ("household",),
    "exit_paused": (),
}


class EndToEnd(BaseModel):
    """How a row runs through the API and the bus (``scenario`` names a function of the e2e test)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: StrictStr
    region: StrictStr | None = None  # a county of its own where the scenario needs one (cycles, batches)
    period: StrictStr | None = None
    snapshot_on: date | None = None  # a batch requested on another date than the row's business date
    elderly: StrictBool = False
    approver_tries_fen: StrictInt | None = None  # an approver first tries this amount: it must be refused
    reported_now: StrictBool = False  # the event arrives today, years after its facts (no CloudEvents time)
    pending: StrictStr | None = None  # a defect of issue 13 another session is fixing (e2e only)


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    measure: StrictStr  # the pack measure id, or the topic (standard, dibao, addon, deduction, exit, ...)
    kind: Kind
    seed: StrictStr
    quote: StrictStr
    note: StrictStr | None = None
    region: StrictStr = Field(pattern=r"^\d{6}$")
    business_date: date
    # inputs, by kind (see _INPUTS)
    urban: StrictBool | None = None
    household: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    requested_fen: StrictInt | None = None
    amount_fen: StrictInt | None = None
    figure: StrictStr | None = None
    last_income_month: StrictStr | None = None
    # expectations, computed by hand
    expected_fen: StrictInt | None = None
    expected: StrictBool | StrictInt | StrictStr | None = None  # a non-money figure or a yes/no
    expected_tier: Tier | None = None
    expected_months: tuple[StrictInt, StrictInt | None] | None = None  # a range the seed allows (None: open)
    expect: dict[str, Any] = Field(default_factory=dict)  # further attributes of the answer
    installments_fen: dict[str, StrictInt] | None = None
    pending: StrictStr | None = None  # "#13 item N": a listed defect another session is fixing now
    issue: StrictStr | None = None  # the item of issue 13 the row verifies (fixed: no longer pending)
    e2e: EndToEnd | None = None
    # set by the loader
    table: StrictStr = ""
    local_packs: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _inputs_and_expectations(self) -> Row:
        for name in _INPUTS[self.kind]:
            if getattr(self, name) is None:
                raise ValueError(f"{self.id}: kind {self.kind} needs {name}")
        given = [n for n in ("expected_fen", "expected", "expected_tier", "expected_months")
                 if getattr(self, n) is not None]
        allowed = {"assess": [["expected_fen"], ["expected_fen", "expected_tier"]],
                   "township": [["expected_tier"]], "parameter": [["expected_fen"], ["expected"]],
                   "job_loss_gap": [["expected"]], "exit_paused": [["expected"]],
                   "gradual_exit": [["expected_months"]]}.get(self.kind, [["expected_fen"]])
        if given not in allowed:
            raise ValueError(f"{self.id}: kind {self.kind} expects {' or '.join('+'.join(a) for a in allowed)}, "
                             f"the row gives {given}")
        if self.expected_fen is not None and self.expected_fen < 0:
            raise ValueError(f"{self.id}: expected_fen must not be negative")
        return self


@cache
def rows() -> tuple[Row, ...]:
    out: list[Row] = []
    for f in sorted(TABLE_DIR.glob("*.yaml")):
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        local = tuple(data.get("local_packs", ()))
        for raw in data["rows"]:
            out.append(Row.model_validate({**raw, "table": data["pack"], "local_packs": local}))
    ids = [r.id for r in out]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate row ids: {duplicates}"
    return tuple(out)


@cache
def library(local_packs: tuple[str, ...]) -> PolicyLibrary:
    """The shipped packs plus exactly the named local packs (so a fixture another test adds to
    ``tests/fixtures/policy`` cannot shift a row), loaded the way a deployment loads them."""
    folder = Path(tempfile.mkdtemp(prefix="conformance-packs-"))
    atexit.register(shutil.rmtree, folder, True)
    for name in local_packs:
        shutil.copy(LOCAL_PACKS_DIR / name, folder / name)
    with pytest.MonkeyPatch.context() as env:
        if local_packs:
            env.setenv("DOUDI_POLICY_LOCAL_DIR", str(folder))
        else:
            env.delenv("DOUDI_POLICY_LOCAL_DIR", raising=False)
        return load_library()


def params(selected: list[Row], pending_of=lambda r: r.pending) -> list[Any]:
    """pytest params, one per row; a row whose expectation waits for a fix another session is making
    runs as a strict expected failure: it turns into a failure (XPASS) the moment the fix lands."""
    out = []
    for r in selected:
        pending = pending_of(r)
        marks = [pytest.mark.xfail(strict=True, raises=AssertionError,
                                   reason=f"pending {pending}: drop the row's 'pending' marker once this passes")
                 ] if pending else []
        out.append(pytest.param(r, id=r.id, marks=marks))
    return out

