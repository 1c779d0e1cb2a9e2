"""The verification service against the real stack: reference data over HTTP, the economic status check
on PostgreSQL (service layer and through Temporal on the ``verification`` task queue), case documents."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from deploy.embedded import EmbeddedStack
from services.verification.checks import SCHEMA, check_economic_status
from services.verification.documents import REGION_KEY
from services.verification.sources import BackendRecord, LocalReferenceBackend, department_sources
from shared.auth import issue_token
from shared.config import TASK_QUEUE_VERIFICATION
from shared.contracts.activities import CHECK_ECONOMIC_STATUS, EconomicCheckRequest, EconomicCheckResult
from shared.infra.db import create_pool
from shared.infra.temporal import connect_temporal
from tests.support import national_id

pytestmark = pytest.mark.stack

YINCHUAN_URBAN = "640104"   # 银川市兴庆区, Ningxia: urban dibao standard 650 yuan (seed 002)
BUSINESS_DATE = date(2022, 8, 10)


def bearer(role: str, region: str = "", subject: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(subject or f'test-{role}', role, region=region)}"}


SERVICE = bearer("service")


@pytest.fixture(scope="module")
async def api(stack: EmbeddedStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.ports.verification}", timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
async def pool(stack: EmbeddedStack) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(stack.database_url, schema=SCHEMA, max_size=4)
    yield p
    await p.close()


@pytest.fixture(scope="module")
async def temporal(stack: EmbeddedStack) -> Client:
    return await connect_temporal(stack.temporal_address, "doudi")


async def seed_wages(api: httpx.AsyncClient, wages: Mapping[str, int]) -> None:
    for pid, fen in wages.items():
        r = await api.put(f"/api/reference-data/hrss/{pid}", headers=SERVICE, json={
            "employments": [{"employer": "银川市某物流公司", "monthly_wage_fen": fen, "start_on": "2021-03-01"}]})
        assert r.status_code in (200, 201), r.text


def household_of_three() -> list[str]:
    return [national_id(YINCHUAN_URBAN) for _ in range(3)]


def check_request(members: list[str], *, declared: int = 0) -> EconomicCheckRequest:
    case_id = f"test-{uuid.uuid4().hex[:12]}"
    return EconomicCheckRequest(check_id=f"{case_id}:1", case_id=case_id, person_id=members[0],
                                member_ids=members, region_code=YINCHUAN_URBAN, business_date=BUSINESS_DATE,
                                urban=True, household_size=3, declared_monthly_income_fen=declared)


class CountingBackend:
    """The local reference source, counting how often it is asked."""

    def __init__(self, inner: LocalReferenceBackend):
        self.inner = inner
        self.name = inner.name
        self.fetches = 0

    async def fetch(self, source: str, person_ids: Sequence[str], on: date) -> Mapping[str, BackendRecord]:
        self.fetches += 1
        return await self.inner.fetch(source, person_ids, on)


# ---- reference data ------------------------------------------------------------------------------------

async def test_reference_data_is_seeded_and_read_back_over_http(api: httpx.AsyncClient):
    pid = national_id(YINCHUAN_URBAN)
    body = {"properties": [{"certificate_no": "宁(2021)银川市不动产权第0001号", "usage": "residential",
                            "area_m2": 86.5, "registered_on": "2021-01-05"}]}
    r = await api.put(f"/api/reference-data/real_estate/{pid}", headers=SERVICE, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["department_zh"] == "不动产登记部门" and r.json()["created"] is True
    r = await api.put(f"/api/reference-data/real_estate/{pid}", headers=bearer("admin"), json=body)
    assert r.status_code == 200 and r.json()["created"] is False
    r = await api.get(f"/api/reference-data/real_estate/{pid}", headers=SERVICE)
    assert r.status_code == 200
    assert r.json()["payload"]["properties"][0]["certificate_no"] == "宁(2021)银川市不动产权第0001号"
    assert (await api.get(f"/api/reference-data/vehicles/{pid}", headers=SERVICE)).status_code == 404
    sources = (await api.get("/api/reference-data", headers=SERVICE)).json()
    assert len(sources) == 8 and all(s["payload_schema"]["type"] == "object" for s in sources)


async def test_reference_data_with_a_bad_payload_answers_422_naming_the_field(api: httpx.AsyncClient,
                                                                              pool: asyncpg.Pool):
    pid = national_id(YINCHUAN_URBAN)
    r = await api.put(f"/api/reference-data/hrss/{pid}", headers=SERVICE, json={
        "employments": [{"employer": "某公司", "monthly_wage_fen": 1234.5, "start_on": "2021-03-01"}]})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "employments", 0, "monthly_wage_fen"]
    r = await api.put(f"/api/reference-data/hrss/{pid}", headers=SERVICE, json={"wages": 90000})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "wages"]
    r = await api.put(f"/api/reference-data/hrss/{pid[:17]}Y", headers=SERVICE, json={})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "person_id"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM reference_records WHERE person_id = $1", pid) == 0


async def test_reference_data_needs_a_service_or_admin_role_and_a_known_source(api: httpx.AsyncClient):
    pid = national_id(YINCHUAN_URBAN)
    r = await api.put(f"/api/reference-data/hrss/{pid}", headers=bearer("clerk"), json={})
    assert r.status_code == 403
    assert (await api.put(f"/api/reference-data/hrss/{pid}", json={})).status_code == 401
    r = await api.put(f"/api/reference-data/tax/{pid}", headers=SERVICE, json={})
    assert r.status_code == 404 and "hrss" in r.json()["detail"]


# ---- the economic status check --------------------------------------------------------------------------

async def test_a_household_under_the_standard_is_eligible(api: httpx.AsyncClient, pool: asyncpg.Pool):
    members = household_of_three()
    await seed_wages(api, {members[0]: 60000, members[1]: 30000})     # 900 yuan / 3 = 300 yuan per person
    req = check_request(members, declared=50000)
    result = await check_economic_status(pool, req)
    assert result.outcome == "eligible"
    assert result.per_capita_income_fen == 30000
    assert result.limit_fen_per_capita == 65000                       # Ningxia urban, seed 002
    assert len(result.sources) == 8 and "hrss" in result.sources
    hrss = next(e for e in result.evidence if e["source"] == "hrss")
    assert set(hrss["records"]) == {members[0], members[1]} and hrss["queried"] == members
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM checks WHERE check_id = $1", req.check_id)
    assert row["outcome"] == "eligible" and row["completed_at"] is not None
    assert row["household_income_fen"] == 90000 and row["per_capita_income_fen"] == 30000
    assert [e["source"] for e in row["evidence"]] == result.sources
    assert EconomicCheckResult.model_validate(row["result"]) == result


async def test_a_household_over_the_standard_is_ineligible_naming_the_hrss_source(api: httpx.AsyncClient,
                                                                                  pool: asyncpg.Pool):
    members = household_of_three()
    await seed_wages(api, {members[0]: 140000, members[2]: 70000})    # 2,100 yuan / 3 = 700 yuan per person
    result = await check_economic_status(pool, check_request(members, declared=90000))
    assert result.outcome == "ineligible"
    assert result.per_capita_income_fen == 70000 and result.limit_fen_per_capita == 65000
    assert result.reasons[0].startswith("ineligible: per-capita income 700.00 yuan/month")
    assert any("人力资源和社会保障部门 (hrss)" in r and "2,100.00 yuan" in r for r in result.reasons)
    hrss = next(e for e in result.evidence if e["source"] == "hrss")
    assert hrss["department_zh"] == "人力资源和社会保障部门"
    assert sorted(i["monthly_fen"] for i in hrss["income"]) == [70000, 140000]
    assert hrss["records"][members[0]]["employments"][0]["monthly_wage_fen"] == 140000


async def test_a_second_call_with_the_same_check_id_returns_the_stored_result_and_queries_nothing(
        api: httpx.AsyncClient, pool: asyncpg.Pool):
    members = household_of_three()
    await seed_wages(api, {members[0]: 90000})
    req = check_request(members)
    counting = CountingBackend(LocalReferenceBackend(pool))
    sources = department_sources(counting)  # type: ignore[arg-type]
    first = await check_economic_status(pool, req, sources=sources)
    assert first.outcome == "eligible" and counting.fetches == 8

    await seed_wages(api, {members[0]: 900000})   # the data changes; the check already happened
    again = await check_economic_status(pool, req, sources=sources)
    assert again == first and counting.fetches == 8
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM checks WHERE check_id = $1", req.check_id) == 1


async def test_concurrent_runs_of_one_check_store_and_return_one_result(api: httpx.AsyncClient,
                                                                        pool: asyncpg.Pool):
    members = household_of_three()
    await seed_wages(api, {members[1]: 45000})
    req = check_request(members)
    results = await asyncio.gather(*(check_economic_status(pool, req) for _ in range(4)))
    assert all(r == results[0] for r in results)


async def test_a_check_id_reused_for_another_case_is_refused(pool: asyncpg.Pool):
    members = household_of_three()
    req = check_request(members)
    await check_economic_status(pool, req)
    with pytest.raises(ApplicationError, match="belongs to case") as info:
        await check_economic_status(pool, req.model_copy(update={"case_id": "another-case"}))
    assert info.value.non_retryable


@workflow.defn(name="VerificationProbe", sandboxed=False)
class CheckProbe:
    @workflow.run
    async def run(self, req: EconomicCheckRequest) -> EconomicCheckResult:
        return await workflow.execute_activity(
            CHECK_ECONOMIC_STATUS, req, task_queue=TASK_QUEUE_VERIFICATION,
            start_to_close_timeout=timedelta(seconds=30), result_type=EconomicCheckResult)


async def test_the_activity_runs_on_the_verification_task_queue(api: httpx.AsyncClient, temporal: Client):
    members = household_of_three()
    await seed_wages(api, {members[0]: 210000})
    req = check_request(members)
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal, task_queue=queue, workflows=[CheckProbe],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        result = await temporal.execute_workflow(CheckProbe.run, req, id=f"probe-{req.case_id}", task_queue=queue,
                                                 execution_timeout=timedelta(seconds=60))
    assert result.check_id == req.check_id and result.outcome == "ineligible"
    assert result.per_capita_income_fen == 70000


# ---- documents -----------------------------------------------------------------------------------------

DOCS = {"documents": [{"kind": "explanation", "reference": "scan-0001"},
                      {"kind": "authorisation", "reference": "scan-0002"}],
        "note": "情况说明与核对授权书"}


async def document_count(pool: asyncpg.Pool, case_id: str) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", case_id)


async def test_documents_for_an_unknown_case_answer_404_and_store_nothing(api: httpx.AsyncClient,
                                                                          pool: asyncpg.Pool):
    case_id = f"em-unknown-{uuid.uuid4().hex[:12]}"
    r = await api.post(f"/api/cases/{case_id}/documents", headers=bearer("clerk"), json=DOCS)
    assert r.status_code == 404, r.text
    assert await document_count(pool, case_id) == 0
    r = await api.get(f"/api/cases/{case_id}/documents", headers=bearer("clerk"))
    assert r.status_code == 404


async def test_documents_are_validated_and_need_the_right_role(api: httpx.AsyncClient):
    case_id = f"em-{uuid.uuid4().hex[:12]}"
    r = await api.post(f"/api/cases/{case_id}/documents", headers=bearer("clerk"),
                       json={"documents": [{"kind": "selfie", "reference": "x"}]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "documents", 0, "kind"]
    r = await api.post(f"/api/cases/{case_id}/documents", headers=bearer("clerk"), json={"documents": []})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "documents"]
    r = await api.post(f"/api/cases/{case_id}/documents", headers=bearer("finance"), json=DOCS)
    assert r.status_code == 403


@workflow.defn(name="DocumentsProbe", sandboxed=False)
class DocumentsProbe:
    """Stands in for a case workflow waiting for documents: accepts a submission from the case's
    jurisdiction, rejects any other in its validator."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.region = ""

    @workflow.run
    async def run(self, region: str) -> list[dict[str, Any]]:
        self.region = region
        await workflow.wait_condition(lambda: len(self.received) >= 1)
        return self.received

    @workflow.update
    async def submit_documents(self, arg: dict[str, Any]) -> str:
        self.received.append(arg)
        return f"received {len(arg['documents'])} document(s)"

    @submit_documents.validator
    def _check(self, arg: dict[str, Any]) -> None:
        if not self.region.startswith(arg["region"]):
            raise ValueError(f"region {arg['region']} is not this case's jurisdiction")


async def test_documents_are_kept_only_when_the_workflow_accepts_them(api: httpx.AsyncClient, pool: asyncpg.Pool,
                                                                      temporal: Client):
    case_id = f"em-probe-{uuid.uuid4().hex[:12]}"
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal, task_queue=queue, workflows=[DocumentsProbe],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        handle = await temporal.start_workflow(
            DocumentsProbe.run, YINCHUAN_URBAN, id=case_id, task_queue=queue, execution_timeout=timedelta(seconds=120),
            search_attributes=TypedSearchAttributes([SearchAttributePair(REGION_KEY, YINCHUAN_URBAN)]))
        r = await api.post(f"/api/cases/{case_id}/documents", json=DOCS,
                           headers=bearer("clerk", region="6502", subject="clerk-xinjiang"))
        assert r.status_code == 404, r.text  # another jurisdiction's case is unknown to the caller (OWASP API1)
        assert r.json()["detail"] == f"no case {case_id}"
        assert await document_count(pool, case_id) == 0

        body = {**DOCS, "submission_id": f"sub-{uuid.uuid4().hex}"}
        r = await api.post(f"/api/cases/{case_id}/documents", json=body,
                           headers=bearer("clerk", region="6401", subject="clerk-yinchuan"))
        assert r.status_code == 201, r.text
        accepted = r.json()
        assert accepted["workflow_answer"] == "received 2 document(s)"
        assert [d["kind"] for d in accepted["documents"]] == ["explanation", "authorisation"]
        [arg] = await handle.result()
        assert arg["submitted_by"] == "clerk-yinchuan" and arg["role"] == "clerk" and arg["region"] == "6401"
        assert arg["note"] == DOCS["note"]
        assert [(d["kind"], d["reference"]) for d in arg["documents"]] == [("explanation", "scan-0001"),
                                                                            ("authorisation", "scan-0002")]
        assert [d["document_id"] for d in arg["documents"]] == [d["document_id"] for d in accepted["documents"]]

    # the same submission again is recorded once (and the workflow, now closed, is not asked again)
    r = await api.post(f"/api/cases/{case_id}/documents", json=body, headers=bearer("clerk", region="6401"))
    assert r.status_code == 200 and r.json()["duplicate"] is True
    assert await document_count(pool, case_id) == 2

    listed = await api.get(f"/api/cases/{case_id}/documents", headers=bearer("auditor"))
    assert listed.status_code == 200
    assert [d["reference"] for d in listed.json()["items"]] == ["scan-0001", "scan-0002"]
    assert (await api.get(f"/api/cases/{case_id}/documents", headers=bearer("clerk", region="6401"))).status_code == 200
    assert (await api.get(f"/api/cases/{case_id}/documents", headers=bearer("clerk", region="6502"))).status_code == 403

    # a closed case takes no more documents
    r = await api.post(f"/api/cases/{case_id}/documents", json=DOCS, headers=bearer("clerk", region="6401"))
    assert r.status_code == 409, r.text
    assert "is closed" in r.json()["detail"]
    assert await document_count(pool, case_id) == 2
