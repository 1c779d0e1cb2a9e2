"""Benchmark: 提标 for 617,800 enrolled households, with 6 months of back-pay each.

What runs: its own EmbeddedStack (temporary data folder, free ports) with one local pack (written to a
temporary folder, DOUDI_POLICY_LOCAL_DIR) raising Yinchuan's urban dibao standard from Ningxia's 650
yuan (seed 002) to 700 yuan with effect from 2023-01-01: a BENCH FIXTURE, not a real figure. The
registry and the roster are seeded with COPY: households of 1-3 people in Yinchuan's districts, enrolled
from 2022-07, paid through 2023-06 at the 650-yuan level (617,800 is Fujian's recipient count, seed 000,
used as the size). Then the region's cycle for 2023-07 runs.

Measured, from ``POST /api/enrolments/cycles`` until every row is in the ledger (the cycle's payment
finished): the set-based repricing (every household's level raised by 50 yuan x persons), the back-pay
for the 6 months 2023-01..2023-06 (one row per household, key
``dibao-topup:<household>:2023-01:<standard-version>``) and the July payment at the new level. Baseline
on the same machine, same run: a bare ``UPDATE`` of every roster row.

    python -m tests.bench.reprice [--households N] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from deploy.embedded import EmbeddedStack
from shared.auth import issue_token
from tests.bench.review_cycle import pack_size
from tests.bench.stack import bench_stack

PERIOD = "2023-07"
OLD, NEW = 65000, 70000  # seed 002's 650 yuan; the bench fixture's 700 yuan from 2023-01-01
BACK_MONTHS = [f"2023-{m:02d}" for m in range(1, 7)]
REGIONS = ["640104", "640105", "640106", "640121", "640122", "640181"]
VERSION_OLD, VERSION_NEW = "ningxia-2022-20-measures@2022.1", "bench-yinchuan-2023-standard@2023.1"
PACK = """# BENCH FIXTURE (tests/bench/reprice.py), not a real figure: Yinchuan raises the urban standard.
pack_id: bench-yinchuan-2023-standard
version: "2023.1"
region_prefix: "6401"
region_name_en: Yinchuan (bench fixture)
region_name_zh: 银川市
title_zh: 基准测试用银川市2023年提标
seed: 002_c6f97725f515410c.txt
effective_from: 2023-01-01
validity:
  - seed: 002_c6f97725f515410c.txt
    quote: 城乡低保标准
figures:
  dibao_urban_monthly_fen:
    value: 70000
    unit: fen_per_person_month
    seed: 002_c6f97725f515410c.txt
    quote: 城乡低保标准
    note: BENCH FIXTURE - 700 yuan per person per month from 2023-01-01.
"""


SEED_SQL = """
CREATE TEMP TABLE seed AS
SELECT i, ($2::text[])[i % cardinality($2::text[]) + 1] AS region, (ARRAY[1, 1, 2, 2, 3])[i % 5 + 1] AS size
FROM generate_series(0, $1 - 1) AS i;
ALTER TABLE seed ADD COLUMN income bigint;
UPDATE seed SET income = (i::bigint * 7919) % ($3 * size / 2);
INSERT INTO intake.households (household_id, region_code, urban, categories, monthly_income_fen)
SELECT 'rp-hh-' || i, region, true, '{dibao}', income FROM seed;
INSERT INTO intake.members (person_id, household_id, name, relation, birth_date, flags)
SELECT region || lpad((i * 3 + k)::text, 12, '0'), 'rp-hh-' || i, '测试', CASE k WHEN 0 THEN 'head' ELSE 'member' END,
       date '1960-01-01' + ((i * 3 + k) % 9000), '{}'
FROM seed, generate_series(0, size - 1) AS k;
INSERT INTO intake.enrolments (household_id, enrolment_id, person_id, region_code, kind, level_fen, cadence,
                               next_review, paid_through, reviewed_version, enrolled_from, source, standard_fen,
                               standard_version, standard_from)
SELECT 'rp-hh-' || i, 'en-rp-' || i, region || lpad((i * 3)::text, 12, '0'), region, 'dibao', $3 * size - income,
       'stable', NULL, '2023-06', 1, '2022-07', 'import', $3, $4, date '2022-06-07'
FROM seed;
"""


async def seed(conn: asyncpg.Connection, households: int) -> int:
    """Households of 1-3 people (generated in SQL), enrolled from 2022-07, paid through 2023-06 at the
    650-yuan level (65000 x persons - income). Returns the persons enrolled."""
    regions = "ARRAY[" + ", ".join(f"'{r}'" for r in REGIONS) + "]"
    script = (SEED_SQL.replace("$1", str(int(households))).replace("$2::text[]", regions)
              .replace("$3", str(OLD)).replace("$4", f"'{VERSION_OLD}'"))
    async with conn.transaction():
        await conn.execute(script)
        persons = await conn.fetchval("SELECT sum(size) FROM seed")
    await conn.execute("ANALYZE intake.households; ANALYZE intake.members; ANALYZE intake.enrolments")
    return int(persons)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="doudi-bench-packs-") as packs:
        (Path(packs) / "bench-yinchuan-2023-standard.yaml").write_text(PACK, encoding="utf-8")
        async with bench_stack("reprice", keep=args.keep, env={"DOUDI_POLICY_LOCAL_DIR": packs}) as stack:
            return await _bench(stack, args)


async def _bench(stack: EmbeddedStack, args: argparse.Namespace) -> dict[str, Any]:
    households = args.households or pack_size()
    conn = await asyncpg.connect(stack.database_url)
    try:
        t = time.monotonic()
        persons = await seed(conn, households)
        print(f"seeded {households:,} enrolled households ({persons:,} persons) paid through 2023-06 at 650 yuan"
              f" in {time.monotonic() - t:.1f} s", flush=True)
    finally:
        await conn.close()

    headers = {"Authorization": f"Bearer {issue_token('bench-admin', 'admin')}"}
    cycle_id = f"cycle-6401-{PERIOD}"
    marks: dict[str, float] = {}
    db = await asyncpg.connect(stack.database_url)
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
            t0 = time.monotonic()
            r = await http.post("/api/enrolments/cycles", json={"region_prefix": "6401", "period": PERIOD},
                                headers=headers)
            assert r.status_code == 202, r.text
            last = 0.0
            while True:
                now = time.monotonic() - t0
                if "repriced" not in marks and await db.fetchval(
                        "SELECT 1 FROM intake.review_cycles WHERE cycle_id = $1", cycle_id):
                    marks["repriced"] = now
                if await db.fetchval("SELECT 1 FROM payment.period_cycles WHERE cycle_id = $1"
                                     " AND finished_at IS NOT NULL", cycle_id):
                    marks["ledger"] = now
                    break
                if now - last >= 5:
                    last = now
                    print(f"  {now:6.1f} s  {', '.join(marks) or 'repricing'}", flush=True)
                await asyncio.sleep(0.2)
            cycle = (await http.get(f"/api/enrolments/cycles/{cycle_id}", headers=headers)).json()
        topups, topup_fen, topup_keys = await db.fetchrow(
            "SELECT count(*), coalesce(sum(amount_fen), 0), count(DISTINCT idempotency_key) FROM payment.ledger"
            " WHERE idempotency_key LIKE 'dibao-topup:rp-hh-%'")
        monthly = await db.fetchval("SELECT count(*) FROM payment.ledger WHERE idempotency_key LIKE $1",
                                    f"dibao:rp-hh-%:{PERIOD}")
        t = time.monotonic()
        await db.execute("UPDATE intake.enrolments SET updated_at = now() WHERE household_id LIKE 'rp-hh-%'")
        raw_update_s = time.monotonic() - t
    finally:
        await db.close()
    # hand-computed: (70000 - 65000) fen x persons x 6 months
    assert cycle["repriced"] == households and topups == topup_keys == households, (cycle, topups)
    assert topup_fen == (NEW - OLD) * persons * len(BACK_MONTHS), topup_fen
    assert monthly == households
    return {"households": households, "persons": persons, "topups": topups, "topup_fen": int(topup_fen),
            "monthly": monthly, "repriced_s": marks["repriced"], "ledger_s": marks["ledger"],
            "raw_update_s": raw_update_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=0, help="default: 617,800 (Fujian's count, seed 000)")
    parser.add_argument("--keep", action="store_true", help="keep the stack's data folder afterwards")
    args = parser.parse_args()
    r = asyncio.run(run(args))
    print()
    print(f"提标 reprice, {r['households']:,} enrolled households ({r['persons']:,} persons), 650 -> 700 yuan "
          f"from 2023-01-01, cycle {PERIOD}")
    print(f"  repriced + back-pay recorded (intake)   {r['repriced_s']:7.1f} s")
    print(f"  all rows in the ledger                  {r['ledger_s']:7.1f} s   ({r['monthly']:,} July payments, "
          f"{r['topups']:,} back-pay rows = {r['topup_fen']:,} fen, no key twice)   target < 60 s")
    print(f"  baseline: bare UPDATE of every roster row {r['raw_update_s']:5.1f} s")
    print(f"  ratio to the bare UPDATE                {r['ledger_s'] / r['raw_update_s']:7.1f} x")


if __name__ == "__main__":
    main()
