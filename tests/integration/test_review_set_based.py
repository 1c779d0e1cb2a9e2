"""The cycle reviews changed households as a set where the policy decides (issue 18), on the real stack:
a level adjusted and paid once by the roll (a rerun pays nothing), a gradual exit started as roster state
that ends on its date, an exit at once, and only a household that needs a person gets a ``Renewal``
workflow of its own.

XPCC first division (test-fixture standard 60005 fen per person-month, tests/fixtures/policy; seed 004
「根据差额发放低保金」: standard x persons - income), county 660108 (no other test's). Adults born 1980-1985
are of working age: half-yearly reviews (the XPCC pack: 6 months). The XPCC plan grants a gradual exit
without months: the national pack's local-practice ``gradual_exit_default_months`` = 6.
"""

from __future__ import annotations

import json

import pytest

from deploy.embedded import EmbeddedStack
from shared.infra.temporal import connect_temporal
from tests.integration.test_enrolled_households import bearer, db, family, roster, run_cycle
from tests.support import StackClient, wait_for

pytestmark = pytest.mark.stack

REGION = "660108"
ADULTS = ["1980-01-01", "1982-01-01", "1985-06-01"]


async def change_registry(stack: EmbeddedStack, household_id: str, income_fen: int, reason: str) -> None:
    """The registry changes without an event (as a re-registration does): the cycle sees a new version."""
    await db(stack, "UPDATE intake.households SET monthly_income_fen = $2, income_reason = $3, version = version + 1"
             " WHERE household_id = $1", household_id, income_fen, reason)


async def ledger_amounts(stack: EmbeddedStack, household_id: str) -> dict[str, list[int]]:
    rows = await db(stack, "SELECT idempotency_key, amount_fen FROM payment.ledger WHERE household_id = $1"
                    " ORDER BY idempotency_key", household_id)
    out: dict[str, list[int]] = {}
    for r in rows:
        out.setdefault(r["idempotency_key"].rsplit(":", 1)[-1], []).append(r["amount_fen"])
    return out


async def test_policy_decided_reviews_are_adjusted_as_a_set_and_only_a_person_gets_a_workflow(
        client: StackClient, stack: EmbeddedStack):
    adjusted = family(90000, region=REGION, births=ADULTS)           # 3 x 60005 - 90000 = 90015
    exiting = family(60000, size=2, region=REGION, births=ADULTS)    # 2 x 60005 - 60000 = 60010
    leaving = family(10000, size=1, region=REGION, births=ADULTS)    # 60005 - 10000 = 50005
    person = family(30000, size=2, region=REGION, births=ADULTS)     # 2 x 60005 - 30000 = 90010
    same = family(50000, size=2, region=REGION, births=ADULTS)       # 2 x 60005 - 50000 = 70010
    everyone = [adjusted, exiting, leaving, person, same]
    lines = [json.dumps({"household": h, "kind": "dibao", "enrolled_from": "2022-06", "paid_through": "2022-10",
                         "next_review": "2022-11"}) for h in everyone]
    r = await client.http.post("/api/enrolments/import", content="\n".join(lines).encode(),
                               headers=bearer("county_approver", region=REGION))
    assert r.status_code == 200 and r.json()["enrolled"] == 5, r.text
    assert [(await roster(stack, h["household_id"]))["level_fen"] for h in everyone] == [
        90015, 60010, 50005, 90010, 70010]

    await change_registry(stack, adjusted["household_id"], 120000, "other")   # 180015 - 120000 = 60015
    await change_registry(stack, exiting["household_id"], 130000, "employment")  # 120010 < 130000: gradual exit
    await change_registry(stack, leaving["household_id"], 70000, "other")     # 60005 < 70000: exit at once
    # the applicant of the last household died: the registry no longer has the person the case is about
    await db(stack, "UPDATE intake.members SET deceased_on = '2022-10-15' WHERE person_id = $1",
             person["members"][0]["person_id"])
    await change_registry(stack, person["household_id"], 30000, "other")

    figures = await run_cycle(client, stack, "2022-11", region=REGION)
    # 5 carried and due; 3 reviewed as a set, 1 review case for a person, 1 continues unchanged
    assert (figures["enrolled"], figures["due"], figures["reviewed"], figures["cases_opened"],
            figures["continued"]) == (5, 5, 3, 1, 1), figures
    # the roll: adjusted 60015 + the gradual exit's first month at its kept 60010 + unchanged 70010
    assert (figures["on_roll"], figures["roll_fen"]) == (3, 60015 + 60010 + 70010), figures

    a = await roster(stack, adjusted["household_id"])
    assert (a["level_fen"], a["status"], a["managed_by"], a["next_review"], a["reviewed_version"]) == (
        60015, "active", "cycle", "2023-05", 2)
    g = await roster(stack, exiting["household_id"])
    assert (g["status"], g["level_fen"], g["exit_on"], g["managed_by"]) == ("gradual_exit", 60010, "2023-05", "cycle")
    months = await db(stack, "SELECT period, level_fen, due_on::text FROM intake.enrolment_exit_months"
                      " WHERE household_id = $1 ORDER BY period", exiting["household_id"])
    assert [(m["period"], m["level_fen"], m["due_on"]) for m in months] == [
        ("2022-11", 60010, "2022-11-01"), ("2022-12", 60010, "2022-12-01"), ("2023-01", 60010, "2023-01-01"),
        ("2023-02", 60010, "2023-02-01"), ("2023-03", 60010, "2023-03-01"), ("2023-04", 60010, "2023-04-01")]
    c = await roster(stack, leaving["household_id"])
    assert (c["status"], c["exit_on"]) == ("terminated", "2022-11")
    outcomes = await db(stack, "SELECT household_id, outcome FROM intake.enrolment_reviews WHERE period = '2022-11'"
                        " AND kind = 'scheduled' AND household_id = ANY($1::text[])",
                        [h["household_id"] for h in everyone])
    assert {o["household_id"]: o["outcome"] for o in outcomes} == {
        adjusted["household_id"]: "adjust", exiting["household_id"]: "gradual_exit",
        leaving["household_id"]: "exit", same["household_id"]: "continue"}

    # the review's case record, as a renewal case records it; no workflow for it
    case = await db(stack, "SELECT c.status, c.workflow_started_at, array_agg(t.stage ORDER BY t.seq) AS stages"
                    " FROM intake.cases c JOIN intake.case_transitions t USING (case_id)"
                    " WHERE c.household_id = $1 GROUP BY 1, 2", adjusted["household_id"])
    assert [(x["status"], x["workflow_started_at"], x["stages"]) for x in case] == [
        ("closed", None, ["review_adjust", "closed"])]

    # the household that needs a person: its own review case, whose Renewal workflow starts
    p = await roster(stack, person["household_id"])
    assert p["managed_by"] == "case" and p["review_case_id"] is not None

    async def started() -> bool:
        rows = await db(stack, "SELECT 1 FROM intake.cases WHERE case_id = $1 AND workflow_started_at IS NOT NULL",
                        p["review_case_id"])
        return bool(rows)

    await wait_for(started, timeout=60)
    temporal = await connect_temporal(stack.temporal_address, "doudi")
    described = await temporal.get_workflow_handle(p["review_case_id"]).describe()
    assert described.workflow_type == "Renewal"

    # a second run of the period's cycle pays nobody twice
    again = await client.http.post("/api/enrolments/cycles", headers=bearer("county_approver", region=REGION),
                                   json={"region_prefix": REGION, "period": "2022-11"})
    assert again.status_code == 202
    assert (await ledger_amounts(stack, adjusted["household_id"])) == {"2022-11": [60015]}
    assert (await ledger_amounts(stack, exiting["household_id"])) == {"2022-11": [60010]}
    assert (await ledger_amounts(stack, leaving["household_id"])) == {}

    # the gradual exit is paid by the cycles through its last month (2023-04) and ends on its date (2023-05)
    for period in ("2022-12", "2023-01", "2023-02", "2023-03", "2023-04"):
        await run_cycle(client, stack, period, region=REGION)
    assert (await roster(stack, exiting["household_id"]))["status"] == "gradual_exit"
    ended = await run_cycle(client, stack, "2023-05", region=REGION)
    assert ended["exits_ended"] == 1, ended
    g = await roster(stack, exiting["household_id"])
    assert g["status"] == "terminated"
    assert (await ledger_amounts(stack, exiting["household_id"])) == {
        m: [60010] for m in ("2022-11", "2022-12", "2023-01", "2023-02", "2023-03", "2023-04")}
    # 6 months x 60010 = 360060 fen in all
    assert sum(sum(v) for v in (await ledger_amounts(stack, exiting["household_id"])).values()) == 360060
    paid = await db(stack, "SELECT count(*) AS n FROM intake.enrolment_exit_months WHERE household_id = $1"
                    " AND paid_by_cycle IS NOT NULL", exiting["household_id"])
    assert paid[0]["n"] == 6
    closed = await db(stack, "SELECT status FROM intake.cases WHERE household_id = $1 AND trigger = 'review_cycle_set'",
                      exiting["household_id"])
    assert [x["status"] for x in closed] == ["closed"]
    # the adjusted household: paid its new level each month once, next review 2023-05 continues it
    amounts = await ledger_amounts(stack, adjusted["household_id"])
    assert amounts == {m: [60015] for m in ("2022-11", "2022-12", "2023-01", "2023-02", "2023-03", "2023-04",
                                            "2023-05")}
