"""Every fen has an authority (issue 14, the amount attacks) on the real embedded stack.

Each attack is reproduced as it was found and shown contained (4xx, no ledger row), beside the legitimate
path that still pays: a county approver deciding 2^63 - 1 or above the county's limit, a committee chair
deciding above the committee's limit or below the base entitlement, absurd amounts in the contracts, a
one-time subsidy batch at 10^9 fen per person, ``/api/stats`` over sums beyond bigint. Amounts are
tried at limit - 1, limit and limit + 1 for the township, the county and the committee.

Expected figures are written by hand from the seeds (or the labelled local-practice defaults of the
national pack):
* Ningxia, seed 002: 「急难型家庭…按照不低于城市低保月标准…2倍」: 650 yuan x 2 = 1,300 yuan = 130000 fen floor;
  job loss 「按照当地城市低保月标准3倍」: 650 x 3 = 1,950 yuan = 195000 fen, fixed.
* Xinjiang, seed 000: 「对 2000元以下的临时救助申请…委托乡镇（街道）审批」: 200000 fen, 以下 includes it.
* national pack, local practice: county 10,000 yuan = 1000000 fen; committee 50,000 yuan = 5000000 fen.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from deploy.embedded import EmbeddedStack
from shared.auth import issue_token
from tests.support import StackClient, born_on, household, national_id, official_token, wait_for
from tests.townships import fresh_township

pytestmark = pytest.mark.stack

YINCHUAN = "640104"  # 银川市兴庆区 (Ningxia)
URUMQI = "650102"    # 乌鲁木齐市天山区 (Xinjiang)
XIXIA = "640105"     # 银川市西夏区 (Ningxia)
# Counties whose coordination committee only one test of this module fills (a roster shared with another
# test changes the quorum): 石嘴山市大武口区, 平罗县
COMMITTEE_RAISES = "640202"
COMMITTEE_REFUSES = "640221"
NINGXIA_FLOOR = 650 * 2 * 100        # 130000 fen
NINGXIA_JOB_LOSS = 650 * 3 * 100     # 195000 fen
XINJIANG_TOWNSHIP = 2_000 * 100      # 200000 fen, inclusive
COUNTY_LIMIT = 10_000 * 100          # 1000000 fen, local practice
COMMITTEE_LIMIT = 50_000 * 100       # 5000000 fen, local practice
ABSURD = [2**63 - 1, 9_000_000_000_000_000_000, 10**9 * 100, -1, 0]


def bearer(role: str, region: str = "", subject: str | None = None) -> dict[str, str]:
    token = issue_token(subject or f"amt-{role}-{uuid.uuid4().hex[:6]}", role, region=region)
    return {"Authorization": f"Bearer {token}"}


async def official(client: StackClient, role: str, region: str, subject: str | None = None) -> dict[str, str]:
    """An official registered in the officials registry (money is decided only by registered officials)."""
    subject = subject or f"amt-{role}-{uuid.uuid4().hex[:8]}"
    r = await client.http.put(f"/api/officials/{subject}", headers=bearer("admin"), json={
        "person_id": national_id(region[:6]), "name": "官员", "roles": [role], "jurisdiction": region})
    assert r.status_code == 200, r.text
    return bearer(role, region=region, subject=subject)


async def apply_emergency(client: StackClient, region: str, amount_fen: int) -> str:
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": national_id(region[:6]), "region_code": region, "kind": "emergency", "consent": True,
        "details": {"incident_date": "2022-08-10", "requested_amount_fen": amount_fen,
                    "household_type": "emergency_household", "reason": "家中失火"}})
    assert r.status_code == 202, r.text
    return r.json()["case_id"]


async def at_stage(client: StackClient, case_id: str, *stages: str, timeout: float = 60) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await client.http.get(f"/api/cases/{case_id}", headers=bearer("admin"))
        if r.status_code != 200:
            return None
        case = r.json()
        return case if case["stage"] in stages else None
    return await wait_for(probe, timeout=timeout)


async def decide(client: StackClient, case_id: str, headers: dict[str, str], **body: Any) -> Any:
    return await client.http.post(f"/api/cases/{case_id}/decisions", headers=headers, json=body)


async def ledger_fen(client: StackClient, case_id: str) -> list[int]:
    return [r["amount_fen"] for r in await client.ledger(case_id=case_id)]


async def county_case(client: StackClient, requested: int = 250_000, region: str = YINCHUAN) -> str:
    """A Ningxia emergency application above the township's authority: waits for the county."""
    case_id = await apply_emergency(client, region, requested)
    await at_stage(client, case_id, "awaiting_county_decision")
    return case_id


# ---- the county ----------------------------------------------------------------------------------------


async def test_absurd_amounts_from_a_county_approver_are_refused_with_422_and_nothing_is_paid(
        client: StackClient):
    case_id = await county_case(client)
    approver = await official(client, "county_approver", YINCHUAN)
    for amount in ABSURD:
        r = await decide(client, case_id, approver, decision="approve", amount_fen=amount, reason="attack")
        assert r.status_code == 422, (amount, r.text)
        assert "amount_fen" in r.text
    # below the 不低于 floor of 130000 fen: refused by the workflow (409), in Chinese and English
    r = await decide(client, case_id, approver, decision="approve", amount_fen=NINGXIA_FLOOR - 1, reason="less")
    assert r.status_code == 409 and "不低于" in r.json()["detail"] and "at least" in r.json()["detail"]
    assert await ledger_fen(client, case_id) == []
    # the legitimate decision still pays: the floor itself
    r = await decide(client, case_id, approver, decision="approve", amount_fen=NINGXIA_FLOOR, reason="火灾")
    assert r.status_code == 200, r.text
    await at_stage(client, case_id, "awaiting_documents", "closed")
    assert await ledger_fen(client, case_id) == [NINGXIA_FLOOR]


@pytest.mark.parametrize("amount", [COUNTY_LIMIT - 1, COUNTY_LIMIT])
async def test_a_county_approver_decides_up_to_and_including_the_county_limit(client: StackClient, amount: int):
    case_id = await county_case(client)
    approver = await official(client, "county_approver", YINCHUAN)
    r = await decide(client, case_id, approver, decision="approve", amount_fen=amount, reason="重大困难")
    assert r.status_code == 200, r.text
    await at_stage(client, case_id, "awaiting_documents", "closed")
    assert await ledger_fen(client, case_id) == [amount]


async def test_one_fen_above_the_county_limit_is_refused_and_the_case_goes_up_to_the_committee(
        client: StackClient):
    case_id = await county_case(client)
    approver = await official(client, "county_approver", YINCHUAN)
    r = await decide(client, case_id, approver, decision="approve", amount_fen=COUNTY_LIMIT + 1, reason="attack")
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert "超出县级审批权限" in detail and "above the county's authority" in detail and "committee" in detail
    case = await at_stage(client, case_id, "referred_to_committee")
    assert case["escalated_to"] == "committee"
    assert await ledger_fen(client, case_id) == []


async def test_a_one_off_case_decided_above_the_county_limit_goes_up_to_the_committee(client: StackClient):
    # Ningxia job loss (seed 002): 「按照当地城市低保月标准3倍」 = 3 x 650 yuan = 195000 fen awaits the county
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=[], income_fen=0))
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": pid, "region_code": YINCHUAN, "kind": "job_loss", "consent": True,
        "details": {"incident_date": "2022-09-05", "unemployment_insured": False}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    await at_stage(client, case_id, "awaiting_approval")
    approver = await official(client, "county_approver", YINCHUAN)
    r = await decide(client, case_id, approver, decision="approve", amount_fen=COUNTY_LIMIT + 1, reason="attack")
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert "超出县级审批权限" in detail and "escalated to the county coordination committee" in detail, detail
    case = await at_stage(client, case_id, "referred_to_committee")
    assert case["escalated_to"] == "committee"
    assert await ledger_fen(client, case_id) == []
    # the county can no longer decide it: the committee does
    r = await decide(client, case_id, approver, decision="approve", amount_fen=NINGXIA_JOB_LOSS, reason="late")
    assert r.status_code == 409, r.text
    assert await ledger_fen(client, case_id) == []


# ---- the township (Xinjiang: 「2000元以下」 includes 2,000 yuan) -------------------------------------------


async def fund_reserve(client: StackClient, township: str, amount_fen: int) -> None:
    finance = bearer("finance", region=URUMQI)
    r = await client.http.put(f"/api/reserves/{township}", json={"threshold_fen": 0, "target_fen": amount_fen},
                              headers=finance)   # the approved size the funding stands on
    assert r.status_code in (200, 201), r.text
    r = await client.http.post(f"/api/reserves/{township}/credits", headers=finance, json={
        "amount_fen": amount_fen, "idempotency_key": f"initial-{township}", "reason": "initial allocation"})
    assert r.status_code in (200, 201), r.text


@pytest.mark.parametrize(("amount", "township_pays"), [
    (XINJIANG_TOWNSHIP - 1, True), (XINJIANG_TOWNSHIP, True), (XINJIANG_TOWNSHIP + 1, False)])
async def test_the_township_approves_up_to_and_including_2000_yuan_and_not_one_fen_more(
        client: StackClient, amount: int, township_pays: bool):
    township = fresh_township(URUMQI)
    await fund_reserve(client, township, 1_000_000)
    case_id = await apply_emergency(client, township, amount)
    if township_pays:
        await at_stage(client, case_id, "awaiting_documents", "closed")
        [row] = await client.ledger(case_id=case_id)
        assert (row["amount_fen"], row["account"]) == (amount, f"township-reserve:{township}")
    else:
        await at_stage(client, case_id, "awaiting_county_decision")
        assert await ledger_fen(client, case_id) == []


# ---- the committee (一事一议) -----------------------------------------------------------------------------


async def committee(client: StackClient, county: str) -> list[dict[str, str]]:
    """Three registered members of the county's coordination committee, the first the chair."""
    headers = []
    for i, dept in enumerate(("民政", "财政", "卫健")):
        subject = f"amt-member-{uuid.uuid4().hex[:8]}"
        r = await client.http.put(f"/api/committees/{county}/members/{subject}", headers=bearer("admin"), json={
            "name": dept, "department": dept, "chair": i == 0})
        assert r.status_code == 200, r.text
        headers.append(await official(client, "committee", county, subject))
    return headers


async def escalated_matter(client: StackClient, members: list[dict[str, str]], vote: str,
                           county: str) -> tuple[str, str]:
    case_id = await county_case(client, region=county)
    approver = await official(client, "county_approver", county)
    r = await client.http.post(f"/api/cases/{case_id}/escalate", headers=approver, json={"reason": "重大生活困难"})
    assert r.status_code == 200, r.text
    matter_id = f"om-{case_id}"
    await at_stage(client, matter_id, "dossier_assembled")
    for m in members[1:]:
        body: dict[str, Any] = {"decision": "opinion", "vote": vote, "reason": "意见"}
        if vote == "approve":
            body["amount_fen"] = 2_000_000
        r = await client.http.post(f"/api/cases/{matter_id}/decisions", headers=m, json=body)
        assert r.status_code == 200, r.text
    return case_id, matter_id


async def test_the_committee_chair_decides_up_to_its_limit_never_above_nor_below_the_base(client: StackClient):
    chair, *others = members = await committee(client, COMMITTEE_RAISES)
    case_id, matter_id = await escalated_matter(client, members, "approve", COMMITTEE_RAISES)

    async def chair_decides(amount: int) -> Any:
        return await client.http.post(f"/api/cases/{matter_id}/decisions", headers=chair, json={
            "decision": "committee_decision", "approve": True, "amount_fen": amount, "reason": "一事一议"})
    for amount in ABSURD[:3]:
        assert (await chair_decides(amount)).status_code == 422
    r = await chair_decides(COMMITTEE_LIMIT + 1)
    assert r.status_code == 409 and "超出" in r.json()["detail"] and "prefecture" in r.json()["detail"]
    r = await chair_decides(NINGXIA_FLOOR - 1)  # the committee only ever raises aid
    assert r.status_code == 409 and "不低于" in r.json()["detail"]
    assert await ledger_fen(client, case_id) == []
    r = await chair_decides(COMMITTEE_LIMIT)
    assert r.status_code == 200, r.text
    await at_stage(client, case_id, "awaiting_documents", "closed")
    assert await ledger_fen(client, case_id) == [COMMITTEE_LIMIT]


async def test_a_committee_refusal_leaves_the_base_entitlement_due(client: StackClient):
    chair, *_ = members = await committee(client, COMMITTEE_REFUSES)  # a committee of its own: quorum 2 of 3
    case_id, matter_id = await escalated_matter(client, members, "reject", COMMITTEE_REFUSES)
    r = await client.http.post(f"/api/cases/{matter_id}/decisions", headers=chair, json={
        "decision": "committee_decision", "approve": False, "reason": "不予提高"})
    assert r.status_code == 200, r.text
    await at_stage(client, case_id, "awaiting_documents", "closed")
    assert await ledger_fen(client, case_id) == [NINGXIA_FLOOR]  # the floor the policy grants, 130000 fen


# ---- a fixed amount -------------------------------------------------------------------------------------


async def test_an_approver_cannot_change_a_fixed_amount(client: StackClient):
    pid = national_id(YINCHUAN)
    await client.register({"household_id": f"hh-amt-{uuid.uuid4().hex[:8]}", "region_code": YINCHUAN,
                           "urban": True, "categories": [], "monthly_income_fen": 0,
                           "members": [{"person_id": pid, "name": "张三", "relation": "head",
                                        "birth_date": born_on(pid)}]})
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": pid, "region_code": YINCHUAN, "kind": "job_loss", "consent": True,
        "details": {"incident_date": "2022-09-05", "unemployment_insured": False}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    await at_stage(client, case_id, "awaiting_approval")
    approver = await official(client, "county_approver", YINCHUAN)
    for amount in (NINGXIA_JOB_LOSS + 1, NINGXIA_JOB_LOSS - 1):
        r = await decide(client, case_id, approver, decision="approve", amount_fen=amount, reason="x")
        assert r.status_code == 409 and "policy fixes" in r.json()["detail"], r.text
    r = await decide(client, case_id, approver, decision="approve", amount_fen=2**63 - 1, reason="x")
    assert r.status_code == 422
    assert await ledger_fen(client, case_id) == []
    r = await decide(client, case_id, approver, decision="approve", amount_fen=NINGXIA_JOB_LOSS, reason="符合")
    assert r.status_code == 200, r.text
    await at_stage(client, case_id, "closed")
    assert await ledger_fen(client, case_id) == [NINGXIA_JOB_LOSS]


# ---- contracts and aggregates ---------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [10**9, 2**63 - 1, -1])
async def test_a_batch_at_an_absurd_amount_per_person_is_refused_before_anything_pays(
        client: StackClient, amount: int):
    r = await client.http.post("/api/batches", headers=bearer("finance"), json={
        "measure": "one_time_living_subsidy", "region_prefix": "35", "snapshot_on": "2022-07-01",
        "amount_fen_per_person": amount})
    assert r.status_code == 422 and "amount_fen_per_person" in r.text, r.text


@pytest.mark.parametrize(("path", "field"), [
    ("/api/households", "monthly_income_fen"),
    ("/api/applications", "requested_amount_fen"),
])
async def test_absurd_amounts_in_the_http_contracts_answer_422_naming_the_field(
        client: StackClient, path: str, field: str):
    pid = national_id(YINCHUAN)
    body: dict[str, Any] = (
        {"household_id": f"hh-amt-{uuid.uuid4().hex[:8]}", "region_code": YINCHUAN, "urban": True,
         "monthly_income_fen": 2**63 - 1, "members": [{"person_id": pid, "name": "张三", "relation": "head",
                                                     "birth_date": born_on(pid)}]}
        if path == "/api/households" else
        {"person_id": pid, "region_code": YINCHUAN, "kind": "emergency", "consent": True,
         "details": {"requested_amount_fen": 2**63 - 1}})
    r = await client.http.post(path, headers=client.clerk, json=body)
    assert r.status_code == 422 and field in r.text, r.text


async def test_stats_answer_sums_beyond_bigint(client: StackClient, stack: EmbeddedStack):
    """Two payments whose sum is beyond bigint (as the attack left them) must not make /api/stats a 500."""
    case_id = f"amt-stats-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute("INSERT INTO operations.cases (case_id, pathway, status, stage, region_code)"
                           " VALUES ($1, 'emergency_relief', 'closed', 'closed', '640104')", case_id)
        for i in (1, 2):
            await conn.execute("INSERT INTO operations.payments (payment_id, case_id, amount_fen, status, installment,"
                               " paid_at) VALUES ($1, $2, $3, 'paid', $4, $5)", f"{case_id}-{i}", case_id,
                               2**63 - 1, i, datetime.now(UTC))
    finally:
        await conn.close()
    r = await client.http.get("/api/stats", params={"region_code": "640104", "days": 1},
                              headers=bearer("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["payments"]["amount_fen"] >= 2 * (2**63 - 1)


# ---- price linkage: the amount is computed by doudi, never taken from the event ---------------------------

JINFENG = "640106"  # 银川市金凤区 (Ningxia): a county of its own, so no other test's batch overlaps it
DLQ = "doudi.dlq.events"


async def batch_rows(stack: EmbeddedStack, batch_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch("SELECT * FROM payment.ledger WHERE case_id = $1", batch_id)
    finally:
        await conn.close()


async def test_a_price_linkage_event_carrying_10m_yuan_pays_the_computed_subsidy_and_a_conflicting_one_is_dead_lettered(
        client: StackClient, stack: EmbeddedStack):
    from workflows.batch_subsidy.inputs import batch_id_for, price_linkage_occasion

    pid = national_id(JINFENG, born="1960-01-01")
    await client.register({"household_id": f"hh-amt-{uuid.uuid4().hex[:8]}", "region_code": JINFENG, "urban": True,
                           "categories": ["dibao"], "monthly_income_fen": 0,
                           "members": [{"person_id": pid, "name": "李四", "relation": "head",
                                        "birth_date": "1960-01-01"}]})
    # the attack: 1,000,000,000 fen (10 M yuan) per person in the event. doudi computes the subsidy itself:
    # the urban dibao standard 650 yuan (seed 002) x the reported index rise 3.5 % (35 per mille) x 1 (the
    # national pack's local-practice rule) = 65000 x 35 / 1000 = 2275 fen per person
    first = await client.publish("price.linkage_triggered", {
        "region_code": JINFENG, "month": "2022-11", "price_index_rise_permille": 35,
        "subsidy_fen_per_person": 1_000_000_000})
    batch_id = batch_id_for("price_linkage", JINFENG, price_linkage_occasion("2022-11"))

    async def paid() -> list[asyncpg.Record] | None:
        rows = [r for r in await batch_rows(stack, batch_id) if r["person_id"] == pid]
        return rows or None
    [row] = await wait_for(paid, timeout=120)
    assert row["amount_fen"] == 2275 and row["cause_event_id"] == first
    assert {r["amount_fen"] for r in await batch_rows(stack, batch_id)} == {2275}

    # another event for the same occasion that computes something else (4.0 %: 65000 x 40 / 1000 = 2600
    # fen) is not "already started": it is dead-lettered as a conflict, for an operator
    second = await client.publish("price.linkage_triggered", {
        "region_code": JINFENG, "month": "2022-11", "price_index_rise_permille": 40})

    async def conflict() -> Any:
        msgs = await client.fetch_stream(DLQ, timeout=0.5)
        return next((m for m in msgs if (m.headers or {}).get("Doudi-Event-Id") == second), None)
    dead = await wait_for(conflict, timeout=60, interval=0.5)
    assert "conflicting price-linkage event" in json.dumps(dict(dead.headers or {}), ensure_ascii=False) + \
        dead.data.decode("utf-8", "replace")
    # the same content again is the same batch: nothing more is paid
    await client.publish("price.linkage_triggered", {
        "region_code": JINFENG, "month": "2022-11", "price_index_rise_permille": 35})
    assert [r["amount_fen"] for r in await batch_rows(stack, batch_id) if r["person_id"] == pid] == [2275]


async def test_a_price_linkage_batch_above_the_ceiling_is_refused(client: StackClient):
    # local practice ceiling: 200 yuan = 20000 fen per person per month (national pack)
    r = await client.http.post("/api/batches", headers=bearer("finance"), json={
        "measure": "price_linkage", "region_prefix": "6401", "snapshot_on": "2022-12-01",
        "amount_fen_per_person": 20_001})
    assert r.status_code == 422 and "ceiling" in r.text, r.text


# ---- four eyes on an amount the policy leaves open ------------------------------------------------------


async def test_a_batch_whose_amount_a_person_sets_pays_nothing_until_a_second_official_approves(
        client: StackClient, stack: EmbeddedStack):
    # Fujian's one-time subsidy names no amount per recipient (seed 001 leaves it to the province): a
    # finance official sets 500 yuan; the same official cannot approve it, another one does
    asker = f"amt-fin-a-{uuid.uuid4().hex[:6]}"
    first = {"Authorization": f"Bearer {official_token(asker, 'finance')}"}   # registered persons: four eyes
    r = await client.http.post("/api/batches", headers=first, json={
        "measure": "one_time_living_subsidy", "region_prefix": "350102", "snapshot_on": "2022-07-01",
        "amount_fen_per_person": 50_000})
    assert r.status_code == 202, r.text
    batch_id = r.json()["batch_id"]
    assert r.json()["status"] == "awaiting_second_approval"
    assert await batch_rows(stack, batch_id) == []
    r = await client.http.post(f"/api/batches/{batch_id}/approve", headers=first, json={"reason": "myself"})
    assert r.status_code == 409 and "four eyes" in r.json()["detail"]
    r = await client.http.post(f"/api/batches/{batch_id}/approve", headers=bearer("auditor"), json={"reason": "x"})
    assert r.status_code == 403
    second = {"Authorization": f"Bearer {official_token(f'amt-fin-b-{uuid.uuid4().hex[:6]}', 'finance')}"}
    r = await client.http.post(f"/api/batches/{batch_id}/approve", headers=second, json={"reason": "复核无误"})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["requested_by"] == f"finance:{asker}" and view["status"] != "awaiting_second_approval"
    assert view["second_approved_by"].startswith("finance:amt-fin-b-")  # both officials are recorded
    r = await client.http.post(f"/api/batches/{batch_id}/approve", headers=second, json={"reason": "again"})
    assert r.status_code == 409


async def test_four_eyes_on_a_batch_are_two_registered_persons_not_two_logins(
        client: StackClient, stack: EmbeddedStack):
    # the officials registry (approval's, asked over HTTP by payment) says who a login is
    person = national_id("110105")
    asker = f"amt-fin-p-{uuid.uuid4().hex[:6]}"
    first = {"Authorization": f"Bearer {official_token(asker, 'finance', person_id=person)}"}
    r = await client.http.post("/api/batches", headers=first, json={
        "measure": "one_time_living_subsidy", "region_prefix": "350103", "snapshot_on": "2022-07-01",
        "amount_fen_per_person": 50_000})
    assert r.status_code == 202 and r.json()["status"] == "awaiting_second_approval", r.text
    batch_id = r.json()["batch_id"]
    # another login of the same registered person is the same pair of eyes
    other_token = official_token(f"amt-fin-p2-{uuid.uuid4().hex[:6]}", "finance", person_id=person)
    other_login = {"Authorization": f"Bearer {other_token}"}
    r = await client.http.post(f"/api/batches/{batch_id}/approve", headers=other_login,
                               json={"reason": "my other login"})
    assert r.status_code == 409 and "same registered person" in r.json()["detail"], r.text
    # a finance official not in the registry cannot be the second
    r = await client.http.post(f"/api/batches/{batch_id}/approve", headers=bearer("finance"), json={"reason": "who?"})
    assert r.status_code == 409 and "not an active registered official" in r.json()["detail"], r.text
    r = await client.http.get(f"/api/batches/{batch_id}", headers=bearer("auditor"))
    assert r.json()["status"] == "awaiting_second_approval" and r.json()["second_approved_by"] is None
    assert await batch_rows(stack, batch_id) == []   # nothing paid
    # another registered person approves
    second = {"Authorization": f"Bearer {official_token(f'amt-fin-q-{uuid.uuid4().hex[:6]}', 'finance')}"}
    r = await client.http.post(f"/api/batches/{batch_id}/approve", headers=second, json={"reason": "复核无误"})
    assert r.status_code == 200 and r.json()["second_approved_by"].startswith("finance:amt-fin-q-"), r.text


async def test_four_eyes_need_the_first_official_registered_too(client: StackClient):
    # an unregistered login asked: no second person can be established, so nobody approves it
    r = await client.http.post("/api/batches", headers=bearer("finance"), json={
        "measure": "one_time_living_subsidy", "region_prefix": "350104", "snapshot_on": "2022-07-01",
        "amount_fen_per_person": 50_000})
    assert r.status_code == 202, r.text
    second = {"Authorization": f"Bearer {official_token(f'amt-fin-r-{uuid.uuid4().hex[:6]}', 'finance')}"}
    r = await client.http.post(f"/api/batches/{r.json()['batch_id']}/approve", headers=second, json={"reason": "x"})
    assert r.status_code == 409 and "ask again as a registered official" in r.json()["detail"], r.text


# ---- who confirms a dibao enrolment (issue 13 item 10) --------------------------------------------------


async def dibao_application(client: StackClient, region: str, on: str = "2022-08-10") -> tuple[str, str]:
    head = national_id(region, born="1960-01-01")
    await client.register({"household_id": f"hh-amt-{uuid.uuid4().hex[:8]}", "region_code": region, "urban": True,
                           "categories": [], "monthly_income_fen": 0,
                           "members": [{"person_id": head, "name": "王五", "relation": "head",
                                        "birth_date": "1960-01-01"}]})
    r = await client.http.post("/api/applications", headers=client.clerk, json={
        "person_id": head, "region_code": region, "kind": "dibao", "consent": True,
        "details": {"incident_date": on}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    await client.through_enrolment_duties(case_id, on)
    await at_stage(client, case_id, "awaiting_approval")
    return case_id, head


async def test_ningxia_devolves_dibao_confirmation_to_the_township_while_its_measures_are_in_force(
        client: StackClient):
    # Ningxia, seed 002 item 14: 「县级民政部门要指导乡镇（街道）按照社会救助确认权限下放工作要求」:
    # the township confirms
    case_id, head = await dibao_application(client, XIXIA)
    level = (await client.http.get(f"/api/cases/{case_id}", headers=bearer("admin"))).json()["approved_amount_fen"]
    township = await official(client, "township_approver", XIXIA)
    r = await decide(client, case_id, township, decision="approve", amount_fen=level, reason="入户调查无争议")
    assert r.status_code == 200, r.text
    await at_stage(client, case_id, "closed", "paid", "handed_back", timeout=90)
    assert [r["amount_fen"] for r in await client.ledger(person_id=head)] == [level]
    # after the 20 measures (in force to 2023-12-31) no pack in force devolves it: the national notice's
    # county confirmation (「全面落实县、乡两级审批政策规定」, local-practice flag false); a township approver
    # is refused
    case_id, head = await dibao_application(client, XIXIA, on="2024-02-10")
    level = (await client.http.get(f"/api/cases/{case_id}", headers=bearer("admin"))).json()["approved_amount_fen"]
    township = await official(client, "township_approver", XIXIA)
    r = await decide(client, case_id, township, decision="approve", amount_fen=level, reason="x")
    assert r.status_code == 409 and "county level" in r.json()["detail"], r.text
    assert await client.ledger(person_id=head) == []


# ---- reserve credits stand on an approved amount ------------------------------------------------------
# A direct funding by finance only brings a township reserve up to the size the county approved for it
# (its configured target_fen); anything more goes through a replenishment request the county approves.

RESERVE_TARGET = 5_000 * 100   # 500000 fen: the approved size this test's county gives its township reserve
FIRST_CREDIT = 1_000 * 100     # 100000 fen already in the reserve


async def reserve_credits(client: StackClient, township: str) -> tuple[int, list[int]]:
    r = await client.http.get(f"/api/reserves/{township}", headers=bearer("auditor"))
    assert r.status_code == 200, r.text
    detail = r.json()
    return detail["balance_fen"], [m["amount_fen"] for m in detail["movements"] if m["direction"] == "in"]


@pytest.mark.parametrize(("balance_after", "credited"), [
    (RESERVE_TARGET - 1, True), (RESERVE_TARGET, True), (RESERVE_TARGET + 1, False)])
async def test_a_second_direct_funding_may_bring_a_reserve_up_to_its_approved_size_and_not_one_fen_more(
        client: StackClient, balance_after: int, credited: bool):
    township = fresh_township(URUMQI)
    finance = bearer("finance", region=URUMQI)
    r = await client.http.put(f"/api/reserves/{township}", headers=finance,
                              json={"threshold_fen": 0, "target_fen": RESERVE_TARGET})
    assert r.status_code == 200, r.text
    r = await client.http.post(f"/api/reserves/{township}/credits", headers=finance, json={
        "amount_fen": FIRST_CREDIT, "idempotency_key": f"first-{township}", "reason": "initial allocation"})
    assert r.status_code == 200, r.text
    second = balance_after - FIRST_CREDIT   # 399999, 400000 or 400001 fen
    r = await client.http.post(f"/api/reserves/{township}/credits", headers=finance, json={
        "amount_fen": second, "idempotency_key": f"second-{township}", "reason": "top-up"})
    if credited:
        assert r.status_code == 200, r.text
        assert await reserve_credits(client, township) == (balance_after, [second, FIRST_CREDIT])
    else:
        assert r.status_code == 409, r.text
        detail = r.json()["detail"]
        assert "补充申请" in detail and "replenishment request" in detail and "target_fen 500000" in detail
        assert await reserve_credits(client, township) == (FIRST_CREDIT, [FIRST_CREDIT])   # no ledger row
        # the way that is left: the township's request, approved by the county (bounded to what it asked)
        r = await client.http.get(f"/api/reserves/{township}", headers=bearer("auditor"))
        assert r.json()["open_request"] is None   # at its threshold with nothing waiting, it asks for nothing


async def test_a_direct_funding_into_a_reserve_with_no_approved_size_is_refused(client: StackClient):
    township = fresh_township(URUMQI)
    finance = bearer("finance", region=URUMQI)
    r = await client.http.put(f"/api/reserves/{township}", headers=finance,
                              json={"threshold_fen": 0, "target_fen": 0})
    assert r.status_code == 200, r.text
    for amount in (1, 10**9 * 100):
        r = await client.http.post(f"/api/reserves/{township}/credits", headers=finance, json={
            "amount_fen": amount, "idempotency_key": f"k-{amount}-{township}", "reason": "no approved size"})
        assert r.status_code == 409 and "target_fen 0" in r.json()["detail"], r.text
    assert await reserve_credits(client, township) == (0, [])


@pytest.mark.parametrize("target", [1_000_000_000 + 1, 10**13, 2**63 - 1, -1])
async def test_a_reserve_target_above_the_contracts_maximum_is_refused_with_422(client: StackClient, target: int):
    # the contract's sane maximum for one reserve's approved size: 10,000,000 yuan = 1000000000 fen
    township = fresh_township(URUMQI)
    r = await client.http.put(f"/api/reserves/{township}", headers=bearer("finance", region=URUMQI),
                              json={"threshold_fen": 0, "target_fen": target})
    assert r.status_code == 422 and "target_fen" in r.text, r.text
    r = await client.http.put(f"/api/reserves/{township}", headers=bearer("finance", region=URUMQI),
                              json={"threshold_fen": 0, "target_fen": 1_000_000_000})
    assert r.status_code == 200, r.text
