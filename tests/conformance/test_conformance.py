"""Every row of the conformance table against the policy layer (the unit ring: no stack, no I/O after
the packs are loaded). Each row's expected fen was computed by hand from the seed quoted in the row;
this module only asks the policy layer the row's question and compares.

A row marked ``pending: "#13 item N"`` encodes the seeds' answer where the code is still wrong and
another session is fixing it: it runs as ``xfail(strict=True)``, so the fix turns it into a failure
(XPASS) that tells the lead to drop the marker.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.policy import (
    BenefitHousehold,
    HouseholdProfile,
    load_library,
    monthly_benefit,
    monthly_standard_fen,
)
from shared.policy.exits import exit_paused, gradual_exit
from tests.conformance.table import Row, library, params, rows

ALL = rows()


def _profile(raw: dict[str, Any]) -> HouseholdProfile:
    return HouseholdProfile(**{**raw, "categories": frozenset(raw.get("categories", ()))})


def _attributes(row: Row, answer: Any) -> None:
    for name, want in row.expect.items():
        have = getattr(answer, name)
        assert have == want, f"{row.id}: {name} is {have!r}, the seed says {want!r} ({answer!r})"


def _tier(row: Row, allowed: bool | None) -> str:
    return "none" if allowed is None else "township" if allowed else "county"


def _money(row: Row, payable: bool, amount: int, why: str) -> None:
    assert (payable, amount) == (row.expected_fen > 0, row.expected_fen), (  # type: ignore[operator]
        f"{row.id}: the policy layer answers {'payable' if payable else 'not payable'} {amount} fen, "
        f"the seed says {row.expected_fen} fen ({row.seed}: 「{row.quote}」) - {why}")


@pytest.mark.parametrize("row", params(list(ALL)))
def test_row(row: Row) -> None:
    lib = library(row.local_packs)
    on, region = row.business_date, row.region
    if row.kind == "standard":
        have = monthly_standard_fen(lib, region, on, bool(row.urban))
        assert have == row.expected_fen, (f"{row.id}: the {'urban' if row.urban else 'rural'} standard on {on} is "
                                          f"{have!r}, the seed says {row.expected_fen} fen")
    elif row.kind == "benefit":
        benefit = monthly_benefit(lib, region, on, BenefitHousehold(**row.household))  # type: ignore[arg-type]
        _money(row, benefit.payable, benefit.amount_fen, benefit.reason)
        _attributes(row, benefit)
    elif row.kind == "entitlement":
        ent = lib.entitlement(row.measure, region, on, _profile(row.profile))  # type: ignore[arg-type]
        _money(row, ent.payable, ent.amount_fen, ent.reason)
        _attributes(row, ent)
        if row.installments_fen is not None:
            assert {i.month: i.amount_fen for i in ent.installments} == row.installments_fen, ent.installments
    elif row.kind == "assess":
        ent = lib.assess_request(row.measure, region, on, _profile(row.profile), row.requested_fen)  # type: ignore[arg-type]
        _money(row, ent.payable, ent.amount_fen, ent.reason)
        _attributes(row, ent)
        if row.expected_tier is not None:
            assert _tier(row, lib.township_may_approve(region, on, ent.amount_fen)) == row.expected_tier
    elif row.kind == "township":
        assert _tier(row, lib.township_may_approve(region, on, row.amount_fen)) == row.expected_tier, (  # type: ignore[arg-type]
            f"{row.id}: {row.amount_fen} fen in {region}; the seed says {row.expected_tier} approves")
    elif row.kind == "parameter":
        fig = lib.parameter(row.figure, region, on)  # type: ignore[arg-type]
        assert fig is not None and fig.value is not None, f"{row.id}: no pack in force sets {row.figure}"
        want = row.expected_fen if row.expected_fen is not None else row.expected
        if isinstance(fig.value, Decimal):
            want = Decimal(str(want))
        assert fig.value == want, f"{row.id}: {row.figure} is {fig.value!r}, the seed says {want!r}"
        _attributes(row, fig)
    elif row.kind == "gradual_exit":
        exit_ = gradual_exit(lib, region, on, BenefitHousehold(**row.household))  # type: ignore[arg-type]
        low, high = row.expected_months  # type: ignore[misc]
        assert exit_.months is not None and low <= exit_.months and (high is None or exit_.months <= high), (
            f"{row.id}: {exit_.months} months of gradual exit, the seed allows {low}..{high or '(open)'}: "
            f"{exit_.basis}")
    elif row.kind == "exit_paused":
        pause = exit_paused(lib, region, on)
        assert pause.suspended is row.expected, f"{row.id}: {pause.basis}"
    elif row.kind == "job_loss_gap":
        met, completed, why = lib.job_loss_gap(region, row.last_income_month, on)  # type: ignore[arg-type]
        assert met is row.expected, f"{row.id}: {why}"
    else:  # pragma: no cover - Row.kind is a Literal
        raise AssertionError(row.kind)


# ---- the table itself ------------------------------------------------------------------------------------


def test_the_table_has_at_least_60_rows_and_every_kind_of_rule() -> None:
    assert len(ALL) >= 60
    topics = {r.measure for r in ALL}
    for topic in ("standard", "dibao", "extreme_poverty", "addon", "deduction", "exit", "single_person",
                  "township_limit", "one_time_living_subsidy", "price_linkage", "quarantine", "covid_diagnosis",
                  "job_loss", "graduate", "medical_self_pay"):
        assert topic in topics, topic
    assert any(r.expect.get("amount_is_minimum") for r in ALL)  # 不低于 floors
    assert {r.expected_tier for r in ALL if r.expected_tier} == {"township", "county", "none"}  # tiers
    assert len([r for r in ALL if r.e2e is not None]) >= 12


def test_every_measure_of_every_shipped_pack_has_a_row() -> None:
    covered = {(r.table, r.measure) for r in ALL}
    missing = [f"{p.pack_id}: {m}" for p in load_library().packs if p.source_file and not p.pack_id.startswith("test-")
               for m in p.measures if (p.pack_id, m) not in covered
               and not (p.region_prefix == "" and any(r.measure == m for r in ALL))]
    assert not missing, "measures without a conformance row:\n" + "\n".join(missing)


def test_every_table_names_a_shipped_pack_and_existing_local_packs() -> None:
    shipped = {p.pack_id for p in load_library().packs}
    for r in ALL:
        assert r.table in shipped, r.table
        assert library(r.local_packs).pack_for(r.region, r.business_date) is not None, r.id


def test_pending_rows_name_the_issue_item() -> None:
    for r in ALL:
        for pending in (r.pending, r.e2e.pending if r.e2e else None):
            assert pending is None or pending.startswith(("#13 item ", "unlisted: ")), (r.id, pending)
