"""Written decisions for the reductions and exits a review decides (issue 17 item 1): the region's monthly
cycle lowers one household's level (减发) as a set without a case: a decision record and a 决定书 PDF with
the old and new level in yuan, the rule and its seed citation, and the 复核 deadline; a household that
continues has none; nobody outside the county reads them. (Exits decided by the set:
tests/unit/test_review_decisions.py; Ningxia hands its exits to review cases.)

Amounts by hand from the seeds: Ningxia's urban dibao standard 650 yuan per person per month (seed 002, the
standard for 宁夏 in force in 2022); a household of 3 with 900 yuan income (300 per person) gets
(650 - 300) x 3 = 1,050.00 yuan; income 1,200 (400 per person) (650 - 400) x 3 = 750.00; income 1,500
(500 per person) gets (650 - 500) x 3 = 450.00 yuan; income
3,000 (1,000 per person, above 650) leaves dibao. 复核 within 60 days (national pack
``reconsideration_request_days``, local practice) of the day the review decided.
"""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import pytest
from pypdf import PdfReader

from deploy.embedded import EmbeddedStack
from tests.integration.test_enrolled_households import bearer, db, family, roster, run_cycle
from tests.support import StackClient

pytestmark = pytest.mark.stack

LINGWU = "640181"  # 银川市灵武市 (Yinchuan's standard): its cycle here sees only this module's households


def pdf_text(body: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


async def test_a_cycle_reduction_and_exit_each_have_a_decision_and_a_letter(client: StackClient,
                                                                            stack: EmbeddedStack):
    lowered, leaving, same = (family(90000, region=LINGWU) for _ in range(3))
    lines = [json.dumps({"household": h, "kind": "dibao", "enrolled_from": "2022-09", "paid_through": "2022-09",
                         "next_review": "2022-10"}) for h in (lowered, leaving, same)]
    r = await client.http.post("/api/enrolments/import", content="\n".join(lines).encode(),
                               headers=bearer("county_approver", region=LINGWU))
    assert r.status_code == 200 and r.json()["enrolled"] == 3, r.text
    for h in (lowered, leaving, same):  # (65000 - 30000) x 3
        assert (await roster(stack, h["household_id"]))["level_fen"] == 105000
    # the registry changes (no event): the cycle's review sees it. The roster records no level step at an
    # import, so the first review's level before it is unknown (no decision is read from it): 2022-10 first,
    # (65000 - 40000) x 3 = 75000; then 2022-11 lowers it again, the decision this test reads
    await client.register({**lowered, "monthly_income_fen": 120000})
    await run_cycle(client, stack, "2022-10", region=LINGWU)
    assert (await roster(stack, lowered["household_id"]))["level_fen"] == 75000
    await client.register({**lowered, "monthly_income_fen": 150000})
    await client.register({**leaving, "monthly_income_fen": 300000})
    await run_cycle(client, stack, "2022-11", region=LINGWU)
    outcomes = {r["household_id"]: r["outcome"] for r in await db(
        stack, "SELECT household_id, outcome FROM intake.enrolment_reviews WHERE period = '2022-11'"
        " AND household_id = ANY($1::text[])", [h["household_id"] for h in (lowered, leaving, same)])}
    # (Ningxia sets no review interval: the unchanged household is not due, or continues)
    assert outcomes[lowered["household_id"]] == "adjust" and outcomes.get(same["household_id"]) in (None, "continue")
    assert outcomes[leaving["household_id"]] == "case_opened", outcomes

    clerk = bearer("clerk", region=LINGWU)
    r = await client.http.get(f"/api/enrolments/{lowered['household_id']}/decisions", headers=clerk)
    assert r.status_code == 200, r.text
    [d] = r.json()["items"]
    # 75000 -> (65000 - 50000) x 3 = 45000 fen
    assert (d["period"], d["old_level_fen"], d["new_level_fen"]) == ("2022-11", 75000, 45000)
    assert (d["old_level_yuan"], d["new_level_yuan"]) == ("750.00", "450.00")
    rec = d["record"]
    assert (rec["outcome"], rec["outcome_zh"], rec["amount_fen"], rec["decided_by"]) == (
        "reduced", "减发", 45000, "policy")
    assert rec["rule"]["seed"] and rec["rule"]["quote"]  # the standard's seed and its words
    decided_on = date.fromisoformat(rec["decided_on"])
    assert rec["remedies"]["reconsideration_days"] == 60
    assert date.fromisoformat(rec["remedies"]["reconsideration_deadline"]) == decided_on + timedelta(days=60)
    assert "reconsideration_request_days" in rec["remedies"]["local_practice"]

    letter = await client.http.get(d["letter_url"], headers=clerk)
    assert letter.status_code == 200 and letter.headers["content-type"] == "application/pdf", letter.text
    text = pdf_text(letter.content)
    for words in ("社会救助决定书", "减发", "750.00", "450.00", "最低生活保障", rec["rule"]["quote"][:10],
                  (decided_on + timedelta(days=60)).isoformat(), "复核"):
        assert words in text, (words, text)

    # Ningxia's exits wait while its epidemic flag is in force (seed 002): the set hands the leaving household
    # to a review case (a person decides), whose outcome is the case's (its own decision record), not the set's
    assert (await client.http.get(f"/api/enrolments/{leaving['household_id']}/decisions",
                                  headers=clerk)).json()["items"] == []

    # a household that continues has no decision to be told; no letter for a period without one
    r = await client.http.get(f"/api/enrolments/{same['household_id']}/decisions", headers=clerk)
    assert r.status_code == 200 and r.json() == {"items": [], "total": 0}
    r = await client.http.get(f"/api/enrolments/{same['household_id']}/decisions/2022-11/letter.pdf", headers=clerk)
    assert r.status_code == 404
    # another county neither reads the decisions nor learns the household exists
    other = bearer("clerk", region="640105")
    assert (await client.http.get(f"/api/enrolments/{lowered['household_id']}/decisions",
                                  headers=other)).status_code == 404
    assert (await client.http.get(d["letter_url"], headers=other)).status_code == 404
    r = await client.http.get(f"/api/enrolments/{lowered['household_id']}/decisions/2022-13/letter.pdf",
                              headers=clerk)
    assert r.status_code == 422 and "period" in r.text
