"""The economic status check (家庭经济状况核对), service layer of ``verification.check_economic_status``.

Idempotent by ``check_id``: a completed check is answered from ``checks`` without querying any source.
Otherwise the request is recorded, every department source is asked about every member (all at once),
``rules.assess`` decides, and the result with every source's evidence is stored. Two concurrent runs of
the same check (an activity retried while the first attempt still runs) both query, but the first to
store wins and both return the stored result. A source that fails fails the whole attempt (Temporal
retries it): a check is never decided on part of the data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

import asyncpg
from opentelemetry import trace
from temporalio.exceptions import ApplicationError

from services.verification import rules, store
from services.verification.sources import (
    DepartmentSource,
    LocalReferenceBackend,
    SourceReport,
    department_sources,
)
from shared.contracts.activities import (
    EconomicCheckRequest,
    EconomicCheckResult,
    EventCheckRequest,
    EventCheckResult,
)
from shared.infra.db import unit_of_work
from shared.policy import PolicyLibrary, load_library, standards

SCHEMA = store.SCHEMA

tracer = trace.get_tracer("doudi.verification")

STANDARD_FIGURE = {"urban": "dibao_urban_monthly_fen", "rural": "dibao_rural_monthly_fen"}


class EconomicCheckConflict(ApplicationError):
    """The same check_id was used for another case or person: a caller's bug, never retried."""

    def __init__(self, message: str):
        super().__init__(message, type="EconomicCheckConflict", non_retryable=True)


class InvalidCheckRequest(ApplicationError):
    def __init__(self, message: str):
        super().__init__(message, type="InvalidCheckRequest", non_retryable=True)


def members_of(req: EconomicCheckRequest) -> list[str]:
    """The applicant first, then the other members, each once."""
    return list(dict.fromkeys([req.person_id, *req.member_ids]))


# ---- policy ------------------------------------------------------------------------------------------

def resolve_standard(library: PolicyLibrary, req: EconomicCheckRequest) -> rules.Standard:
    area: Literal["urban", "rural"] = "urban" if req.urban else "rural"
    name = STANDARD_FIGURE[area]
    fig = library.parameter(name, req.region_code, req.business_date)
    # the standard is in force until replaced: name the region of the pack that set it, not whichever
    # pack happens to be in force on the date (Ningxia's 650 yuan in 2024, under the national pack)
    entry = standards.entry(library, name, req.region_code, req.business_date)
    pack = entry.pack if entry is not None else library.pack_for(req.region_code, req.business_date)
    value: int | None = None
    if fig is not None and isinstance(fig.value, int) and not isinstance(fig.value, bool):
        value = fig.value
    return rules.Standard(figure=name, monthly_fen=value, area=area, region_code=req.region_code,
                          on=req.business_date.isoformat(),
                          citation=fig.cite() if fig is not None and value is not None else "",
                          region_name=pack.region_name_en if pack is not None else "")


def resolve_asset_limits(library: PolicyLibrary, req: EconomicCheckRequest) -> rules.AssetLimits:
    """Pack figures where a pack in force sets them, the local-practice constants otherwise."""
    values: dict[str, int] = {
        "asset_max_properties": rules.LOCAL_PRACTICE_MAX_PROPERTIES,
        "asset_vehicle_value_limit_fen": rules.LOCAL_PRACTICE_VEHICLE_VALUE_LIMIT_FEN,
        "asset_financial_months_of_standard": rules.LOCAL_PRACTICE_FINANCIAL_MONTHS,
    }
    basis = dict.fromkeys(values, rules.LOCAL_PRACTICE)
    for name in values:
        fig = library.parameter(name, req.region_code, req.business_date)
        if fig is not None and isinstance(fig.value, int) and not isinstance(fig.value, bool):
            values[name] = fig.value
            basis[name] = f"pack figure, {fig.cite()}"
    return rules.AssetLimits(max_properties=values["asset_max_properties"],
                             vehicle_value_limit_fen=values["asset_vehicle_value_limit_fen"],
                             financial_months_of_standard=values["asset_financial_months_of_standard"],
                             basis=basis)


def resolve_low_income_line(library: PolicyLibrary, req: EconomicCheckRequest) -> tuple[Decimal | None, str]:
    """The low-income (低保边缘) line's multiple of the standard, for a check whose test is that line."""
    if req.income_test != "low_income_line":
        return None, ""
    fig = library.parameter("marginal_line_multiple", req.region_code, req.business_date)
    if fig is None or not isinstance(fig.value, Decimal):
        return None, ""
    return fig.value, fig.cite()


def resolve_employment_cost(library: PolicyLibrary, req: EconomicCheckRequest) -> tuple[Decimal | None, str]:
    fig = library.parameter("employment_cost_deduction_ratio", req.region_code, req.business_date)
    if fig is None or not isinstance(fig.value, Decimal):
        return None, ""
    return fig.value, fig.cite()


# ---- sources -----------------------------------------------------------------------------------------

async def _query(source: DepartmentSource, members: Sequence[str], req: EconomicCheckRequest) -> SourceReport:
    with tracer.start_as_current_span("verification.source", attributes={
        "doudi.source": source.name, "doudi.check_id": req.check_id, "doudi.members": len(members),
    }):
        return await source.query(members, req.business_date)


async def query_sources(sources: Sequence[DepartmentSource], members: Sequence[str],
                        req: EconomicCheckRequest) -> list[SourceReport]:
    return list(await asyncio.gather(*(_query(s, members, req) for s in sources)))


def findings_of(reports: Sequence[SourceReport]) -> rules.Findings:
    return rules.Findings(
        income=tuple(i for r in reports for i in r.income),
        assets=tuple(a for r in reports for a in r.assets),
        expenditure=tuple(e for r in reports for e in r.expenditure),
        flags=tuple(f for r in reports for f in r.flags),
    )


# ---- the check ---------------------------------------------------------------------------------------

def _validate(req: EconomicCheckRequest, library: PolicyLibrary) -> None:
    if req.declared_monthly_income_fen < 0:
        raise InvalidCheckRequest(f"check {req.check_id}: declared_monthly_income_fen is negative")
    if req.household_size < 1:
        raise InvalidCheckRequest(f"check {req.check_id}: household_size must be at least 1")
    try:
        library.pack_for(req.region_code, req.business_date)
    except ValueError as exc:
        raise InvalidCheckRequest(f"check {req.check_id}: {exc}") from None


async def stored_result(conn: store.Conn, req: EconomicCheckRequest) -> EconomicCheckResult | None:
    row = await store.check_row(conn, req.check_id)
    if row is None:
        return None
    if (row["case_id"], row["person_id"]) != (req.case_id, req.person_id):
        raise EconomicCheckConflict(
            f"check {req.check_id} belongs to case {row['case_id']}, not {req.case_id} (or another person)")
    return EconomicCheckResult.model_validate(row["result"]) if row["result"] is not None else None


def assess(library: PolicyLibrary, req: EconomicCheckRequest, members: Sequence[str],
           reports: Sequence[SourceReport]) -> rules.Assessment:
    """The rule applied to what the sources found, with the figures the packs in force set."""
    employment_ratio, employment_cite = resolve_employment_cost(library, req)
    line_multiple, line_cite = resolve_low_income_line(library, req)
    return rules.assess(
        declared_monthly_income_fen=req.declared_monthly_income_fen,
        household_size=req.household_size,
        members_queried=len(members),
        findings=findings_of(reports),
        standard=resolve_standard(library, req),
        asset_limits=resolve_asset_limits(library, req),
        employment_cost_ratio=employment_ratio,
        employment_cost_citation=employment_cite,
        rigid_expenditure_fen=req.rigid_expenditure_fen,
        compare_income=req.compare_income,
        line_multiple=line_multiple,
        line_citation=line_cite,
    )


def result_of(req: EconomicCheckRequest, assessment: rules.Assessment,
              reports: Sequence[SourceReport]) -> EconomicCheckResult:
    return EconomicCheckResult(
        check_id=req.check_id,
        outcome=assessment.outcome,
        per_capita_income_fen=assessment.per_capita_income_fen,
        household_income_fen=max(assessment.declared_income_fen, assessment.verified_income_fen),
        limit_fen_per_capita=assessment.limit_fen_per_capita,
        reasons=list(assessment.reasons),
        evidence=[r.evidence() for r in reports],
        sources=[r.source for r in reports],
    )


async def _store_first(pool: asyncpg.Pool, req: EconomicCheckRequest, result: EconomicCheckResult,
                       assessment: rules.Assessment) -> EconomicCheckResult:
    """Store the result; when a concurrent attempt stored its own first, answer with that one."""
    async with unit_of_work(pool) as conn:
        if await store.complete_check(conn, result, counted_income_fen=assessment.counted_income_fen):
            return result
        first = await stored_result(conn, req)
        assert first is not None
        return first


async def check_economic_status(
    pool: asyncpg.Pool,
    req: EconomicCheckRequest,
    *,
    sources: Sequence[DepartmentSource] | None = None,
    library: PolicyLibrary | None = None,
) -> EconomicCheckResult:
    """Run (or answer again) the check ``req.check_id``. ``sources`` default to every department adapter
    on the local reference data; ``library`` to the shipped policy packs."""
    library = library or load_library()
    _validate(req, library)
    with tracer.start_as_current_span("verification.check_economic_status", attributes={
        "doudi.check_id": req.check_id, "doudi.case_id": req.case_id,
    }) as span:
        async with unit_of_work(pool) as conn:
            done = await stored_result(conn, req)
            if done is not None:
                span.set_attribute("doudi.duplicate", True)
                return done
            await store.record_check_request(conn, req)

        members = members_of(req)
        active = list(sources) if sources is not None else department_sources(LocalReferenceBackend(pool))
        reports = await query_sources(active, members, req)
        assessment = assess(library, req, members, reports)
        result = result_of(req, assessment, reports)
        span.set_attribute("doudi.outcome", result.outcome)
        return await _store_first(pool, req, result, assessment)


def confirm_event(req: EventCheckRequest) -> EventCheckResult:
    """急难: the event test after an assist-first payment (pure: the request carries what was filed)."""
    found = rules.assess_event(trigger=req.trigger, incident_date=req.incident_date.isoformat(),
                               cause_event_id=req.cause_event_id, document_kinds=req.document_kinds,
                               explanation=req.explanation)
    return EventCheckResult(check_id=req.check_id, outcome=found.outcome, reasons=list(found.reasons))
