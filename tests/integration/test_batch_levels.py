"""Issue 13 item 6 on the real stack: Jiangxi's one-time living subsidy 「按照 6 月份发放标准增发」 is each
recipient household's own June level (what the ledger says it was paid as its June 2022 benefit,
dibao:<household>:2022-06), once per household - not a flat amount per person."""

from __future__ import annotations

import asyncpg
import pytest

from deploy.embedded import EmbeddedStack
from tests.integration.test_batch_subsidy import FINANCE, _batch, _ledger, _seed, _until
from tests.support import StackClient

pytestmark = pytest.mark.stack

XINZHOU = ["361102"]  # 上饶市信州区


async def _june_paid(stack: EmbeddedStack, rows: list[tuple[str, str, int]]) -> None:
    """Set-up: what the monthly benefit paid for June 2022 (the ledger the cycle would have written)."""
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.executemany(
            "INSERT INTO payment.ledger (payment_id, idempotency_key, case_id, pathway, person_id, household_id,"
            " region_code, measure, account, amount_fen) VALUES ($1, $2, 'cycle-test', 'benefit_cycle', $3, $4,"
            " '361102', 'dibao', 'county-fund:361102', $5)",
            [(f"pay-{key}", key, person, hh, fen) for hh, person, fen, key in _keyed(rows)])
    finally:
        await conn.close()


def _keyed(rows: list[tuple[str, str, int]]) -> list[tuple[str, str, int, str]]:
    out, seen = [], {}
    for hh, person, fen in rows:
        n = seen[hh] = seen.get(hh, 0) + 1
        key = f"dibao:{hh}:2022-06" if n == 1 else f"dibao-topup:{hh}:2022-06:2022.{n}"
        out.append((hh, person, fen, key))
    return out


async def _households(stack: EmbeddedStack, tag: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch("SELECT household_id, person_id FROM intake.members WHERE household_id LIKE $1"
                                " ORDER BY household_id, person_id", f"{tag}-hh-%")
    finally:
        await conn.close()
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["household_id"], []).append(r["person_id"])
    return out


async def test_jiangxi_one_time_subsidy_pays_each_household_its_own_june_level_once(
        stack: EmbeddedStack, client: StackClient):
    await _seed(stack, regions=XINZHOU, recipients=9, first_serial=4_200_000, tag="jx-june", rng_seed=11)
    households = await _households(stack, "jx-june")
    hh = sorted(households)
    assert len(hh) >= 4
    a, b, c, unpaid = hh[0], hh[1], hh[2], hh[3]
    # June 2022 as paid: a 1,140 yuan (e.g. 3 x 800 - 1,260 counted), b 800 yuan (and a back-pay keyed from
    # June, which covers several months: not part of the June level), c 37.05 yuan; `unpaid` was not paid
    # for June (enrolled later)
    await _june_paid(stack, [(a, households[a][0], 114000), (b, households[b][0], 80000),
                             (b, households[b][0], 5000), (c, households[c][0], 3705)])

    refused = await client.http.post("/api/batches", headers=FINANCE, json={
        "measure": "one_time_living_subsidy", "region_prefix": "3611", "snapshot_on": "2022-07-10",
        "amount_fen_per_person": 50000})
    assert refused.status_code == 422 and "amount_fen_per_person" in refused.text  # never a flat amount

    r = await client.http.post("/api/batches", headers=FINANCE, json={
        "measure": "one_time_living_subsidy", "region_prefix": "3611", "snapshot_on": "2022-07-10"})
    assert r.status_code == 202, r.text
    batch_id = r.json()["batch_id"]
    done = await _until(client, batch_id, lambda x: x["status"] == "completed", timeout=120)

    paid = {(row["household_id"], row["person_id"]): row["amount_fen"] for row in await _ledger(stack, batch_id)}
    # one payment per household, to its first recipient in the cohort: a 114000; b 80000; c 3705;
    # `unpaid` nothing (and no other member of any household)
    assert {h: fen for (h, _), fen in paid.items()} == {a: 114000, b: 80000, c: 3705}
    assert unpaid not in {h for h, _ in paid} and all(person in households[h] for h, person in paid)
    assert len(paid) == 3 and done["paid_fen"] == 114000 + 80000 + 3705 == done["expected_fen"]
    assert done["policy"]["pack_id"].startswith("jiangxi") or done["policy"]["pack_id"].startswith("test-shangrao")

    # the same batch again pays nothing more (idempotent per recipient)
    again = await client.http.post("/api/batches", headers=FINANCE, json={
        "measure": "one_time_living_subsidy", "region_prefix": "3611", "snapshot_on": "2022-07-10"})
    assert again.status_code in (200, 202) and again.json()["batch_id"] == batch_id
    assert (await _batch(client, batch_id))["paid_fen"] == 114000 + 80000 + 3705
