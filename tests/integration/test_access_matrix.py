"""Every route x every role x a foreign jurisdiction: no unauthorised success (OWASP API1/API3/API5).

Real objects of one county (Yinchuan Xingqing, 640104) are made first: a household, a case waiting for a
decision (opened by an event, joined by an application), its documents, a township reserve, a batch, a
committee member, a department record. Then every route that the front door's OpenAPI document and
every service's own OpenAPI document (the services listen on their own ports too) list is called:

- without a token, with an expired token, with one signed with another secret and with an unsigned
  (``alg: none``) one: 401, on every route, at every port;
- by every role whose jurisdiction is the next county (640105), aimed at the objects of 640104: no 2xx
  for a route that reaches an object; for a listing, a 2xx that names nothing of 640104.

A route that no entry of ``EXPECT`` describes fails the test (a new route is covered the day it lands),
as does an entry whose route is gone. Afterwards every object is as it was. A few calls by the owner
county's own roles succeed (the matrix is not green because everything is refused).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from deploy.embedded import EmbeddedStack
from services.operations.referrals import ReferralIn, referral_id
from shared.auth import Role, issue_token
from shared.config import get_settings
from tests.support import StackClient, household, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

OWN = "640104"          # 银川市兴庆区: every object lives here
TOWNSHIP = "640104001"
FOREIGN = "640105"      # 银川市西夏区: every probing principal's jurisdiction
SERVICES = ("intake", "verification", "approval", "payment")
PUBLIC = {"/healthz", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect", "/", "/static"}
REFUSED = {401, 403, 404, 409, 422}


def bearer(role: Role | str, region: str = "", **kw: Any) -> dict[str, str]:
    token = issue_token(f"matrix-{role}-{uuid.uuid4().hex[:6]}", role, region=region, **kw)
    return {"Authorization": f"Bearer {token}"}


def bad_tokens() -> dict[str, dict[str, str]]:
    s = get_settings()
    now = int(time.time())
    unsigned = jwt.encode({"sub": "mallory", "role": "admin", "region": "", "iss": s.jwt_issuer, "iat": now,
                           "exp": now + 600}, None, algorithm="none")
    return {
        "no token": {},
        "expired": bearer(Role.admin, ttl_s=-60),
        "another secret": {"Authorization": "Bearer " + issue_token("mallory", "admin",
                                                                      secret="another-secret-of-at-least-32-chars!!")},
        "alg none": {"Authorization": f"Bearer {unsigned}"},
    }


@dataclass
class World:
    """The objects of 640104 the foreign principals aim at."""

    pid: str
    household_id: str
    case_id: str
    application_id: str
    batch_id: str
    member_id: str
    cycle_id: str
    sealed: dict[str, Any]  # a codec request: a sealed payload of the case's history
    snapshot: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, str]:
        return {"case_id": self.case_id, "household_id": self.household_id, "township_code": TOWNSHIP,
                "request_id": "rr-matrix", "batch_id": self.batch_id, "county_code": OWN,
                "member_id": self.member_id, "source": "hrss", "person_id": self.pid, "seq": "1",
                "cycle_id": self.cycle_id, "region_prefix": OWN, "subject": "matrix-official-of-640104",
                "username": "matrix-account-of-640104",
                "kind": "statistics", "fmt": "csv", "referral_id": referral_id(self.case_id, MATRIX_REFERRAL),
                "complaint_id": "cp-matrix-of-640104", "period": "2022-02"}

    def markers(self) -> list[str]:
        """What an answer to a foreign principal must not contain."""
        return [self.pid, self.pid[:6] + "********" + self.pid[14:], self.household_id, self.case_id,
                self.batch_id, self.application_id, TOWNSHIP, self.cycle_id]


@dataclass
class Probe:
    kind: str  # "object": no 2xx; "list": a 2xx names nothing of 640104; "self": the caller's own identity
    body: Callable[[World, str], Any] | None = None
    query: Callable[[World], dict[str, str]] | None = None


# the case of 640104 is referred to a charity (转介) by its own caseworker: an object the others aim at
MATRIX_REFERRAL = ReferralIn(to_kind="charity_organisation", to_name="兴庆区慈善协会", service="charity_aid",
                             reason="access matrix")


def _reason(_: World, __: str) -> dict[str, Any]:
    return {"reason": "access matrix probe"}


EXPECT: dict[str, Probe] = {
    # operations (the front door's own)
    "GET /api/cases": Probe("list", query=lambda w: {"person_id": w.pid}),
    "GET /api/cases/{case_id}": Probe("object"),
    "GET /api/me": Probe("self"),
    "GET /api/stats": Probe("list"),
    "GET /api/stats/attention": Probe("list"),
    "GET /api/pathways": Probe("list"),  # the registry's labels: nothing of anyone's
    # local accounts (sign-in): province-wide administrators only; /me is the caller's own account (none here)
    "POST /api/accounts": Probe("object", body=lambda w, r: {
        "username": "matrix-intruder", "display_name": "intruder", "role": "admin", "region": "*",
        "password": "intruder-password"}),
    "GET /api/accounts": Probe("object"),
    "GET /api/accounts/me": Probe("object"),
    "POST /api/accounts/{username}/disable": Probe("object"),
    # 家庭档案 and exports (read through intake and payment with the caller's jurisdiction)
    "GET /api/household-files": Probe("list", query=lambda w: {"q": w.pid}),
    "GET /api/household-files/{household_id}": Probe("object"),
    "GET /api/exports/{kind}.{fmt}": Probe("object", query=lambda w: {"region": OWN, "month": "2022-02"}),
    # referrals (转介) of a case, and their outcome
    "POST /api/cases/{case_id}/referrals": Probe("object", body=lambda w, r: MATRIX_REFERRAL.model_dump()),
    "GET /api/cases/{case_id}/referrals": Probe("object"),
    "GET /api/referrals": Probe("list", query=lambda w: {"region_code": OWN}),
    "POST /api/referrals/{referral_id}/outcome": Probe("object", body=lambda w, r: {
        "outcome": "declined", "note": "probe"}),
    # agencies post their events with their own NATS credentials (basic auth): no official's token publishes
    "POST /events": Probe("object", body=lambda w, region: {"specversion": "1.0", "id": "matrix-probe",
                                                            "source": "urn:doudi:source:health",
                                                            "type": "doudi.health.quarantined.v1",
                                                            "data": {}}),
    "GET /api/admin/stalled": Probe("list"),
    "POST /api/admin/sweep": Probe("object"),
    "POST /api/cases/{case_id}/replay": Probe("object", body=lambda w, r: {"mode": "retry", "reason": "probe"}),
    "GET /api/admin/dlq": Probe("object"),
    "POST /api/admin/dlq/{seq}/redeliver": Probe("object", body=_reason),
    "POST /api/admin/dlq/{seq}/approve": Probe("object", body=_reason),
    "GET /api/admin/audit": Probe("list", query=lambda w: {"case_id": w.case_id}),
    "GET /api/admin/bus": Probe("object"),  # province-wide admins only
    "GET /api/admin/alerts": Probe("object"),
    "POST /codec/decode": Probe("object", body=lambda w, r: w.sealed),
    "POST /codec/encode": Probe("object", body=lambda w, r: w.sealed),
    # intake
    "POST /api/households": Probe("object", body=lambda w, r: household(
        w.pid, region=r or FOREIGN, household_id=w.household_id, income_fen=1, categories=[])),
    "POST /api/households/roster": Probe("object", body=lambda w, r: household(
        w.pid, region=r or FOREIGN, household_id=w.household_id, income_fen=1, categories=["dibao"])),
    "GET /api/households/{household_id}": Probe("object"),
    "GET /api/registration-notices": Probe("list"),  # the registration office's own (its jurisdiction)
    "POST /api/applications": Probe("object", body=lambda w, r: {
        "application_id": w.application_id, "person_id": w.pid, "region_code": r or FOREIGN, "kind": "job_loss",
        "consent": True}),
    "GET /api/cohorts/export": Probe("object", query=lambda w: {"region_prefix": OWN, "categories": "dibao",
                                                                "on": "2024-01-01"}),
    "POST /api/enrolments/import": Probe("object", body=lambda w, r: {
        "household": household(w.pid, region=r or FOREIGN, household_id=w.household_id, categories=["dibao"]),
        "kind": "dibao", "enrolled_from": "2022-01"}),
    "POST /api/enrolments/cycles": Probe("object", body=lambda w, r: {"region_prefix": OWN, "period": "2022-02"}),
    "GET /api/enrolments/cycles/{cycle_id}": Probe("object"),
    "PUT /api/enrolments/cycles/schedules/{region_prefix}": Probe("object"),
    "GET /api/enrolments/rolls/{cycle_id}": Probe("object"),
    "GET /api/enrolments/{household_id}": Probe("object"),
    "GET /api/enrolments/{household_id}/decisions": Probe("object"),  # 减发/停发 decided by a review
    "GET /api/enrolments/{household_id}/decisions/{period}/letter.pdf": Probe("object"),
    # intake: the records the front door reads (service accounts, the token's jurisdiction)
    "GET /api/registry/search": Probe("list", query=lambda w: {"q": w.pid}),
    "GET /api/registry/roster.csv": Probe("object", query=lambda w: {"region_prefix": OWN}),
    "GET /api/registry/areas.csv": Probe("object", query=lambda w: {"region_prefix": OWN}),
    "GET /api/registry/recipients": Probe("object", query=lambda w: {"region_prefix": OWN}),
    # intake: the enrolment duties (home visit, appraisal, objections) and the public notice list
    "POST /api/cases/{case_id}/home-visit": Probe("object", body=lambda w, r: {
        "visited_on": "2022-09-06", "disputed": False, "notes": "probe"}),
    "POST /api/cases/{case_id}/appraisal": Probe("object", body=lambda w, r: {
        "held_on": "2022-09-06", "participants": ["probe"], "outcome": "supported", "minutes": "probe"}),
    "POST /api/cases/{case_id}/objections": Probe("object", body=lambda w, r: {
        "received_on": "2022-09-06", "grounds": "probe"}),
    "GET /api/public-notices": Probe("list", query=lambda w: {"region": OWN}),
    "GET /api/public-notices.csv": Probe("object", query=lambda w: {"region": OWN}),
    "GET /api/public-notices.xlsx": Probe("object", query=lambda w: {"region": OWN}),
    # operations: visits to dispersed 特困 persons (a person of 640104 is neither registered nor visited)
    "PUT /api/care-recipients/{person_id}": Probe("object", body=lambda w, r: {
        "region_code": TOWNSHIP, "care_level": "full_care", "caregiver": "intruder"}),
    "GET /api/care-recipients": Probe("list", query=lambda w: {"region": OWN}),
    "GET /api/care-recipients/{person_id}": Probe("object"),
    "POST /api/care-visits": Probe("object", body=lambda w, r: {
        "person_id": w.pid, "visited_at": "2022-09-06T10:00:00+08:00", "caregiver_performing": True,
        "findings": "probe"}),
    "POST /api/care-recipients/{person_id}/caregiver": Probe("object", body=lambda w, r: {
        "caregiver": "intruder", "reason": "probe"}),
    # approval
    "POST /api/cases/{case_id}/assessment": Probe("object", body=lambda w, r: {"amount_fen": 100000,
                                                                               "reason": "核定救助金额"}),
    "POST /api/cases/{case_id}/decisions": Probe("object", body=lambda w, r: {"decision": "approve",
                                                                              "amount_fen": 195000}),
    "POST /api/cases/{case_id}/escalate": Probe("object", body=_reason),
    # decisions with reasons, and appeal (复核); complaints (监督投诉)
    "GET /api/cases/{case_id}/decision": Probe("object"),
    "GET /api/cases/{case_id}/decision-letter.pdf": Probe("object"),
    "GET /api/cases/{case_id}/approval-form.pdf": Probe("object"),
    "POST /api/cases/{case_id}/appeals": Probe("object", body=_reason),
    "GET /api/cases/{case_id}/appeals": Probe("object"),
    "POST /api/cases/{case_id}/appeals/decision": Probe("object", body=lambda w, r: {"outcome": "reversed",
                                                                                     "reason": "probe"}),
    "POST /api/complaints": Probe("object", body=lambda w, r: {"case_id": w.case_id, "text": "probe",
                                                               "request_id": "matrix-probe"}),
    "POST /api/complaints/{complaint_id}/answer": Probe("object", body=lambda w, r: {"answer": "probe"}),
    "GET /api/tasks": Probe("list"),
    "PUT /api/committees/{county_code}/members/{member_id}": Probe("object", body=lambda w, r: {
        "name": "intruder", "department": "民政", "chair": True}),
    "GET /api/committees/{county_code}": Probe("object"),
    "PUT /api/officials/{subject}": Probe("object", body=lambda w, r: {
        "person_id": w.pid, "name": "intruder", "roles": ["county_approver"], "jurisdiction": r or FOREIGN}),
    "GET /api/officials/{subject}": Probe("object"),
    # verification
    "GET /api/reference-data": Probe("list"),
    "PUT /api/reference-data/{source}/{person_id}": Probe("object", body=lambda w, r: {"employments": [
        {"employer": "intruder", "monthly_wage_fen": 999999, "start_on": "2021-03-01"}]}),
    "GET /api/reference-data/{source}/{person_id}": Probe("object"),
    "POST /api/cases/{case_id}/documents": Probe("object", body=lambda w, r: {
        "documents": [{"kind": "explanation", "reference": "scan-intruder"}], "note": "probe",
        "submission_id": "sub-matrix-owner"}),
    "GET /api/cases/{case_id}/documents": Probe("object"),
    # payment: reserves
    "GET /api/reserves": Probe("list"),
    "GET /api/reserves/{township_code}": Probe("object"),
    "PUT /api/reserves/{township_code}": Probe("object", body=lambda w, r: {"threshold_fen": 1, "target_fen": 2}),
    "POST /api/reserves/{township_code}/credits": Probe("object", body=lambda w, r: {
        "amount_fen": 100, "idempotency_key": f"matrix-{uuid.uuid4().hex}", "reason": "probe"}),
    # a refusal: the roles that may decide (a credit is finance's only, tests/integration/test_reserve_funds.py)
    "POST /api/reserves/{township_code}/replenishments/{request_id}/decision": Probe("object", body=lambda w, r: {
        "approve": False, "reason": "probe"}),
    # payment: batches
    "POST /api/batches": Probe("object", body=lambda w, r: {
        "measure": "one_time_living_subsidy", "region_prefix": OWN, "snapshot_on": "2022-06-08"}),
    "GET /api/batches": Probe("list"),
    "GET /api/batches/{batch_id}": Probe("object"),
    "POST /api/batches/{batch_id}/cancel": Probe("object", body=_reason),
    "POST /api/batches/{batch_id}/pause": Probe("object", body=_reason),
    "POST /api/batches/{batch_id}/resume": Probe("object", body=_reason),
    "POST /api/batches/{batch_id}/approve": Probe("object", body=_reason),  # four eyes (a second finance official)
    # payment: the ledger's records for the front door (service accounts, the token's jurisdiction)
    "GET /api/ledger/households/{household_id}": Probe("list", query=lambda w: {"person_id": w.pid}),
    "GET /api/ledger/export.csv": Probe("object", query=lambda w: {"month": "2022-02", "region_prefix": OWN}),
    "GET /api/ledger/household-sums.csv": Probe("object", query=lambda w: {"month": "2022-02",
                                                                           "region_prefix": OWN}),
    "GET /api/ledger/summary": Probe("object", query=lambda w: {"month": "2022-02", "region_prefix": OWN}),
}


async def _sealed_payloads(stack: EmbeddedStack, case_id: str) -> dict[str, Any]:
    """The input of the case's workflow as Temporal stores it (a client without the codec sees it sealed)."""
    raw = await Client.connect(stack.temporal_address, namespace="doudi")
    history = await raw.get_workflow_handle(case_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata["encoding"] == b"binary/doudi-aes-gcm"
    return json_format.MessageToDict(Payloads(payloads=list(started.input.payloads)))


async def _snapshot(client: StackClient, w: World) -> dict[str, Any]:
    h = client.http
    clerk, finance = bearer(Role.clerk, OWN), bearer(Role.finance, OWN)
    case = (await h.get(f"/api/cases/{w.case_id}", headers=clerk)).json()
    reserve = (await h.get(f"/api/reserves/{TOWNSHIP}", headers=finance)).json()
    return {
        "case": {k: case[k] for k in ("status", "stage", "outcome", "payments", "region_code")},
        "household": (await h.get(f"/api/households/{w.household_id}", headers=clerk)).json(),
        "documents": (await h.get(f"/api/cases/{w.case_id}/documents", headers=clerk)).json(),
        "reserve": {k: reserve[k] for k in ("balance_fen", "threshold_fen", "target_fen")},
        "batch": {k: v for k, v in (await h.get(f"/api/batches/{w.batch_id}", headers=finance)).json().items()
                  if k in ("status", "region_prefix", "measure")},
        "committee": (await h.get(f"/api/committees/{OWN}", headers=bearer(Role.committee, OWN))).json()["members"],
        "reference": (await h.get(f"/api/reference-data/hrss/{w.pid}", headers=bearer(Role.service))).json()["payload"],
    }


@pytest.fixture(scope="module")
async def world(client: StackClient, stack: EmbeddedStack) -> World:
    h = client.http
    pid = national_id(OWN)
    hh = (await client.register(household(pid, region=OWN, categories=[], income_fen=0)))["household_id"]
    # a case opened by an event (job lost: outreach), joined by the person's application at the window
    await client.publish_event("employment.job_lost", {"person_id": pid, "region_code": OWN,
                                                        "last_income_month": "2022-05", "unemployment_insured": False},
                               time="2022-09-05T09:00:00+08:00")
    await wait_for(lambda: _stage(client, pid, "outreach"), timeout=60)
    application_id = f"app-matrix-{uuid.uuid4().hex[:10]}"
    r = await h.post("/api/applications", headers=bearer(Role.clerk, OWN), json={
        "application_id": application_id, "person_id": pid, "region_code": OWN, "kind": "job_loss", "consent": True})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    await wait_for(lambda: _stage(client, pid, "awaiting_approval"), timeout=60)
    r = await h.post(f"/api/cases/{case_id}/referrals", headers=bearer(Role.clerk, OWN),
                     json=MATRIX_REFERRAL.model_dump())
    assert r.status_code == 201, r.text

    r = await h.put(f"/api/reference-data/hrss/{pid}", headers=bearer(Role.service), json={"employments": []})
    assert r.status_code in (200, 201), r.text
    r = await h.put(f"/api/reserves/{TOWNSHIP}", headers=bearer(Role.finance, OWN),
                    json={"threshold_fen": 100_000, "target_fen": 500_000})
    assert r.status_code == 200, r.text
    r = await h.post(f"/api/reserves/{TOWNSHIP}/credits", headers=bearer(Role.finance, OWN), json={
        "amount_fen": 300_000, "idempotency_key": f"matrix-fund-{uuid.uuid4().hex}", "reason": "opening balance"})
    assert r.status_code == 200, r.text
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    r = await h.put(f"/api/committees/{OWN}/members/{member_id}", headers=bearer(Role.admin, OWN),
                    json={"name": "马主任", "department": "民政", "chair": True})
    assert r.status_code == 200, r.text
    r = await h.post("/api/batches", headers=bearer(Role.finance, OWN), json={
        "measure": "one_time_living_subsidy", "region_prefix": OWN, "snapshot_on": "2022-06-07"})
    assert r.status_code == 202, r.text
    batch_id = r.json()["batch_id"]
    # an enrolled household and a monthly benefit cycle of the county are objects too
    line = {"household": household(pid, region=OWN, household_id=hh, categories=[], income_fen=0), "kind": "dibao",
            "enrolled_from": "2022-01", "level_fen": 60_000}
    r = await h.post("/api/enrolments/import", headers=bearer(Role.county_approver, OWN),
                     content=json.dumps(line, ensure_ascii=False).encode())
    assert r.status_code == 200 and r.json()["lines"] == 1, r.text
    assert (await h.get(f"/api/enrolments/{hh}", headers=bearer(Role.county_approver, OWN))).status_code == 200
    r = await h.post("/api/enrolments/cycles", headers=bearer(Role.county_approver, OWN),
                     json={"region_prefix": OWN, "period": "2022-02"})
    assert r.status_code == 202, r.text
    cycle_id = r.json()["cycle_id"]

    async def batch_settled() -> bool:
        got = (await h.get(f"/api/batches/{batch_id}", headers=bearer(Role.finance, OWN))).json()
        return got["status"] in ("completed", "rejected", "cancelled")
    await wait_for(batch_settled, timeout=120, interval=0.5)

    async def cycle_recorded() -> bool:
        got = await h.get(f"/api/enrolments/cycles/{cycle_id}", headers=bearer(Role.county_approver, OWN))
        return got.status_code == 200
    await wait_for(cycle_recorded, timeout=60, interval=0.5)
    w = World(pid=pid, household_id=hh, case_id=case_id, application_id=application_id,
              batch_id=batch_id, member_id=member_id, cycle_id=cycle_id, sealed=await _sealed_payloads(stack, case_id))
    w.snapshot = await _snapshot(client, w)
    return w


async def _stage(client: StackClient, pid: str, stage: str) -> bool:
    return any(c["stage"] == stage for c in await client.cases(person_id=pid))


async def _routes(stack: EmbeddedStack) -> list[tuple[str, str, str, str]]:
    """(target, base url, method, path) for every operation of every OpenAPI document."""
    p = stack.ports
    targets = {"frontdoor": stack.api_url, **{name: f"http://127.0.0.1:{getattr(p, name)}" for name in SERVICES}}
    out = []
    async with httpx.AsyncClient(timeout=30) as http:
        for target, base in targets.items():
            doc = (await http.get(base + "/openapi.json")).json()
            for path, item in doc["paths"].items():
                for method in item:
                    if method in ("get", "post", "put", "patch", "delete"):
                        out.append((target, base, method.upper(), path))
    return out


def _fill(path: str, params: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        assert name in params, f"no value for path parameter {{{name}}} of {path}: add it to World.params"
        return params[name]
    return re.sub(r"\{([^}]+)\}", one, path)


async def test_every_route_refuses_a_bad_token_at_every_port(stack: EmbeddedStack, world: World):
    routes = await _routes(stack)
    assert len({(m, p) for _, _, m, p in routes}) >= len(EXPECT) - 1
    failures = []
    async with httpx.AsyncClient(timeout=30) as http:
        for target, base, method, path in routes:
            probe = EXPECT.get(f"{method} {path}")
            for name, headers in bad_tokens().items():
                body = probe.body(world, FOREIGN) if probe and probe.body else None
                r = await http.request(method, base + _fill(path, world.params()), headers=headers, json=body,
                                       params=probe.query(world) if probe and probe.query else None)
                if r.status_code != 401:
                    failures.append(f"{target} {method} {path} [{name}]: {r.status_code} {r.text[:120]}")
    print(f"\nbad tokens: {len(routes)} operations x {len(bad_tokens())} tokens, {len(failures)} not refused")
    assert not failures, "\n".join(failures)


async def test_every_route_times_every_role_in_a_foreign_jurisdiction_gets_nothing(
        stack: EmbeddedStack, client: StackClient, world: World):
    routes = await _routes(stack)
    described = {f"{m} {p}" for _, _, m, p in routes}
    assert not described - EXPECT.keys(), (
        f"routes without an entry in EXPECT: {sorted(described - EXPECT.keys())}")
    assert not EXPECT.keys() - described, (
        f"EXPECT entries for routes that are gone: {sorted(EXPECT.keys() - described)}")

    failures, calls, statuses = [], 0, {}
    markers = world.markers()
    async with httpx.AsyncClient(timeout=60) as http:
        for target, base, method, path in routes:
            probe = EXPECT[f"{method} {path}"]
            for role in Role:
                region = FOREIGN
                r = await http.request(method, base + _fill(path, world.params()), headers=bearer(role, region),
                                       json=probe.body(world, region) if probe.body else None,
                                       params=probe.query(world) if probe.query else None)
                calls += 1
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                where = f"{target} {method} {path} as {role}@{region}: {r.status_code} {r.text[:160]}"
                if r.status_code >= 500:
                    failures.append("server error: " + where)
                elif probe.kind == "object" and r.status_code not in REFUSED:
                    failures.append("unauthorised success: " + where)
                elif probe.kind in ("list", "self") and 200 <= r.status_code < 300:
                    leaked = [m for m in markers if m in r.text] + (["640104"] if re.search(r"(?<!\d)640104", r.text)
                                                                   else [])
                    if leaked:
                        failures.append(f"leaks {leaked}: " + where)
                    if probe.kind == "self":
                        assert r.json()["region"] == FOREIGN
                elif probe.kind in ("list", "self") and r.status_code not in REFUSED:
                    failures.append("unexpected answer: " + where)
    print(f"\nforeign jurisdiction: {len(routes)} operations x {len(Role)} roles = {calls} calls; "
          f"statuses {dict(sorted(statuses.items()))}; {len(failures)} failures")
    assert not failures, "\n".join(failures)

    # nothing of 640104 changed under the probing
    assert await _snapshot(client, world) == world.snapshot
    audit = (await client.http.get("/api/admin/audit", headers=bearer(Role.auditor), params={"limit": 1000})).json()
    assert [a for a in audit if a["actor"].startswith("matrix-")] == []  # no probe got as far as an audited act


async def test_the_owner_county_gets_its_own_objects(stack: EmbeddedStack, client: StackClient, world: World):
    """Sanity: the matrix is not green because everything is refused."""
    h = client.http
    allowed = [
        ("GET", f"/api/cases/{world.case_id}", bearer(Role.clerk, OWN), None),
        ("GET", f"/api/cases/{world.case_id}", bearer(Role.county_approver, "6401"), None),
        ("GET", f"/api/households/{world.household_id}", bearer(Role.township_approver, OWN), None),
        ("GET", f"/api/household-files/{world.household_id}", bearer(Role.committee, OWN), None),
        ("GET", f"/api/cases/{world.case_id}/documents", bearer(Role.clerk, OWN), None),
        ("GET", f"/api/reserves/{TOWNSHIP}", bearer(Role.finance, OWN), None),
        ("GET", f"/api/batches/{world.batch_id}", bearer(Role.auditor, "64"), None),
        ("GET", f"/api/committees/{OWN}", bearer(Role.committee, OWN), None),
        ("GET", f"/api/reference-data/hrss/{world.pid}", bearer(Role.auditor, OWN), None),
        ("POST", "/codec/decode", bearer(Role.admin), world.sealed),
    ]
    for method, path, headers, body in allowed:
        r = await h.request(method, path, headers=headers, json=body)
        assert 200 <= r.status_code < 300, (method, path, r.status_code, r.text)
    inbox = (await h.get("/api/tasks", headers=bearer(Role.county_approver, "6401"))).json()
    assert any(t["case_id"] == world.case_id for t in inbox)
    listed = (await h.get("/api/cases", params={"person_id": world.pid}, headers=bearer(Role.clerk, OWN))).json()
    assert [c["case_id"] for c in listed["items"]] == [world.case_id]
    # at a service's own port, the owner's right role too
    direct = f"http://127.0.0.1:{stack.ports.approval}"
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.get(f"{direct}/api/committees/{OWN}", headers=bearer(Role.county_approver, OWN))
    assert r.status_code == 200 and [m["member_id"] for m in r.json()["members"]] == [world.member_id]
    # and the foreign county's decision on the waiting case was refused by the workflow's validator itself
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{direct}/api/cases/{world.case_id}/decisions",
                            headers={"Authorization": "Bearer " + official_token(  # registered: it may decide
                                f"matrix-county-{uuid.uuid4().hex[:6]}", Role.county_approver, region=FOREIGN,
                                person_id=national_id(FOREIGN))},
                            json={"decision": "approve", "amount_fen": 195000})
    assert r.status_code == 409 and "outside jurisdiction" in r.json()["detail"], r.text
    assert json.dumps(world.snapshot["case"]["stage"]) == '"awaiting_approval"'
