"""Services' HTTP routes with FastAPI's TestClient: the app as ``serve`` builds it (the service's ``build``
and the shared ``finish_app``), its stores and Temporal replaced by fakes (tests/unit/fakes.py). What a
person sees: 401/403 by role, 404 alike for what does not exist and what lies outside the jurisdiction,
422 naming the field, 409 with the workflow's reason, and the update a decision sends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.approval import main as approval_main
from services.intake import main as intake_main
from services.intake.store import HouseholdView
from services.verification import main as verification_main
from shared import assertions
from shared.auth import issue_token
from shared.contracts.authority import AuthorityLimits, Cap
from shared.contracts.money import MAX_ANNUAL_SELF_PAY_FEN, MAX_CASE_AMOUNT_FEN, MAX_MONTHLY_INCOME_FEN
from shared.infra.errors import Conflict, NotFound
from shared.infra.process import install_error_handlers
from tests.unit.conftest import TEST_SIGNER
from tests.unit.fakes import FakeIntake, FakeOfficials, FakeReferences, FakeTemporal, service_app
from workflows.decisions import AuthorityView
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow

YINCHUAN = "640104"  # 银川市兴庆区
PERSON_YINCHUAN = "640104198001010013"  # a valid ID (check character by GB 11643) of 兴庆区


def bearer(role: str, region: str = "", subject: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(subject or f'test-{role}', role, region=region)}"}


@pytest.fixture
def signs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service signs each update with the unit ring's key (never the data folder's)."""
    monkeypatch.setattr(assertions, "_SIGNER", TEST_SIGNER)


@pytest.fixture
def intake(signs: None) -> Iterator[tuple[TestClient, FakeIntake]]:
    app = service_app(intake_main.build, "intake")
    fake = FakeIntake()
    app.state.intake = fake
    with TestClient(app) as client:
        yield client, fake


def household(household_id: str, region: str) -> HouseholdView:
    now = datetime(2022, 8, 1, tzinfo=UTC)
    return HouseholdView(household_id=household_id, region_code=region, urban=True, categories=["dibao"],
                         monthly_income_fen=60000, created_at=now, updated_at=now, version=1, members=[])


# -- intake: the registry ----------------------------------------------------------------------------------


def test_a_household_is_shown_in_its_jurisdiction_and_hidden_outside_it(intake: tuple[TestClient, FakeIntake]) -> None:
    client, fake = intake
    fake.households["hh-1"] = household("hh-1", YINCHUAN)
    r = client.get("/api/households/hh-1", headers=bearer("clerk", "6401"))
    assert r.status_code == 200 and r.json()["region_code"] == YINCHUAN
    # another prefecture's clerk learns nothing: the same 404 as for a household that does not exist
    outside = client.get("/api/households/hh-1", headers=bearer("clerk", "6402"))
    missing = client.get("/api/households/hh-404", headers=bearer("clerk", "6401"))
    assert outside.status_code == missing.status_code == 404
    assert outside.json()["detail"] == "household hh-1 not found"


def test_a_household_needs_a_token_and_a_role_that_reads_the_registry(intake: tuple[TestClient, FakeIntake]) -> None:
    client, fake = intake
    fake.households["hh-1"] = household("hh-1", YINCHUAN)
    assert client.get("/api/households/hh-1").status_code == 401
    assert client.get("/api/households/hh-1", headers=bearer("finance")).status_code == 403
    assert client.get("/api/households/hh-1", headers=bearer("auditor")).status_code == 200


# -- intake: a caseworker's assessment (an update to the case's workflow) ---------------------------------


def assess(client: TestClient, case_id: str, body: dict[str, object], role: str = "clerk",
           region: str = "6401") -> tuple[int, object]:
    r = client.post(f"/api/cases/{case_id}/assessment", headers=bearer(role, region, "clerk-7"), json=body)
    return r.status_code, r.json()


def test_an_assessment_reaches_the_cases_workflow_signed_with_the_amount_as_typed(
        intake: tuple[TestClient, FakeIntake]) -> None:
    client, fake = intake
    fake.case_regions["c-1"] = YINCHUAN
    fake.temporal.run("c-1", EmergencyReliefWorkflow)
    status, body = assess(client, "c-1", {"amount_fen": 120000, "reason": "房屋受损"})
    assert (status, body) == (200, {"case_id": "c-1", "accepted": True, "by": "clerk-7"})
    [(case_id, update, arg)] = fake.temporal.updates
    assert (case_id, update) == ("c-1", "assess")
    assert arg["amount_fen"] == 120000 and arg["official"] == "clerk-7" and arg["role"] == "clerk"
    assert arg["assertion"]  # signed for this case, this update and this body (shared/assertions.py)


@pytest.mark.parametrize(("amount", "why"), [
    (0, "greater_than"),                          # an assessment is an amount to pay
    (-1, "greater_than"),
    (MAX_CASE_AMOUNT_FEN + 1, "less_than_equal"),  # one case's sane maximum (1,000,000 yuan) + 1 fen
    (2**63 - 1, "less_than_equal"),               # absurd: refused before it reaches a workflow
    (2**63, "less_than_equal"),                   # beyond the ledger's bigint
    ("120000", "int_type"),                       # strict: a string is not an amount
])
def test_an_assessment_amount_out_of_range_is_422_naming_the_field(
        intake: tuple[TestClient, FakeIntake], amount: object, why: str) -> None:
    client, fake = intake
    fake.case_regions["c-1"] = YINCHUAN
    fake.temporal.run("c-1", EmergencyReliefWorkflow)
    status, body = assess(client, "c-1", {"amount_fen": amount, "reason": "x"})
    assert status == 422
    [error] = body["detail"]  # type: ignore[index]
    assert error["loc"] == ["body", "amount_fen"] and error["type"] == why
    assert fake.temporal.updates == []


@pytest.mark.parametrize("amount", [MAX_CASE_AMOUNT_FEN - 1, MAX_CASE_AMOUNT_FEN])
def test_an_assessment_up_to_the_sane_maximum_goes_to_the_workflow_whose_ceiling_decides(
        intake: tuple[TestClient, FakeIntake], amount: int) -> None:
    client, fake = intake
    fake.case_regions["c-1"] = YINCHUAN
    fake.temporal.run("c-1", EmergencyReliefWorkflow)
    assert assess(client, "c-1", {"amount_fen": amount, "reason": "x"})[0] == 200
    assert [arg["amount_fen"] for _, _, arg in fake.temporal.updates] == [amount]


def test_an_assessment_with_a_field_the_contract_does_not_have_is_422(intake: tuple[TestClient, FakeIntake]) -> None:
    client, fake = intake
    fake.case_regions["c-1"] = YINCHUAN
    status, body = assess(client, "c-1", {"amount_fen": 1, "reason": "x", "approved": True})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "approved"]  # type: ignore[index]


def test_an_assessment_of_a_case_unknown_or_outside_the_jurisdiction_is_404_and_sends_nothing(
        intake: tuple[TestClient, FakeIntake]) -> None:
    client, fake = intake
    fake.case_regions["c-far"] = "650102"
    fake.temporal.run("c-far", EmergencyReliefWorkflow)
    assert assess(client, "c-far", {"amount_fen": 1, "reason": "x"})[0] == 404
    assert assess(client, "c-404", {"amount_fen": 1, "reason": "x"})[0] == 404
    assert fake.temporal.updates == []


def test_the_workflows_refusal_is_409_with_its_reason_and_a_finished_case_is_404(
        intake: tuple[TestClient, FakeIntake]) -> None:
    client, fake = intake
    fake.case_regions["c-1"] = YINCHUAN
    fake.temporal.run("c-1", EmergencyReliefWorkflow)
    fake.temporal.refusal = "the case is not awaiting an assessment"
    assert assess(client, "c-1", {"amount_fen": 1, "reason": "x"}) == (
        409, {"detail": "the case is not awaiting an assessment"})
    fake.case_regions["c-done"] = YINCHUAN  # known to intake, its workflow no longer running
    status, body = assess(client, "c-done", {"amount_fen": 1, "reason": "x"})
    assert status == 404 and "c-done" in body["detail"]  # type: ignore[index]


# -- the error answers every service shares (shared/infra/process.py) -------------------------------------


def test_domain_errors_raised_below_the_http_layer_answer_with_their_status_and_detail() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("案件 c-1 不存在 (case c-1 not found)")

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict({"reason": "above the township's authority", "limit_fen": 200000})

    client = TestClient(app)
    r = client.get("/missing")
    assert (r.status_code, r.json()) == (404, {"detail": "案件 c-1 不存在 (case c-1 not found)"})
    r = client.get("/conflict")
    assert (r.status_code, r.json()) == (409, {"detail": {"reason": "above the township's authority",
                                                          "limit_fen": 200000}})


# -- approval: a decision on money within the tier's delegated authority ----------------------------------

XINJIANG_TOWNSHIP = "650102"  # 乌鲁木齐市天山区
# seed 000 (Xinjiang) 「对 2000元以下的临时救助申请， 由县级人民政府民政部门委托乡镇（街道）审批」: 2,000 yuan x 100
# = 200,000 fen, and 以下 includes the figure: the township decides up to and including 200,000 fen
TOWNSHIP_LIMIT_FEN = 200_000


@pytest.fixture
def approval(signs: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, FakeTemporal]]:
    app = service_app(approval_main.build, "approval")
    officials = FakeOfficials().install(monkeypatch)
    officials.register("township-1", "650102198001010011", "township_approver", XINJIANG_TOWNSHIP)
    temporal = app.state.runtime.temporal
    temporal.run("er-1", EmergencyReliefWorkflow)  # the decision goes as the case's own model (CountyDecision)
    temporal.answer("er-1", "authority", AuthorityView(
        awaiting="township", escalable=True, limits=AuthorityLimits(township=Cap(limit_fen=TOWNSHIP_LIMIT_FEN))))
    with TestClient(app) as client:
        yield client, temporal


def decide(client: TestClient, amount: object, *, role: str = "township_approver", subject: str = "township-1",
           region: str = XINJIANG_TOWNSHIP) -> tuple[int, object]:
    r = client.post("/api/cases/er-1/decisions", headers=bearer(role, region, subject),
                    json={"decision": "approve", "amount_fen": amount, "reason": "急难"})
    return r.status_code, r.json()


@pytest.mark.parametrize("amount", [TOWNSHIP_LIMIT_FEN - 1, TOWNSHIP_LIMIT_FEN])
def test_a_township_approval_within_its_limit_is_sent_to_the_workflow_signed_by_the_registered_person(
        approval: tuple[TestClient, FakeTemporal], amount: int) -> None:
    client, temporal = approval
    assert decide(client, amount)[0] == 200
    [(_, update, arg)] = temporal.updates
    assert update == "decide" and arg["amount_fen"] == amount and arg["approve"] is True
    assert arg["person_id"] == "650102198001010011"  # from the registry, never from the token


def test_a_township_approval_one_fen_above_its_limit_is_409_and_the_case_goes_up_nothing_decided(
        approval: tuple[TestClient, FakeTemporal]) -> None:
    client, temporal = approval
    status, body = decide(client, TOWNSHIP_LIMIT_FEN + 1)
    assert status == 409
    assert "超出乡镇（街道）审批权限" in body["detail"] and "escalated" in body["detail"]  # type: ignore[index]
    assert temporal.sent("er-1") == ["escalate"]  # up a tier; no "decide", nothing paid


def test_above_the_limit_on_a_case_that_cannot_go_up_is_409_all_the_same(
        approval: tuple[TestClient, FakeTemporal]) -> None:
    client, temporal = approval
    temporal.refusal = "the case is not at a step that escalates"  # the workflow refuses the escalation
    status, body = decide(client, TOWNSHIP_LIMIT_FEN + 1)
    assert status == 409 and "超出乡镇（街道）审批权限" in body["detail"]  # type: ignore[index]
    assert "escalated" not in body["detail"] and temporal.updates == []  # type: ignore[index]


@pytest.mark.parametrize("amount", [0, -1, 2**63 - 1, 2**63, "200000"])
def test_an_absurd_amount_is_422_naming_the_field_before_any_workflow(
        approval: tuple[TestClient, FakeTemporal], amount: object) -> None:
    client, temporal = approval
    status, body = decide(client, amount)
    assert status == 422 and body["detail"][0]["loc"][:2] == ["body", "amount_fen"]  # type: ignore[index]
    assert temporal.updates == []


def test_a_decision_needs_a_deciding_role_and_the_role_the_registry_grants(
        approval: tuple[TestClient, FakeTemporal]) -> None:
    client, temporal = approval
    assert decide(client, 1000, role="clerk", subject="clerk-1")[0] == 403
    assert decide(client, 1000, role="auditor", subject="auditor-1")[0] == 403
    # registered as a township approver, acting with a county approver's token: refused by the registry
    status, body = decide(client, 1000, role="county_approver")
    assert status == 403 and "registered as township_approver" in body["detail"]  # type: ignore[index]
    # registered for its township, the token says another region: refused
    assert decide(client, 1000, region="650103")[0] == 403
    assert temporal.updates == []


# -- verification: the department reference source ---------------------------------------------------------


@pytest.fixture
def verification() -> Iterator[tuple[TestClient, FakeReferences]]:
    app = service_app(verification_main.build, "verification")
    references = FakeReferences()
    app.state.reference = references
    with TestClient(app) as client:
        yield client, references


def test_a_service_seeds_a_department_record_once_and_reads_it_back(
        verification: tuple[TestClient, FakeReferences]) -> None:
    client, references = verification
    body = {"insured": True, "self_pay": [{"year": 2022, "self_pay_fen": 1_250_000}]}
    url = f"/api/reference-data/medical_insurance/{PERSON_YINCHUAN}"
    first = client.put(url, headers=bearer("service"), json=body)
    again = client.put(url, headers=bearer("service"), json=body)
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (again.status_code, again.json()["created"]) == (200, False)
    read = client.get(url, headers=bearer("auditor"))
    assert read.status_code == 200 and read.json()["payload"] == body
    assert list(references.rows) == [("medical_insurance", PERSON_YINCHUAN)]


def test_only_the_service_account_seeds_and_a_region_reads_only_its_own_people(
        verification: tuple[TestClient, FakeReferences]) -> None:
    client, references = verification
    url = f"/api/reference-data/hrss/{PERSON_YINCHUAN}"
    assert client.put(url, headers=bearer("clerk", "6401"), json={}).status_code == 403
    assert client.put(url, headers=bearer("service"), json={}).status_code == 201
    assert client.get(url, headers=bearer("auditor", "6401")).status_code == 200
    outside = client.get(url, headers=bearer("auditor", "6501"))
    assert outside.status_code == 404 and PERSON_YINCHUAN not in outside.text  # nothing of a foreign person


def test_a_bad_id_an_unknown_source_or_a_bad_field_is_refused_naming_it(
        verification: tuple[TestClient, FakeReferences]) -> None:
    client, references = verification
    bad_id = client.put(f"/api/reference-data/hrss/{PERSON_YINCHUAN[:17]}0", headers=bearer("service"), json={})
    assert bad_id.status_code == 422 and bad_id.json()["detail"][0]["loc"] == ["path", "person_id"]
    unknown = client.put(f"/api/reference-data/horoscope/{PERSON_YINCHUAN}", headers=bearer("service"), json={})
    assert unknown.status_code == 404 and "horoscope" in unknown.json()["detail"]
    field = client.put(f"/api/reference-data/hrss/{PERSON_YINCHUAN}", headers=bearer("service"),
                       json={"employments": [{"employer": "x", "start_on": "2022-01-01"}]})
    assert field.status_code == 422
    assert field.json()["detail"][0]["loc"] == ["body", "employments", 0, "monthly_wage_fen"]
    assert references.rows == {}


@pytest.mark.parametrize(("payload", "loc"), [
    # a month's wage, benefit or pension: at most the sane monthly maximum (1,000,000 yuan)
    ({"employments": [{"employer": "x", "start_on": "2022-01-01", "monthly_wage_fen": MAX_MONTHLY_INCOME_FEN + 1}]},
     ["body", "employments", 0, "monthly_wage_fen"]),
    ({"pensions": [{"start_on": "2022-01-01", "monthly_pension_fen": 2**63 - 1}]},
     ["body", "pensions", 0, "monthly_pension_fen"]),
    ({"unemployment_benefits": [{"start_on": "2022-01-01", "monthly_benefit_fen": -1}]},
     ["body", "unemployment_benefits", 0, "monthly_benefit_fen"]),
])
def test_an_absurd_monthly_amount_in_a_department_record_is_422(
        verification: tuple[TestClient, FakeReferences], payload: dict[str, object], loc: list[object]) -> None:
    client, references = verification
    r = client.put(f"/api/reference-data/hrss/{PERSON_YINCHUAN}", headers=bearer("service"), json=payload)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == loc
    assert references.rows == {}


@pytest.mark.parametrize(("self_pay", "status"), [
    (MAX_ANNUAL_SELF_PAY_FEN - 1, 201), (MAX_ANNUAL_SELF_PAY_FEN, 201),  # a year's self-pay up to 10,000,000 yuan
    (MAX_ANNUAL_SELF_PAY_FEN + 1, 422), (2**63 - 1, 422),
])
def test_a_years_medical_self_pay_is_bounded_by_its_sane_maximum(
        verification: tuple[TestClient, FakeReferences], self_pay: int, status: int) -> None:
    client, _ = verification
    r = client.put(f"/api/reference-data/medical_insurance/{PERSON_YINCHUAN}", headers=bearer("service"),
                   json={"self_pay": [{"year": 2022, "self_pay_fen": self_pay}]})
    assert r.status_code == status, r.text
