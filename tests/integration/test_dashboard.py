"""The operations dashboard's API (GET /api/stats, GET /api/stats/attention) and its page at ``/``,
against the real embedded stack.

The cases here live in 640106 (银川市金凤区), a county no other test opens cases in, so the counts
narrowed to it are exact whatever else the session has produced.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from shared.auth import issue_token
from tests.support import StackClient, household, national_id

pytestmark = pytest.mark.stack

COUNTY = "640106"  # 银川市金凤区 (Ningxia, urban): the 2022 measures apply as in 640104
CHINA = ZoneInfo("Asia/Shanghai")


def bearer(role: str, region: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(f'test-dash-{role}-{region}', role, region=region)}"}


def counts(items: list[dict[str, Any]]) -> dict[str, int]:
    return {c["key"]: c["count"] for c in items}


@pytest.fixture(scope="module")
async def cases(client: StackClient) -> dict[str, dict[str, Any]]:
    """One paid case (quarantine, 2022: 3 x 650 yuan) and one not payable (COVID diagnosis in 2024,
    after the Ningxia measures expired), both in ``COUNTY``."""
    paid_pid, late_pid = national_id(COUNTY), national_id(COUNTY)
    await client.register(household(paid_pid, region=COUNTY, categories=["dibao"]))
    await client.register(household(late_pid, region=COUNTY, categories=["dibao"]))
    await client.publish("health.quarantined", {
        "person_id": paid_pid, "region_code": COUNTY, "quarantined_on": "2022-08-10"})
    await client.publish("health.covid_diagnosed", {
        "person_id": late_pid, "region_code": COUNTY, "diagnosed_on": "2024-03-01"})
    paid = await client.closed_case(paid_pid)
    late = await client.closed_case(late_pid)
    assert paid["outcome"] == "paid" and [p["amount_fen"] for p in paid["payments"]] == [195000]
    assert late["outcome"] == "not_payable" and late["payments"] == []
    return {"paid": paid, "not_payable": late}


@pytest.fixture
async def db(client: StackClient) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(client.database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def stats(client: StackClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await client.http.get("/api/stats", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_stats_count_cases_by_pathway_status_outcome_and_county(client: StackClient, cases):
    body = await stats(client, bearer("clerk", "6401"), region_code=COUNTY)
    assert body["jurisdiction"] == "6401" and body["region_code"] == COUNTY
    assert body["total"] == 2 and body["open"] == 0
    assert cases["paid"]["pathway"] == cases["not_payable"]["pathway"] == "emergency_relief"
    assert counts(body["by_pathway"]) == {"emergency_relief": 2}
    assert counts(body["by_status"]) == {"closed": 2}
    assert counts(body["by_outcome"]) == {"paid": 1, "not_payable": 1}
    assert counts(body["by_county"]) == {COUNTY: 2}

    # unnarrowed, a province-wide reader sees them among the rest, counted under their county
    everything = await stats(client, bearer("auditor"))
    assert counts(everything["by_county"])[COUNTY] == 2
    assert counts(everything["by_pathway"])["emergency_relief"] >= 2
    assert everything["total"] == sum(counts(everything["by_status"]).values())
    assert everything["total"] == sum(counts(everything["by_pathway"]).values())


async def test_payments_per_day_show_the_paid_amount_on_the_paid_day(client: StackClient, cases):
    [payment] = cases["paid"]["payments"]
    paid_day = datetime.fromisoformat(payment["paid_at"]).astimezone(CHINA).date().isoformat()

    body = (await stats(client, bearer("clerk", "6401"), region_code=COUNTY))["payments"]
    assert body["days"] == 30 and body["timezone"] == "Asia/Shanghai" and len(body["series"]) == 30
    days = [d["day"] for d in body["series"]]
    assert days == sorted(days) and days[0] == body["since"] and days[-1] == body["until"]
    by_day = {d["day"]: d for d in body["series"]}
    assert by_day[paid_day]["amount_fen"] == 195000 and by_day[paid_day]["count"] == 1
    assert all(d["amount_fen"] == 0 and d["count"] == 0 for d in body["series"] if d["day"] != paid_day)
    assert body["amount_fen"] == 195000 and body["count"] == 1
    assert isinstance(body["amount_fen"], int)  # integer fen, never a float

    # province-wide, the day holds at least this payment (other tests pay on the same day)
    wide = {d["day"]: d for d in (await stats(client, bearer("auditor")))["payments"]["series"]}
    assert wide[paid_day]["amount_fen"] >= 195000
    # a shorter window still ends today
    short = (await stats(client, bearer("clerk", "6401"), region_code=COUNTY, days=7))["payments"]
    assert len(short["series"]) == 7 and short["until"] == body["until"]


async def test_stats_are_scoped_to_the_callers_jurisdiction(client: StackClient, cases):
    outside = await stats(client, bearer("clerk", "6502"))
    assert outside["jurisdiction"] == "6502"
    assert all(k.startswith("6502") for k in counts(outside["by_county"]))
    narrowed = await stats(client, bearer("clerk", "6502"), region_code=COUNTY)
    assert narrowed["total"] == 0 and narrowed["by_pathway"] == [] and narrowed["by_status"] == []
    assert narrowed["payments"]["amount_fen"] == 0
    assert all(d["amount_fen"] == 0 for d in narrowed["payments"]["series"])
    attention = (await client.http.get("/api/stats/attention", params={"region_code": COUNTY},
                                       headers=bearer("clerk", "6502"))).json()
    assert (attention["items"], attention["total"]) == ([], 0)  # (beside them: overdue care visits, none)
    assert (attention["care_visits"], attention["care_visits_total"]) == ([], 0)

    inside = await stats(client, bearer("township_approver", COUNTY))
    assert inside["total"] == 2 and counts(inside["by_county"]) == {COUNTY: 2}


async def test_attention_lists_stalled_and_overdue_cases_longest_overdue_first(client: StackClient, cases,
                                                                               db: asyncpg.Connection):
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:8]
    past = (now - timedelta(days=3)).isoformat()
    later_past = (now - timedelta(hours=5)).isoformat()
    future = (now + timedelta(days=3)).isoformat()
    synthetic = [
        # (case_id, status, stage, deadlines, flags)
        (f"em-dash-overdue-{tag}", "open", "awaiting_documents", [{"kind": "documents", "due": past}], []),
        (f"em-dash-county-{tag}", "awaiting_decision", "awaiting_county_decision",
         [{"kind": "county_decision", "due": later_past}], ["county_decision_overdue"]),
        (f"em-dash-future-{tag}", "open", "awaiting_documents", [{"kind": "documents", "due": future}], []),
        (f"em-dash-closed-{tag}", "closed", "closed", [{"kind": "documents", "due": past}], ["documents_overdue"]),
        (f"em-dash-odd-{tag}", "open", "awaiting_documents", [{"kind": "documents", "due": "soon"}, "x"], []),
    ]
    paid_id = cases["paid"]["case_id"]
    try:
        for case_id, status, stage, deadlines, flags in synthetic:
            await db.execute(
                "INSERT INTO operations.cases (case_id, pathway, status, stage, region_code, deadlines, flags,"
                " updated_at) VALUES ($1, 'emergency_relief', $2, $3, $4, $5::jsonb, $6, $7)",
                case_id, status, stage, COUNTY + "001", json.dumps(deadlines), flags, now - timedelta(days=1))
        await db.execute("UPDATE operations.cases SET stalled = true WHERE case_id = $1", paid_id)

        r = await client.http.get("/api/stats/attention", params={"region_code": COUNTY},
                                  headers=bearer("clerk", "6401"))
        assert r.status_code == 200, r.text
        body = r.json()
        by_id = {i["case_id"]: i for i in body["items"]}
        assert [i["case_id"] for i in body["items"]] == [
            f"em-dash-overdue-{tag}", f"em-dash-county-{tag}", paid_id], "longest overdue first"
        assert body["total"] == 3
        assert by_id[f"em-dash-overdue-{tag}"]["reasons"] == ["overdue:documents"]
        assert by_id[f"em-dash-overdue-{tag}"]["overdue"] == [{"kind": "documents", "due": past}]
        assert by_id[f"em-dash-county-{tag}"]["reasons"] == ["overdue:county_decision", "county_decision_overdue"]
        assert by_id[paid_id]["reasons"] == ["stalled"] and by_id[paid_id]["stalled"] is True
        assert by_id[paid_id]["workflow_url"].endswith(f"/workflows/{paid_id}")

        paged = (await client.http.get("/api/stats/attention", params={"region_code": COUNTY, "limit": 1,
                                                                       "offset": 1},
                                       headers=bearer("clerk", "6401"))).json()
        assert [i["case_id"] for i in paged["items"]] == [f"em-dash-county-{tag}"] and paged["total"] == 3

        overview = await stats(client, bearer("clerk", "6401"), region_code=COUNTY)
        assert overview["attention"] == 3 and overview["stalled"] == 1
        assert overview["total"] == 7 and overview["open"] == 4
    finally:
        await db.execute("DELETE FROM operations.cases WHERE case_id = ANY($1::text[])", [c[0] for c in synthetic])
        await db.execute("UPDATE operations.cases SET stalled = false WHERE case_id = $1", paid_id)


async def test_the_page_is_served_at_the_root_and_its_data_needs_a_token(client: StackClient):
    r = await client.http.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    html = r.text
    assert '<html lang="zh-CN">' in html and "运营工作台" in html
    assert '<script type="module" src="/static/dashboard.js"></script>' in html
    assert "http://" not in html and "https://" not in html  # nothing from another origin
    for path, kind in (("/static/dashboard.js", "javascript"), ("/static/dashboard.css", "text/css")):
        asset = await client.http.get(path)
        assert asset.status_code == 200 and kind in asset.headers["content-type"], path
        assert "https://" not in asset.text and "//cdn" not in asset.text, path
    assert (await client.http.get("/static/nope.js")).status_code == 404

    for path in ("/api/stats", "/api/stats/attention"):
        assert (await client.http.get(path)).status_code == 401, path
        bad = await client.http.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401, path
        assert (await client.http.get(path, headers=bearer("service"))).status_code == 403, path
        for role in ("clerk", "township_approver", "county_approver", "committee", "finance", "auditor", "admin"):
            assert (await client.http.get(path, headers=bearer(role, "64"))).status_code == 200, (path, role)
    assert (await client.http.get("/api/stats", params={"region_code": "64x"},
                                  headers=client.clerk)).status_code == 422
    assert (await client.http.get("/api/stats", params={"days": 0}, headers=client.clerk)).status_code == 422

    # the other routes of the front door still answer as before
    assert (await client.http.get("/api/cases", headers=client.clerk)).status_code == 200
    spec = (await client.http.get("/openapi.json")).json()
    assert {"/api/stats", "/api/stats/attention", "/api/cases"} <= set(spec["paths"])
    assert "/" not in spec["paths"]
