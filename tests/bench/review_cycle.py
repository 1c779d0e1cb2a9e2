"""Benchmark: one monthly review cycle for 617,800 enrolled households, 5% of them with changed data.

What runs: its own EmbeddedStack (temporary data folder, free ports), with the test-fixture policy
folder (tests/fixtures/policy: the XPCC first division's standard); the registry and the roster are
seeded with COPY (households of 1-3 people in the XPCC first division, where the XPCC plan's review
cadence applies, seed 004; 617,800 is Fujian's recipient count, seed 000, used as the size); every
household is due for review this period; 5% get a registry change (a new income) before the cycle.

Measured, from ``POST /api/enrolments/cycles`` on:
- review: the set-based review (changed households the policy decides -> reviewed as a set: levels
  recomputed and adjusted, exits as roster state; changed households that need a person -> review case
  rows; unchanged -> continue) and the roll taken;
- paid: every household the cycle carries paid for the period in the ledger (the adjusted ones at their
  new level);
- people's cases started: every review case that needs a person has its ``Renewal`` workflow;
- settled: all three (issue 18: < 5 minutes for 617,800 households with 5 % changed).

Baselines on the same machine, same run: a bare ``UPDATE`` of every roster row (the least a set-based
review can cost) and the raw Temporal dev server starting the same number of no-op workflows
(the least opening that many cases can cost).

    python -m tests.bench.review_cycle [--households N] [--changed 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client

from deploy.embedded import EmbeddedStack
from shared.auth import issue_token
from shared.policy import load_library
from tests.bench.cohort_seed import person_id
from tests.bench.stack import bench_stack

PERIOD = "2022-11"
STANDARD = 60005  # the test-fixture first-division standard (tests/fixtures/policy), fen per person-month
REGIONS = [f"6601{c:02d}" for c in range(1, 13)]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "policy"


def pack_size() -> int:
    fig = load_library().parameter("recipients_dibao_extreme_poverty_persons", "35", date(2022, 7, 31))
    assert fig is not None
    return int(fig.value)  # type: ignore[arg-type]


async def seed(conn: asyncpg.Connection, households: int, changed: float, rng: random.Random) -> int:
    hh, members, roster = [], [], []
    serial = 0
    for i in range(households):
        region = REGIONS[i % len(REGIONS)]
        hid = f"rc-hh-{i}"
        size = rng.choice((1, 1, 2, 2, 3))
        income = rng.randrange(0, STANDARD * size // 2)
        hh.append((hid, region, True, ["dibao"], income))
        for k in range(size):
            pid = person_id(region, serial)
            birth = date(1960, 1, 1) + timedelta(days=serial % 9000)
            serial += 1
            members.append((pid, hid, "测试", "head" if k == 0 else "member", birth, []))
            if k == 0:
                head = pid
        roster.append((hid, f"en-rc-{i}", head, region, "dibao", STANDARD * size - income, "unstable", PERIOD,
                       "2022-10", 1, "2022-01", "import"))
    await conn.copy_records_to_table("households", schema_name="intake", records=hh, columns=[
        "household_id", "region_code", "urban", "categories", "monthly_income_fen"])
    await conn.copy_records_to_table("members", schema_name="intake", records=members,
                                     columns=["person_id", "household_id", "name", "relation", "birth_date", "flags"])
    await conn.copy_records_to_table("enrolments", schema_name="intake", records=roster, columns=[
        "household_id", "enrolment_id", "person_id", "region_code", "kind", "level_fen", "cadence", "next_review",
        "paid_through", "reviewed_version", "enrolled_from", "source"])
    picked = rng.sample(range(households), int(households * changed))
    await conn.execute(
        "UPDATE intake.households SET monthly_income_fen = monthly_income_fen + 1000, version = version + 1"
        " WHERE household_id = ANY($1::text[])", [f"rc-hh-{i}" for i in picked])
    await conn.execute("ANALYZE intake.households; ANALYZE intake.members; ANALYZE intake.enrolments")
    return len(picked)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    async with bench_stack("review", keep=args.keep, env={"DOUDI_POLICY_LOCAL_DIR": str(FIXTURES)}) as stack:
        return await _bench(stack, args)


async def _bench(stack: EmbeddedStack, args: argparse.Namespace) -> dict[str, Any]:
    households = args.households or pack_size()
    conn = await asyncpg.connect(stack.database_url)
    try:
        t = time.monotonic()
        changed = await seed(conn, households, args.changed, random.Random(0))
        print(f"seeded {households:,} enrolled households ({changed:,} with changed data) in "
              f"{time.monotonic() - t:.1f} s", flush=True)
    finally:
        await conn.close()

    headers = {"Authorization": f"Bearer {issue_token('bench-admin', 'admin')}"}
    cycle_id = f"cycle-6601-{PERIOD}"
    marks: dict[str, float] = {}
    db = await asyncpg.connect(stack.database_url)
    try:
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
            t0 = time.monotonic()
            r = await http.post("/api/enrolments/cycles", json={"region_prefix": "6601", "period": PERIOD},
                                headers=headers)
            assert r.status_code == 202, r.text
            last = 0.0
            while True:
                now = time.monotonic() - t0
                if "review" not in marks and await db.fetchval(
                        "SELECT 1 FROM intake.review_cycles WHERE cycle_id = $1", cycle_id):
                    marks["review"] = now
                if "paid" not in marks and await db.fetchval(
                        "SELECT 1 FROM payment.period_cycles WHERE cycle_id = $1 AND finished_at IS NOT NULL",
                        cycle_id):
                    marks["paid"] = now
                started = await db.fetchval("SELECT count(*) FROM intake.cases WHERE cause_event_id = $1"
                                            " AND trigger = 'review_cycle' AND workflow_started_at IS NOT NULL",
                                            cycle_id)
                if "review" in marks and "started" not in marks and started >= await db.fetchval(
                        "SELECT cases_opened FROM intake.review_cycles WHERE cycle_id = $1", cycle_id):
                    marks["started"] = now
                if "paid" in marks and "started" in marks:
                    break
                if now - last >= 5:
                    last = now
                    print(f"  {now:6.1f} s  {', '.join(marks) or 'reviewing'}; people's review cases started "
                          f"{started:,}", flush=True)
                await asyncio.sleep(0.2)
            settled_s = time.monotonic() - t0
            print(f"  settled at {settled_s:.1f} s: " + ", ".join(f"{k} {v:.1f} s" for k, v in marks.items()),
                  flush=True)
            cycle = (await http.get(f"/api/enrolments/cycles/{cycle_id}", headers=headers)).json()
        # the changed households reviewed as a set: on the roster at their new level, paid it once
        adjusted, adjusted_paid = await db.fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE l.amount_fen = e.level_fen) FROM intake.enrolments e"
            " LEFT JOIN payment.ledger l ON l.idempotency_key = 'dibao:' || e.household_id || ':' || $1"
            " WHERE e.household_id LIKE 'rc-hh-%' AND e.reviewed_version = 2 AND e.managed_by = 'cycle'"
            " AND e.status = 'active'", PERIOD)
        paid_rows, paid_keys = await db.fetchrow(
            "SELECT count(*), count(DISTINCT idempotency_key) FROM payment.ledger WHERE idempotency_key LIKE $1",
            f"dibao:rc-hh-%:{PERIOD}")
        t = time.monotonic()
        await db.execute("UPDATE intake.enrolments SET updated_at = now() WHERE household_id LIKE 'rc-hh-%'")
        raw_update_s = time.monotonic() - t
    finally:
        await db.close()
    assert cycle["reviewed"] + cycle["cases_opened"] == changed, cycle
    assert cycle["continued"] == households - changed, cycle
    assert paid_rows == paid_keys, "a household paid twice"
    assert adjusted_paid == adjusted, f"{adjusted - adjusted_paid} adjusted households not paid their new level"
    raw_rate = await _raw_start_rate(stack, args.baseline_starts)
    return {"households": households, "changed": changed, "cases_opened": cycle["cases_opened"],
            "reviewed": cycle["reviewed"], "adjusted": adjusted,
            "continued": cycle["continued"], "on_roll": cycle["on_roll"], "paid_rows": paid_rows,
            "review_s": marks["review"], "paid_s": marks["paid"], "started_s": marks["started"],
            "settled_s": settled_s, "raw_update_s": raw_update_s, "raw_rate": raw_rate,
            "baseline_starts": args.baseline_starts}


async def _raw_start_rate(stack: EmbeddedStack, n: int) -> float:
    """The raw dev server: start ``n`` workflows of a type no worker polls (nothing runs them), with the
    same concurrency the cycle uses (32); workflows started per second."""
    client = await Client.connect(stack.temporal_address, namespace="doudi")  # raw: no codec, no interceptor
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    tag = uuid.uuid4().hex[:6]

    async def starter() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await client.start_workflow("BenchNoop", id=f"bench-{tag}-{i}", task_queue=f"bench-{tag}")

    t = time.monotonic()
    await asyncio.gather(*(starter() for _ in range(32)))
    return n / (time.monotonic() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=0, help="default: 617,800 (Fujian's count, seed 000)")
    parser.add_argument("--changed", type=float, default=0.05, help="share with changed registry data")
    parser.add_argument("--baseline-starts", type=int, default=2000, help="raw dev-server starts for the baseline rate")
    parser.add_argument("--keep", action="store_true", help="keep the stack's data folder afterwards")
    args = parser.parse_args()
    r = asyncio.run(run(args))
    print()
    print(f"review cycle, {r['households']:,} enrolled households, {r['changed']:,} with changed data")
    print(f"  set-based review done               {r['review_s']:7.1f} s   ({r['continued']:,} continue at their"
          f" level, {r['reviewed']:,} changed reviewed as a set ({r['adjusted']:,} active at their new level),"
          f" {r['cases_opened']:,} review cases for a person)")
    print(f"  period paid for the cycle's roll    {r['paid_s']:7.1f} s   ({r['on_roll']:,} on the roll, "
          f"{r['paid_rows']:,} ledger rows for {PERIOD}, no key twice, every adjusted level paid)")
    print(f"  people's review cases started       {r['started_s']:7.1f} s")
    print(f"  baseline: bare UPDATE of every roster row     {r['raw_update_s']:6.1f} s")
    print(f"  baseline: raw dev server, {r['baseline_starts']:,} no-op workflow starts: {r['raw_rate']:.1f} /s "
          f"(at that rate {r['changed']:,} starts would take {r['changed'] / r['raw_rate']:.0f} s)")
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"settled (levels adjusted, month paid, people's cases opened): {r['settled_s']:.1f} s")

if __name__ == "__main__":
    main()
