"""Issue 14, against the real embedded stack: no decision without a verified principal.

Each attack of the issue, contained, and the legitimate path beside it:
- a Temporal update sent straight to the embedded Temporal with ``role: "admin"`` in the payload is
  refused (no ledger row), and the refusal is in the worker's log;
- ``Authorization: Bearer  <token>`` (two spaces) and other malformed headers answer 401 with no data;
- conflict of interest is checked against the officials registry, with no ``pid`` claim in any token;
  an official not in the registry decides no money;
- one dead letter redelivered twice with different bodies pays once; a correction of the person needs
  a second official; the body is kept sealed in the audit log;
- region claims ``%`` / ``6401%`` are refused, and a ``%`` filter matches nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import jwt
import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from deploy.embedded import EmbeddedStack
from shared.auth import issue_token
from shared.config import get_settings
from shared.infra.temporal import data_converter
from tests.integration.test_one_off_assistance import apply, one_case
from tests.support import StackClient, born_on, household, national_id, official_token, register_official, wait_for

pytestmark = pytest.mark.stack

YINCHUAN = "640104"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def county_approver(person_id: str | None = None) -> dict[str, str]:
    """A registered county approver of 6401 (the registry holds their person id; the token has none)."""
    return bearer(official_token(f"sec-county-{uuid.uuid4().hex[:6]}", "county_approver", region="6401",
                                 person_id=person_id))


def admin() -> dict[str, str]:
    return bearer(issue_token(f"sec-admin-{uuid.uuid4().hex[:6]}", "admin"))


async def job_loss_case(client: StackClient, *, spouse: str | None = None) -> tuple[str, dict[str, Any]]:
    """A job-loss case of a Yinchuan household waiting for an approver's decision (195,000 fen: 3 x
    Yinchuan's 650-yuan city standard, seed 002)."""
    pid = national_id(YINCHUAN)
    body = household(pid, region=YINCHUAN, categories=[], income_fen=0)
    if spouse:
        body["members"].append({"person_id": spouse, "name": "配偶", "relation": "spouse",
                                "birth_date": born_on(spouse)})
    await client.register(body)
    await apply(client, pid, "job_loss", details={"incident_date": "2022-09-05", "unemployment_insured": False})
    return pid, await one_case(client, pid, "awaiting_approval")


async def ledger_of(stack: EmbeddedStack, person_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch("SELECT * FROM payment.ledger WHERE person_id = $1", person_id)
    finally:
        await conn.close()


# ---- a client that reaches Temporal directly -------------------------------------------------------------

async def test_an_admin_role_in_a_payload_sent_straight_to_temporal_pays_nothing(client: StackClient,
                                                                                 stack: EmbeddedStack):
    pid, case = await job_loss_case(client)
    direct = await Client.connect(stack.temporal_address, namespace="doudi", data_converter=data_converter())
    handle = direct.get_workflow_handle(case["case_id"])
    forged = {"approver": "mallory", "role": "admin", "approve": True, "amount_fen": 777_777_777_777,
              "reason": "", "region": "", "person_id": None}
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("decide", forged)
    assert "unsigned" in str(refused.value.cause)
    # a forged assertion: a key of the attacker's own
    from shared.assertions import AssertionSigner, Signatory, new_private_key
    mallory = AssertionSigner(new_private_key()).sign(
        Signatory(subject="mallory", role="admin", person_id="110105197001010011"),
        case_id=case["case_id"], update="decide", body=forged)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("decide", mallory)
    assert "unknown key" in str(refused.value.cause)
    assert await ledger_of(stack, pid) == []
    assert (await client.case(case["case_id"]))["stage"] == "awaiting_approval"

    # visible to operators: the refusal is in the worker's log (a refused update leaves no history event)
    async def logged() -> bool:
        text = (stack.logs / "workflows.log").read_text(errors="replace")
        return f"refused update decide on case {case['case_id']}" in text
    await wait_for(logged, timeout=20)

    # the legitimate path: the same decision through the front door, by a registered official, pays
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", headers=county_approver(),
                               json={"decision": "approve", "amount_fen": 195000})
    assert r.status_code == 200, r.text
    done = await client.closed_case(pid)
    assert done["outcome"] == "paid" and [p["amount_fen"] for p in done["payments"]] == [195000]


# ---- one token parser, failing closed ---------------------------------------------------------------------

async def test_malformed_authorization_headers_answer_401_and_never_unmasked_data(client: StackClient):
    pid = national_id(YINCHUAN)
    hh = await client.register(household(pid, region=YINCHUAN))
    path = f"/api/households/{hh['household_id']}"
    token = issue_token("sec-auditor", "auditor")  # a role that reads households, masked
    # (leading and trailing whitespace of a header value is stripped by HTTP itself: not listed)
    for header in (f"Bearer  {token}", f"Bearer   {token}", f"Bearer\t{token}", f"Bearer {token}x",
                   f"Basic {token}", "Bearer", f"Bearer {token},{token}", f"Bearer {token} {token}"):
        r = await client.http.get(path, headers={"Authorization": header})
        assert r.status_code == 401, (header, r.status_code, r.text)
        assert pid not in r.text
    # two Authorization headers (the second of a role that sees full IDs): refused, not the more generous one
    clerk = issue_token("sec-clerk", "clerk")
    r = await client.http.get(path, headers=[("Authorization", f"Bearer {token}"),
                                             ("Authorization", f"Bearer {clerk}")])
    assert r.status_code == 401 and pid not in r.text
    # the well-formed header still works, masked for the auditor
    r = await client.http.get(path, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert pid not in r.text and pid[:6] + "********" + pid[14:] in r.text


@pytest.mark.parametrize("region", ["%", "6401%", "64_1", "", "６４", "6401\n", "640", "99", "64010"])
async def test_region_claims_are_validated(client: StackClient, region: str):
    settings = get_settings()
    token = jwt.encode({"sub": "sec-wild", "role": "clerk", "region": region, "iss": settings.jwt_issuer,
                        "exp": 4_102_444_800}, settings.jwt_secret, algorithm="HS256")
    r = await client.http.get("/api/cases", headers=bearer(token))
    assert r.status_code == 401, (region, r.text)


async def test_a_token_without_a_region_is_not_province_wide(client: StackClient):
    settings = get_settings()
    token = jwt.encode({"sub": "sec-noregion", "role": "admin", "iss": settings.jwt_issuer, "exp": 4_102_444_800},
                       settings.jwt_secret, algorithm="HS256")
    r = await client.http.get("/api/admin/dlq", headers=bearer(token))
    assert r.status_code == 401


async def test_a_percent_filter_is_a_literal_not_a_wildcard(client: StackClient):
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN))
    await client.publish("health.quarantined", {"person_id": pid, "region_code": YINCHUAN,
                                                "quarantined_on": "2022-08-10"})
    await wait_for(lambda: client.cases(person_id=pid), timeout=90)  # its case, whatever its stage
    clerk = bearer(issue_token("sec-clerk-6401", "clerk", region="6401"))
    for wildcard in ("%", "6401%", "_40104"):
        r = await client.http.get("/api/cases", params={"region_code": wildcard}, headers=clerk)
        assert r.status_code in (200, 422) and (r.status_code == 422 or r.json()["items"] == []), (wildcard, r.text)
    r = await client.http.get("/api/cases", params={"region_code": "6401", "person_id": pid}, headers=clerk)
    assert [c["person_id"] for c in r.json()["items"]] == [pid]


# ---- conflict of interest from the officials registry -----------------------------------------------------

async def test_conflict_of_interest_from_the_registry_without_any_pid_claim(client: StackClient,
                                                                           stack: EmbeddedStack):
    spouse = national_id(YINCHUAN)
    pid, case = await job_loss_case(client, spouse=spouse)
    decision = {"decision": "approve", "amount_fen": 195000}
    # the official's token carries no person id at all; the registry knows they are the spouse
    related = county_approver(person_id=spouse)
    assert "pid" not in jwt.decode(related["Authorization"][7:], options={"verify_signature": False})
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", json=decision, headers=related)
    assert r.status_code == 409 and "conflict of interest" in r.json()["detail"], r.text
    # a county approver not in the registry decides no money
    unregistered = bearer(issue_token(f"sec-unreg-{uuid.uuid4().hex[:6]}", "county_approver", region="6401"))
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", json=decision, headers=unregistered)
    assert r.status_code == 409 and "officials registry" in r.json()["detail"], r.text
    # a registered official acting outside what the registry grants is refused at the front door
    subject = f"sec-township-{uuid.uuid4().hex[:6]}"
    register_official(subject, "township_approver", "640104")
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", json=decision,
                               headers=bearer(issue_token(subject, "county_approver", region="6401")))
    assert r.status_code == 403, r.text
    assert await ledger_of(stack, pid) == []
    # the registered county approver outside the household decides: paid once
    r = await client.http.post(f"/api/cases/{case['case_id']}/decisions", json=decision, headers=county_approver())
    assert r.status_code == 200, r.text
    done = await client.closed_case(pid)
    assert [p["amount_fen"] for p in done["payments"]] == [195000]


async def test_officials_are_registered_by_a_province_wide_admin_only(client: StackClient):
    subject = f"sec-reg-{uuid.uuid4().hex[:6]}"
    body = {"person_id": national_id("640104"), "name": "张三", "roles": ["county_approver"], "jurisdiction": "6401"}
    r = await client.http.put(f"/api/officials/{subject}", json=body,
                              headers=bearer(issue_token("sec-admin-6401", "admin", region="6401")))
    assert r.status_code == 403
    r = await client.http.put(f"/api/officials/{subject}", json={**body, "jurisdiction": "6401%"}, headers=admin())
    assert r.status_code == 422
    r = await client.http.put(f"/api/officials/{subject}", json=body, headers=admin())
    assert r.status_code == 200, r.text
    assert r.json()["jurisdiction"] == "6401" and r.json()["roles"] == ["county_approver"]


# ---- dead letters redeliver once --------------------------------------------------------------------------

async def dead_letter_of(client: StackClient, event_id: str, headers: dict[str, str]) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        items = (await client.http.get("/api/admin/dlq", headers=headers)).json()
        return next((d for d in items if d["event_id"] == event_id), None)
    return await wait_for(probe, timeout=30, interval=0.5)


async def test_a_dead_letter_redelivered_twice_with_different_bodies_pays_once(client: StackClient,
                                                                             stack: EmbeddedStack):
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=["dibao"]))
    # a malformed date: dead-lettered; the correction changes neither the person nor an amount
    event_id = await client.publish("health.quarantined", {"person_id": pid, "region_code": YINCHUAN,
                                                           "quarantined_on": "2022-13-45"})
    ops = admin()
    letter = await dead_letter_of(client, event_id, ops)
    corrected = json.loads(letter["body"])
    corrected["data"]["quarantined_on"] = "2022-08-10"
    r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/redeliver", headers=ops,
                               json={"reason": "date corrected with the health commission", "corrected": corrected})
    assert r.status_code == 200 and r.json()["status"] == "redelivered", r.text
    assert r.json()["changed_fields"] == ["quarantined_on"]
    # again, with another body (another date: another incident, another case) and by another admin: refused
    second = json.loads(letter["body"])
    second["data"]["quarantined_on"] = "2022-09-10"
    for who in (ops, admin()):
        r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/redeliver", headers=who,
                                   json={"reason": "once more", "corrected": second})
        assert r.status_code == 409, r.text
    done = await client.closed_case(pid, timeout=90)
    assert done["outcome"] == "paid"
    rows = await ledger_of(stack, pid)
    assert len(rows) == 1  # one payment
    # the body is kept sealed in the audit log: its digest and the sealed bytes, never the plain body
    conn = await asyncpg.connect(stack.database_url)
    try:
        audit = await conn.fetch("SELECT action, detail FROM operations.audit_log WHERE action LIKE 'dlq.%'"
                                 " AND (detail->>'dlq_seq')::bigint = $1 ORDER BY seq", letter["seq"])
    finally:
        await conn.close()
    assert [a["action"] for a in audit] == ["dlq.redeliver", "dlq.redeliver_refused", "dlq.redeliver_refused"]
    detail = json.loads(audit[0]["detail"]) if isinstance(audit[0]["detail"], str) else audit[0]["detail"]
    assert detail["sealed_body"] and detail["body_sha256"]
    assert pid not in json.dumps(detail) and "2022-08-10" not in json.dumps(detail)


async def test_a_correction_of_the_person_needs_a_second_official(client: StackClient, stack: EmbeddedStack):
    pid = national_id(YINCHUAN)
    await client.register(household(pid, region=YINCHUAN, categories=["dibao"]))
    bad = pid[:17] + ("0" if pid[17] != "0" else "1")  # a wrong check character: dead-lettered
    event_id = await client.publish("health.quarantined", {"person_id": bad, "region_code": YINCHUAN,
                                                           "quarantined_on": "2022-08-10"})
    # both officials are registered persons (four eyes by person, from approval's officials registry)
    first_person = national_id("110105")
    first = bearer(official_token(f"sec-admin-a-{uuid.uuid4().hex[:6]}", "admin", person_id=first_person))
    letter = await dead_letter_of(client, event_id, first)
    corrected = json.loads(letter["body"])
    corrected["data"]["person_id"] = pid
    r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/redeliver", headers=first,
                               json={"reason": "ID corrected", "corrected": corrected})
    assert r.status_code == 200 and r.json()["status"] == "awaiting_second_official", r.text
    assert r.json()["changes"] == ["person"]
    assert await client.cases(person_id=pid) == []  # nothing published yet
    r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/approve", headers=first, json={"reason": "mine"})
    assert r.status_code == 403  # not by the one who asked
    # nor by another login of the same registered person, nor by an official not in the registry
    same_person = bearer(official_token(f"sec-admin-a2-{uuid.uuid4().hex[:6]}", "admin", person_id=first_person))
    r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/approve", headers=same_person,
                               json={"reason": "my other login"})
    assert r.status_code == 403 and "same registered person" in r.json()["detail"], r.text
    r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/approve", headers=admin(),   # unregistered
                               json={"reason": "not in the registry"})
    assert r.status_code == 403 and "not an active registered official" in r.json()["detail"], r.text
    assert await client.cases(person_id=pid) == []  # still nothing published
    r = await client.http.post(f"/api/admin/dlq/{letter['seq']}/approve",
                               headers=bearer(official_token(f"sec-admin-b-{uuid.uuid4().hex[:6]}", "admin")),
                               json={"reason": "checked against the registry"})
    assert r.status_code == 200 and r.json()["status"] == "redelivered", r.text
    done = await client.closed_case(pid, timeout=90)
    assert done["outcome"] == "paid" and len(await ledger_of(stack, pid)) == 1
