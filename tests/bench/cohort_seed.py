"""Seed a registry cohort fast: households and members COPYed straight into intake's tables.

Set-up for the batch tests and the benchmark only (the test may write any schema to set up); the
system under test reads the registry through intake's cohort export like any consumer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

import asyncpg

from shared.contracts.identity import id_check_character

BIRTH_BASE = date(1900, 1, 1)


def person_id(region: str, serial: int) -> str:
    """A valid 18-character national ID, unique per serial (birth date from serial // 1000)."""
    birth = BIRTH_BASE + timedelta(days=serial // 1000)
    first17 = f"{region[:6]}{birth:%Y%m%d}{serial % 1000:03d}"
    return first17 + id_check_character(first17)


@dataclass
class Seeded:
    eligible: dict[str, str] = field(default_factory=dict)     # person_id -> region_code
    ineligible: dict[str, str] = field(default_factory=dict)   # person_id -> why
    households: int = 0


async def seed_cohort(conn: asyncpg.Connection, *, regions: list[str], recipients: int, first_serial: int,
                      tag: str, categories: tuple[tuple[str, ...], ...] = (("dibao",),) * 6 + (("extreme_poverty",),),
                      marginal: int = 0, deceased: int = 0, died_on: date | None = None,
                      rng_seed: int = 0) -> Seeded:
    """``recipients`` eligible members (households of 1-3 people spread over ``regions``), plus
    ``marginal`` members of marginal-only households and ``deceased`` members who died on ``died_on``
    (both left out by an export for dibao/extreme_poverty after that date)."""
    rng = random.Random(rng_seed)
    out = Seeded()
    households: list[tuple] = []
    members: list[tuple] = []
    serial = first_serial

    def add_household(n_members: int, cats: tuple[str, ...], dead: bool = False) -> list[str]:
        nonlocal serial
        region = regions[len(households) % len(regions)]
        hid = f"{tag}-hh-{len(households)}"
        households.append((hid, region, rng.random() < 0.6, list(cats), rng.randrange(0, 40000)))
        ids = []
        for k in range(n_members):
            pid = person_id(region, serial)
            birth = BIRTH_BASE + timedelta(days=serial // 1000)
            serial += 1
            members.append((pid, hid, "测试", "head" if k == 0 else "member", birth, [],
                            died_on if dead else None))
            ids.append(pid)
        return ids

    left = recipients
    while left > 0:
        size = min(left, rng.choice((1, 1, 2, 2, 3)))
        region = regions[len(households) % len(regions)]
        for pid in add_household(size, rng.choice(categories)):
            out.eligible[pid] = region
        left -= size
    for _ in range(marginal):
        for pid in add_household(1, ("marginal",)):
            out.ineligible[pid] = "marginal only"
    for _ in range(deceased):
        for pid in add_household(1, ("dibao",), dead=True):
            out.ineligible[pid] = f"died {died_on}"
    await conn.copy_records_to_table(
        "households", schema_name="intake", records=households,
        columns=["household_id", "region_code", "urban", "categories", "monthly_income_fen"])
    await conn.copy_records_to_table(
        "members", schema_name="intake", records=members,
        columns=["person_id", "household_id", "name", "relation", "birth_date", "flags", "deceased_on"])
    out.households = len(households)
    return out
