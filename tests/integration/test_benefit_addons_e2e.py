"""Issue 13 item 15 end to end: a household registered as remote gets XPCC's remote add-on, an
extreme-poverty person needing full care gets the care allowance, an orphan raised in an institution gets
Ningxia's orphan allowance - computed by the policy from the registry's facts on import, and paid by the
region's monthly cycle. Figures: XPCC first division test fixture (standard 60005, remote 20%, support
1.3x, minimum wage 190001: TEST FIXTURE values, the seed leaves them to the division), Ningxia seed 002."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deploy.embedded import EmbeddedStack
from tests.integration.test_enrolled_households import bearer, family, roster, run_cycle
from tests.support import StackClient, national_id

pytestmark = pytest.mark.stack

XPCC = "660107"  # a county of its own: the enrolled-households test counts 660102's cohort
YINCHUAN_JINFENG = "640106"


async def _import(client: StackClient, region: str, *lines: dict[str, Any]) -> None:
    r = await client.http.post("/api/enrolments/import", content="\n".join(json.dumps(x) for x in lines).encode(),
                               headers=bearer("county_approver", region=region))
    assert r.status_code == 200, r.text


async def test_remote_add_on_full_care_and_orphan_allowance_from_the_registry_are_paid(
        client: StackClient, stack: EmbeddedStack):
    remote = {**family(0, size=2, region=XPCC), "remote": True}  # two adults, no income, a remote company
    cared = family(0, size=1, region=XPCC)
    cared["members"][0].update(person_id=national_id(XPCC, born="1940-03-03"), birth_date="1940-03-03",
                               flags=["full_care"])
    cared["categories"] = ["extreme_poverty"]
    await _import(client, XPCC,
                  {"household": remote, "enrolled_from": "2022-07", "paid_through": "2022-08"},
                  {"household": cared, "kind": "extreme_poverty", "enrolled_from": "2022-07",
                   "paid_through": "2022-08"})
    # seed 004 remote add-on 「按照不高于低保标准 20% 的比例增发救助金」 (fixture 20%): differential 2 x 60005 = 120010,
    # + 0.20 x 60005 = 12001 per member x 2 = 24002: 144012
    assert (await roster(stack, remote["household_id"]))["level_fen"] == 144012
    # support 1.3 x 60005 = 78006.5 -> 78007; seed 004 「确保全护理特困对象照料护理标准不低于当地最低工资标准的 70%」:
    # 0.70 x 190001 = 133000.7 -> 133001 (a floor, rounded up): 211008
    assert (await roster(stack, cared["household_id"]))["level_fen"] == 211008

    orphan = family(0, size=1, region=YINCHUAN_JINFENG)
    orphan["members"][0].update(person_id=national_id(YINCHUAN_JINFENG, born="2012-06-01"), birth_date="2012-06-01",
                                flags=["raised_in_institution"])
    orphan["categories"] = ["orphan", "extreme_poverty"]
    await _import(client, YINCHUAN_JINFENG,
                  {"household": orphan, "kind": "extreme_poverty", "enrolled_from": "2022-07",
                   "paid_through": "2022-08"})
    # seed 002 「机构内养育孤儿和社会散居孤儿津贴标准，分别提高到每人每月1500元、1000元」: 150000
    assert (await roster(stack, orphan["household_id"]))["level_fen"] == 150000

    sep = await run_cycle(client, stack, "2022-09", region=XPCC)
    assert sep["on_roll"] == 2 and sep["roll_fen"] == 144012 + 211008
    paid = {r["idempotency_key"]: r["amount_fen"] for r in await client.ledger(household_id=remote["household_id"])}
    assert paid == {f"dibao:{remote['household_id']}:2022-09": 144012}
    sep = await run_cycle(client, stack, "2022-09", region=YINCHUAN_JINFENG)
    assert sep["on_roll"] == 1 and sep["roll_fen"] == 150000
