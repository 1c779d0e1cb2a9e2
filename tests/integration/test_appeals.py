"""Decisions with reasons, and appeal (issue 17 item 1), on the embedded stack: a refused dibao application
has a decision record and a decision letter (决定书, PDF) with the reason and the reconsideration deadline;
the applicant's request for reconsideration (复核) is one per case; the original decider (or another login
of the same person), a clerk, or an official of another region cannot decide it; another official reverses
it and the household is paid from the month of application, once per month. A complaint through the
supervision hotline is recorded against the case and answered."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pypdf import PdfReader

from deploy.embedded import EmbeddedStack
from tests.support import StackClient, born_on, national_id, official_token, wait_for

pytestmark = pytest.mark.stack

COUNTY = "640205"  # 石嘴山市惠农区: no other test's county
ORIGINAL_PERSON = national_id("640205", born="1975-05-05")


def bearer(subject: str, role: str, region: str = COUNTY[:4], person_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {official_token(subject, role, region=region, person_id=person_id)}"}


def pdf_text(data: bytes) -> str:
    """Whitespace removed: text extraction may split CJK runs with spaces."""
    return re.sub(r"\s+", "", "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages))


def beijing_month(at: datetime) -> str:
    return (at + timedelta(hours=8)).strftime("%Y-%m")


def month_after(period: str) -> str:
    y, m = (int(x) for x in period.split("-"))
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


async def db(stack: EmbeddedStack, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_a_refused_dibao_application_is_reconsidered_by_another_official_and_paid_from_the_month_of_application(
        client: StackClient, stack: EmbeddedStack):
    # applied on the first day of last month (Beijing time)
    this_month = beijing_month(datetime.now(UTC))
    first_of_this = date.fromisoformat(this_month + "-01")
    applied_on = (first_of_this - timedelta(days=1)).replace(day=1)
    applied = applied_on.strftime("%Y-%m")
    ids = [national_id(COUNTY, born=b) for b in ("1980-02-02", "1982-03-03", "2012-04-04")]
    hh = {"household_id": f"hh-{uuid.uuid4().hex[:12]}", "region_code": COUNTY, "urban": True, "categories": ["dibao"],
          "monthly_income_fen": 90000,
          "members": [{"person_id": p, "name": f"成员{i}", "relation": "head" if i == 0 else "member",
                       "birth_date": born_on(p), "flags": []} for i, p in enumerate(ids)]}
    await client.register(hh)
    clerk = bearer("clerk-h6", "clerk", region=COUNTY)
    r = await client.http.post("/api/applications", headers=clerk, json={
        "person_id": ids[0], "region_code": COUNTY, "kind": "dibao", "consent": True,
        "details": {"incident_date": applied_on.isoformat()}})
    assert r.status_code == 202, r.text
    case_id = r.json()["case_id"]
    await client.through_enrolment_duties(case_id, applied_on.isoformat())

    async def awaiting() -> dict[str, Any] | None:
        c = await client.case_once_visible(case_id)
        return c if c is not None and c["stage"] == "awaiting_approval" else None

    await wait_for(awaiting, timeout=60)
    original = bearer("county-h6-ma", "county_approver", person_id=ORIGINAL_PERSON)
    r = await client.http.post(f"/api/cases/{case_id}/decisions", headers=original, json={
        "decision": "reject", "reason": "申报收入与核查不符"})
    assert r.status_code == 200, r.text

    async def refused() -> dict[str, Any] | None:
        r = await client.http.get(f"/api/cases/{case_id}/decision", headers=clerk)
        return r.json() if r.status_code == 200 else None

    record = await wait_for(refused, timeout=40)
    assert (record["outcome"], record["decided_by"], record["amount_fen"]) == ("refused", "county-h6-ma", 0)
    assert "申报收入与核查不符" in record["reason"]
    # the policy's level the county refused: (650 - 300) x 3 = 1,050 yuan (seed 002 「每人每月650元」)
    assert record["policy_amount_fen"] == 105000
    assert record["rule"]["quote"] == "城乡低保标准，分别提高到每人每月650元、每人每年5520元"
    decided = date.fromisoformat(record["decided_on"])
    # local practice (national pack, reconsideration_request_days): 60 days from the decision
    assert record["remedies"]["reconsideration_deadline"] == (decided + timedelta(days=60)).isoformat()

    letter = await client.http.get(f"/api/cases/{case_id}/decision-letter.pdf", headers=clerk)
    assert letter.status_code == 200 and letter.headers["content-type"] == "application/pdf"
    text = pdf_text(letter.content)
    assert "不予批准" in text and "申报收入与核查不符" in text and "1,050.00元" in text
    assert "复核" in text and "申诉" in text and (decided + timedelta(days=60)).isoformat() in text
    form = await client.http.get(f"/api/cases/{case_id}/approval-form.pdf", headers=clerk)
    assert form.status_code == 200 and "社会救助审批表" in pdf_text(form.content)

    # the request, registered by the clerk; a second request on the same case is the same reconsideration
    r = await client.http.post(f"/api/cases/{case_id}/appeals", headers=clerk, json={"reason": "收入已减少"})
    assert r.status_code == 202, r.text
    appeal_id = r.json()["appeal_id"]
    again = await client.http.post(f"/api/cases/{case_id}/appeals", headers=clerk, json={"reason": "再次申请"})
    assert again.status_code == 200 and again.json()["appeal_id"] == appeal_id and not again.json()["created"]

    async def waiting() -> dict[str, Any] | None:
        r = await client.http.get(f"/api/cases/{case_id}/appeals", headers=clerk)
        return r.json() if r.status_code == 200 and r.json()["stage"] == "awaiting_reconsideration" else None

    await wait_for(waiting, timeout=40)
    decide = f"/api/cases/{case_id}/appeals/decision"
    body = {"outcome": "reversed", "reason": "收入核算有误，撤销原决定"}
    r = await client.http.post(decide, headers=original, json=body)  # the original decider
    assert r.status_code == 409 and "原决定人以外" in r.text, r.text
    other_login = bearer("county-h6-ma-2", "county_approver", person_id=ORIGINAL_PERSON)
    r = await client.http.post(decide, headers=other_login, json=body)  # the same person, another login
    assert r.status_code == 409 and "原决定人以外" in r.text, r.text
    r = await client.http.post(decide, headers=clerk, json=body)  # wrong role
    assert r.status_code == 403, r.text
    r = await client.http.post(decide, headers=bearer("county-h6-far", "county_approver", region="6502"), json=body)
    assert r.status_code == 404, r.text  # another region's official learns nothing of the case

    reviewer = bearer("county-h6-zhao", "county_approver")
    r = await client.http.post(decide, headers=reviewer, json=body)
    assert r.status_code == 200 and r.json()["outcome"] == "reversed", r.text
    decided_month = beijing_month(datetime.now(UTC))
    months = [applied]
    while months[-1] < decided_month:
        months.append(month_after(months[-1]))

    async def paid() -> list[asyncpg.Record] | None:
        rows = await client.ledger(household_id=hh["household_id"])
        return rows if len(rows) >= len(months) else None

    rows = await wait_for(paid, timeout=60)
    # from the month of application through this month, 1,050 yuan each (hand-computed above), once per month
    assert sorted((r["idempotency_key"], r["amount_fen"]) for r in rows) == [
        (f"dibao:{hh['household_id']}:{m}", 105000) for m in months]
    again = await client.http.post(decide, headers=reviewer, json=body)  # a retried reversal pays nothing more
    assert again.status_code in (404, 409), again.text
    assert len(await client.ledger(household_id=hh["household_id"])) == len(months)

    async def closed() -> dict[str, Any] | None:
        c = await client.case_once_visible(appeal_id)
        return c if c is not None and c["status"] == "closed" else None

    appeal_case = await wait_for(closed, timeout=40)
    assert appeal_case["outcome"] == "reversed" and appeal_case["pathway"] == "reconsideration"
    [enrolment] = await db(stack, "SELECT * FROM intake.enrolments WHERE household_id = $1", hh["household_id"])
    assert (enrolment["status"], enrolment["enrolled_from"], enrolment["paid_through"]) == (
        "active", applied, months[-1])

    # a complaint through the supervision hotline about the case, answered by another official
    r = await client.http.post("/api/complaints", headers=clerk, json={
        "case_id": case_id, "text": "窗口未告知复核途径", "request_id": "hotline-1"})
    assert r.status_code == 202, r.text
    complaint = r.json()
    assert complaint["answer_within_days"] == 15  # local practice (national pack, complaint_answer_days)
    same = await client.http.post("/api/complaints", headers=clerk, json={
        "case_id": case_id, "text": "窗口未告知复核途径", "request_id": "hotline-1"})
    assert same.status_code == 200 and same.json()["complaint_id"] == complaint["complaint_id"]
    answer = f"/api/complaints/{complaint['complaint_id']}/answer"

    async def answered() -> bool:
        r = await client.http.post(answer, headers=reviewer, json={"answer": "已电话答复"})
        return r.status_code == 200  # False (404/409) while the complaint's case is opening

    r = await client.http.post(answer, headers=clerk, json={"answer": "x"})
    assert r.status_code == 403
    await wait_for(answered, timeout=40)
