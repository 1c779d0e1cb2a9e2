"""Issue 13, one-off aid and inbound events (items 4, 5, 7, 9, 13, 16, 18): the policy layer, the
verification rules and intake's routing, with amounts computed by hand from the seeds.

Seed 002 (Ningxia): urban dibao standard 「城乡低保标准，分别提高到每人每月650元」 = 65,000 fen per person per month.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.verification import rules
from services.verification.checks import confirm_event
from shared.contracts.activities import EventCheckRequest, RecipientFacts
from shared.contracts.events import parse_inbound
from shared.policy import HouseholdProfile, load_library
from tests.support import national_id, wait_for
from workflows.emergency_relief.inputs import EmergencyReliefInput
from workflows.one_off_assistance.inputs import OneOffInput

NINGXIA = "640104"
XINJIANG = "650102"
FUJIAN = "350102"
XPCC = "660101"
AUG = date(2022, 8, 12)
PERSON = national_id(NINGXIA)
SPOUSE = national_id(NINGXIA)


@pytest.fixture(scope="module")
def lib():
    return load_library()


def p(*categories: str, **kw: object) -> HouseholdProfile:
    return HouseholdProfile(categories=frozenset(categories), **kw)  # type: ignore[arg-type]


# ---- item 18: a marginal household is in the low-income database: no economic check ------------------

@pytest.mark.parametrize("measure", ["job_loss", "graduate"])
def test_a_marginal_household_skips_the_economic_check_for_job_loss_and_graduates(lib, measure: str):
    # seed 002 measures 5/6 「已纳入民政部门低收入人口数据库的……不再进行家庭经济状况核查，直接给予救助」 and measure 8
    # 「对纳入低收入人口监测范围的低保对象、特困人员、低保边缘家庭」: 3 x 650 yuan = 195,000 fen, no check
    e = lib.entitlement(measure, NINGXIA, AUG, p("marginal", unemployment_insured=False))
    assert (e.payable, e.amount_fen, e.economic_check_required) == (True, 195000, False)
    assert "low_income_db" in e.reason and any("低保边缘家庭" in c for c in e.citations)


# ---- item 4: one-off aid's economic test is not the dibao income line ----------------------------------

def test_one_off_measures_name_the_line_their_check_applies(lib):
    job = lib.entitlement("job_loss", NINGXIA, AUG, p(unemployment_insured=False))
    assert job.economic_check_required and job.economic_test == "low_income_line"
    med = lib.entitlement("medical_self_pay", NINGXIA, AUG, p("marginal", annual_medical_self_pay_fen=2_000_000))
    assert med.payable and med.economic_test == "expenditure"
    exp = lib.entitlement("temporary_assistance_expenditure_household", NINGXIA, AUG, p())
    assert exp.economic_test == "expenditure"


def _assess(income_fen: int, size: int, **kw: object) -> rules.Assessment:
    return rules.assess(declared_monthly_income_fen=income_fen, household_size=size, members_queried=size,
                        findings=rules.Findings(), standard=rules.Standard(
                            figure="dibao_urban_monthly_fen", monthly_fen=65000, area="urban", region_code=NINGXIA,
                            on="2022-08-12"), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("income_fen", "eligible"), [
    # low-income line = 1.5 x 65,000 = 97,500 fen per person; two persons: 195,000 fen a month
    (194_999, True),    # limit - 1: under the line
    (195_000, False),   # limit: 「低于低保标准的 1.5 倍」 is strictly under
    (195_001, False),   # limit + 1
])
def test_the_low_income_line_lets_a_marginal_household_qualify(income_fen: int, eligible: bool):
    a = _assess(income_fen, 2, line_multiple=Decimal("1.5"))
    assert (a.outcome == "eligible") is eligible
    # against the dibao line the same household (more than 65,000 x 2 = 130,000 fen) was always refused
    assert _assess(income_fen, 2).outcome == "ineligible"


def test_the_national_low_income_line_is_a_labelled_local_practice_default(lib):
    fig = lib.parameter("marginal_line_multiple", NINGXIA, AUG)
    assert fig is not None and fig.value == Decimal("1.5") and "LOCAL-PRACTICE DEFAULT" in (fig.note or "")
    assert lib.parameter("marginal_line_multiple", XPCC, AUG).quote == "但低于低保标准的 1.5 倍"  # type: ignore[union-attr]


def test_the_expenditure_test_deducts_the_self_pay_before_the_standard():
    # 支出型 (seed 004 item 7, seed 002 measure 8): two persons earning 200,000 fen a month (1,000 yuan per
    # person, above the 650-yuan standard); 20,000 yuan self-pay a year = 2,000,000 / 12 = 166,666.67 ->
    # 166,667 fen a month (half up); counted 200,000 - 166,667 = 33,333 < 65,000 x 2 = 130,000: eligible
    a = _assess(200_000, 2, rigid_expenditure_fen=166_667)
    assert a.outcome == "eligible" and a.counted_income_fen == 33_333
    assert _assess(200_000, 2).outcome == "ineligible"


def test_the_check_request_carries_the_line_the_measure_names():
    from services.verification.checks import resolve_low_income_line
    from shared.contracts.activities import EconomicCheckRequest
    req = EconomicCheckRequest(check_id="c:1", case_id="c", person_id=PERSON, region_code=NINGXIA,
                               business_date=AUG, income_test="low_income_line")
    multiple, cite = resolve_low_income_line(load_library(), req)
    assert multiple == Decimal("1.5") and "1.5 倍" in cite
    assert resolve_low_income_line(load_library(), req.model_copy(update={"income_test": "dibao_standard"})) == (
        None, "")


# ---- item 5: an amount left to the county is assessed, not refused -------------------------------------

@pytest.mark.parametrize("region", [XINJIANG, FUJIAN])
def test_job_loss_without_an_amount_needs_a_caseworker_assessment(lib, region: str):
    # Xinjiang/Fujian 「发放一次性临时救助金」: granted, no amount
    e = lib.entitlement("job_loss", region, AUG, p(unemployment_insured=False))
    assert not e.payable and e.needs_assessment and e.economic_check_required
    assessed = lib.assess_request("job_loss", region, AUG, p(unemployment_insured=False), 150_000)
    assert (assessed.payable, assessed.amount_fen, assessed.needs_assessment) == (True, 150_000, False)


def test_an_assessment_never_overrides_eligibility(lib):
    # the insured are outside 「失业保险政策无法覆盖」 whatever the caseworker assesses
    e = lib.assess_request("job_loss", XINJIANG, AUG, p(unemployment_insured=True), 150_000)
    assert not e.payable and e.amount_fen == 0
    for absurd in (0, -1):
        e = lib.assess_request("job_loss", XINJIANG, AUG, p(unemployment_insured=False), absurd)
        assert not e.payable and e.amount_fen == 0


def test_disaster_outside_ningxia_routes_to_the_national_assist_first_measure():
    from services.intake.routing import route_event
    start = route_event(_event("disaster.affected", {"person_id": national_id(XINJIANG),
                                                     "region_code": XINJIANG, "disaster_id": "flood-1",
                                                     "occurred_on": "2022-08-01"}), None, AUG)
    assert isinstance(start.workflow_input, EmergencyReliefInput)  # type: ignore[union-attr]
    assert start.workflow_input.measure == "disaster_assistance"  # type: ignore[union-attr]
    e = load_library().entitlement("disaster_assistance", XINJIANG, AUG, p())
    assert e.needs_assessment and not e.payable


# ---- item 9: 急难 is verified against the event ---------------------------------------------------------

def _event_check(**kw: object) -> EventCheckRequest:
    base = dict(check_id="c:event", case_id="c", person_id=PERSON, region_code=NINGXIA, trigger="quarantine",
                incident_date=AUG)
    return EventCheckRequest(**{**base, **kw})  # type: ignore[arg-type]


def test_the_agency_report_attests_the_event():
    r = confirm_event(_event_check(cause_event_id="evt-1"))
    assert r.outcome == "confirmed" and "health commission" in " ".join(r.reasons)


@pytest.mark.parametrize(("trigger", "kinds", "outcome"), [
    ("application", ["explanation"], "confirmed"),            # 后补齐说明
    ("application", ["id_card", "authorisation"], "not_confirmed"),
    ("disaster", ["disaster_certificate"], "confirmed"),
    ("disaster", ["explanation"], "not_confirmed"),
    ("quarantine", ["quarantine_notice"], "confirmed"),
])
def test_documents_attest_the_event_or_the_aid_is_questioned(trigger: str, kinds: list[str], outcome: str):
    assert confirm_event(_event_check(trigger=trigger, document_kinds=kinds)).outcome == outcome


def test_a_household_above_the_dibao_line_is_not_recovered_when_the_event_is_attested():
    # the income does not enter the event test at all (急难: the event, not the dibao line)
    r = rules.assess_event(trigger="covid_diagnosis", incident_date="2022-08-10", cause_event_id="evt-2",
                           document_kinds=[])
    assert r.outcome == "confirmed"


# ---- item 16: the business date comes from the event's facts ------------------------------------------

def _event(name: str, data: dict, *, time: str | None = None) -> object:
    import json

    from shared.contracts.events import make_cloudevent
    body = make_cloudevent(name, data, event_id=f"evt-{name}")
    if time:
        body["time"] = time
    return parse_inbound(f"doudi.events.{name}", json.dumps(body).encode())


def test_a_2022_self_pay_report_arriving_now_is_judged_under_2022s_policy():
    from services.intake.routing import business_date, route_event
    ev = _event("medical.self_pay_reported", {"person_id": PERSON, "region_code": NINGXIA, "year": 2022,
                                              "self_pay_fen": 2_000_000})
    now = datetime.now(UTC).date()
    assert business_date(ev, now) == date(2022, 12, 31)  # type: ignore[arg-type]
    facts = RecipientFacts(found=True, person_id=PERSON, household_id="hh", region_code=NINGXIA,
                           categories=["marginal"], household_size=1, member_ids=[PERSON])
    start = route_event(ev, facts, now)  # type: ignore[arg-type]
    assert isinstance(start.workflow_input, OneOffInput)  # type: ignore[union-attr]
    assert start.business_date == date(2022, 12, 31)  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("health.quarantined", {"quarantined_on": "2022-08-10"}, date(2022, 8, 10)),
    ("health.covid_diagnosed", {"diagnosed_on": "2022-08-11"}, date(2022, 8, 11)),
    ("employment.job_lost", {"last_income_month": "2022-05", "unemployment_insured": False}, date(2022, 6, 1)),
    ("medical.self_pay_reported", {"year": 2023, "self_pay_fen": 1}, date(2023, 12, 31)),
])
def test_every_event_takes_its_business_date_from_its_facts(name: str, data: dict, expected: date):
    from services.intake.routing import business_date
    ev = _event(name, {"person_id": PERSON, "region_code": NINGXIA, **data})
    assert business_date(ev, date(2026, 12, 1)) == expected  # type: ignore[arg-type]


# ---- item 13: a job loss before the three months waits -----------------------------------------------

def test_an_early_job_loss_opens_a_case_that_waits_for_the_three_months():
    from services.intake.routing import route_event
    # last income 2022-07; 「连续3个月无收入来源」: August, September, October -> met on 2022-11-01
    ev = _event("employment.job_lost", {"person_id": PERSON, "region_code": NINGXIA, "last_income_month": "2022-07",
                                        "unemployment_insured": False})
    start = route_event(ev, None, date(2022, 9, 5))  # type: ignore[arg-type]
    inp = start.workflow_input  # type: ignore[union-attr]
    assert isinstance(inp, OneOffInput) and inp.eligible_on == date(2022, 11, 1)
    assert inp.business_date == date(2022, 11, 1)


def test_a_job_loss_application_checks_the_three_months_too():
    from services.intake.routing import InvalidApplication, route_application
    from shared.contracts.api import ApplicationIn
    app = ApplicationIn(person_id=PERSON, region_code=NINGXIA, kind="job_loss", consent=True,
                        details={"last_income_month": "2022-07", "unemployment_insured": False})  # type: ignore[arg-type]
    start = route_application(app, "app-1", "clerk-1", "clerk", "6401", date(2022, 9, 5))
    assert start.workflow_input.eligible_on == date(2022, 11, 1)
    met = route_application(app, "app-2", "clerk-1", "clerk", "6401", date(2022, 11, 1))
    assert met.workflow_input.eligible_on is None and met.business_date == date(2022, 11, 1)
    later = app.model_copy(update={"details": app.details.model_copy(update={"last_income_month": "2022-12"})})
    with pytest.raises(InvalidApplication):
        route_application(later, "app-3", "clerk-1", "clerk", "6401", date(2022, 9, 5))


# ---- item 7: quarantine aid per household and incident -----------------------------------------------

def test_two_members_of_one_household_share_the_household_incident():
    from services.intake.routing import route_event
    facts = RecipientFacts(found=True, person_id=PERSON, household_id="hh-7", region_code=NINGXIA,
                           categories=["dibao"], household_size=3, member_ids=[PERSON, SPOUSE])
    one = route_event(_event("health.quarantined", {"person_id": PERSON, "region_code": NINGXIA,
                                                    "quarantined_on": "2022-08-10"}), facts, AUG)  # type: ignore[arg-type]
    two = route_event(_event("health.quarantined", {"person_id": SPOUSE, "region_code": NINGXIA,
                                                    "quarantined_on": "2022-08-10"}),
                      facts.model_copy(update={"person_id": SPOUSE}), AUG)  # type: ignore[arg-type]
    assert one.case_id == two.case_id  # type: ignore[union-attr]
    assert one.incident is not None and one.incident.household_id == "hh-7"  # type: ignore[union-attr]
    assert one.incident.window_days == 14  # type: ignore[union-attr]  # national local-practice default


def test_quarantine_aid_is_the_households_once(lib):
    # 3 x 65,000 = 195,000 fen for the household (per case, not per person)
    e = lib.entitlement("quarantine", NINGXIA, AUG, p("dibao", household_size=3))
    assert e.amount_fen == 195000
    assert lib.measure("quarantine", NINGXIA, AUG).once_per == "household_incident"  # type: ignore[union-attr]
    assert lib.measure("covid_diagnosis", NINGXIA, AUG).once_per == "person_incident"  # type: ignore[union-attr]


# ---- the waits, on the time-skipping server (items 13 and 5) ------------------------------------------

async def test_an_early_job_loss_waits_for_the_three_months_then_pays(env):
    from datetime import timedelta

    from tests.unit.test_one_off_workflow import APPLICATION, Fakes, at_stage, start, stop
    fakes, workers = Fakes(categories=["low_income_db"]), []
    eligible_on = (datetime.now(UTC) + timedelta(days=40)).date()  # the server's clock starts at the real time
    try:
        handle = await start(env, fakes, workers, application=APPLICATION, eligible_on=eligible_on)
        await at_stage(handle, "waiting_for_condition")

        async def recorded() -> bool:  # the stage is the workflow's; its record is an activity's, a moment later
            return bool(fakes.transitions)

        await wait_for(recorded, timeout=20)
        assert fakes.payments == [] and fakes.transitions[-1].deadlines[0]["kind"] == "condition"
        result = await handle.result()  # time skips to the day the condition is met
    finally:
        await stop(workers)
    # Ningxia, 3 x 650 yuan = 195,000 fen, once the three months are complete
    assert result.outcome == "paid" and [p.amount_fen for p in fakes.payments] == [195000]
    assert [t.stage for t in fakes.transitions][:2] == ["waiting_for_condition", "assessed"]


async def test_an_amount_left_to_the_county_waits_for_the_caseworker_then_the_tiers_decide(env):
    from datetime import timedelta

    from temporalio.client import WorkflowUpdateFailedError

    from tests.unit.test_one_off_workflow import APPLICATION, Fakes, at_stage, start, stop
    from workflows.assessment import AssessmentSubmitted
    from workflows.one_off_assistance.workflow import OneOffAssistanceWorkflow
    fakes, workers = Fakes(categories=[]), []

    def assessment(amount: int, **kw: object) -> AssessmentSubmitted:
        return AssessmentSubmitted(**{**dict(official="clerk-2", role="clerk", region="6501", amount_fen=amount,
                                             reason="三个月无收入"), **kw})  # type: ignore[arg-type]
    try:
        handle = await start(env, fakes, workers, region_code=XINJIANG, application=APPLICATION)
        await at_stage(handle, "awaiting_assessment")
        assert fakes.transitions[-1].deadlines[0]["kind"] == "assessment"
        await env.sleep(timedelta(days=6))  # past the 5-day local-practice deadline: flagged, escalated, waiting
        await at_stage(handle, "assessment_overdue")
        assert "assessment_overdue" in fakes.transitions[-1].flags and fakes.payments == []
        for bad, why in [(0, "positive"), (-1, "positive"), (2**63 - 1, "一事一议"), (1_000_001, "一事一议")]:
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await handle.execute_update(OneOffAssistanceWorkflow.assess, assessment(bad))
            assert why in str(err.value.cause)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OneOffAssistanceWorkflow.assess, assessment(150000, region="6401"))
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OneOffAssistanceWorkflow.assess, assessment(150000, role="finance"))
        await handle.execute_update(OneOffAssistanceWorkflow.assess, assessment(150000))
        with pytest.raises(WorkflowUpdateFailedError):  # assessed once
            await handle.execute_update(OneOffAssistanceWorkflow.assess, assessment(160000))
        result = await handle.result()
    finally:
        await stop(workers)
    # 1,500 yuan = 150,000 fen, under Xinjiang's township authority 「2000元以下」 (200,000 fen): approved by the
    # tier, paid once under the case's key
    assert result.outcome == "paid" and [(p.amount_fen, p.idempotency_key) for p in fakes.payments] == [
        (150000, f"{result.case_id}:1")]
    stages = [t.stage for t in fakes.transitions]
    assert stages.index("awaiting_assessment") < stages.index("assessed_by_caseworker") < stages.index("approved")


async def test_a_disaster_outside_ningxia_is_assessed_paid_and_verified_against_the_event(env):
    """Seed 003 「对受到灾害影响,导致基本生活出现困难的家庭和个人,要按照“先行救助”有关政策规定,直接实施临时救助」:
    no amount.
    The caseworker assesses 1,200 yuan = 120,000 fen; the tier approves; paid once; the documents follow and
    the event (reported by emergency management) is what verification confirms."""
    import uuid as _uuid

    from tests.unit.fakes import FakeServices, WorkerSet
    from tests.unit.test_emergency_relief_workflow import at_stage, docs
    from workflows.assessment import AssessmentSubmitted
    from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
    from workflows.one_matter.workflow import OneMatterWorkflow
    from workflows.policy import evaluate_entitlement
    from workflows.staged_aid.workflow import StagedAidWorkflow

    fakes = FakeServices(amount=0)
    acts = fakes.activities()
    acts["wf"] = [a for a in acts["wf"] if getattr(a, "__temporal_activity_definition").name
                  != "policy.evaluate_entitlement"] + [evaluate_entitlement]  # the real policy
    async with WorkerSet(env, [EmergencyReliefWorkflow, OneMatterWorkflow, StagedAidWorkflow], acts) as queue:
        case_id = f"em-{_uuid.uuid4().hex[:8]}"
        handle = await env.client.start_workflow(EmergencyReliefWorkflow.run, EmergencyReliefInput(
            case_id=case_id, trigger="disaster", person_id=PERSON, region_code="650102001",
            business_date=date(2022, 8, 1), cause_event_id="evt-flood", measure="disaster_assistance"),
            id=case_id, task_queue=queue)
        await at_stage(handle, "awaiting_assessment")
        assert fakes.payments == [] and ("open", "assessment", "clerk") in fakes.tasks
        await handle.execute_update(EmergencyReliefWorkflow.assess, AssessmentSubmitted(
            official="clerk-2", role="clerk", region="6501", amount_fen=120000, reason="房屋受损，口粮被冲毁"))
        await at_stage(handle, "awaiting_documents")
        await handle.execute_update(EmergencyReliefWorkflow.submit_documents, docs(
            documents=[{"kind": "disaster_certificate", "reference": "受灾证明-1"}]))
        result = await handle.result()
    assert result.outcome == "confirmed" and result.amount_fen == 120000
    assert [(p.amount_fen, p.idempotency_key) for p in fakes.payments] == [(120000, f"{case_id}:1")]
    assert fakes.checks == [] and [c.trigger for c in fakes.event_checks] == ["disaster"]
    assert result.policy is not None and result.policy["measure"] == "disaster_assistance"


def test_a_job_lost_this_month_waits_and_a_future_last_income_month_is_refused():
    from services.intake.routing import ScreenedOut, route_event
    this_month = _event("employment.job_lost", {"person_id": PERSON, "region_code": NINGXIA,
                                                "last_income_month": "2022-09", "unemployment_insured": False})
    start = route_event(this_month, None, date(2022, 9, 5))  # type: ignore[arg-type]
    # income in September; October, November, December without: met on 2023-01-01
    assert start.workflow_input.eligible_on == date(2023, 1, 1)  # type: ignore[union-attr]
    future = _event("employment.job_lost", {"person_id": PERSON, "region_code": NINGXIA,
                                            "last_income_month": "2022-10", "unemployment_insured": False})
    assert isinstance(route_event(future, None, date(2022, 9, 5)), ScreenedOut)  # type: ignore[arg-type]
