"""Document tracking: the ID card and check authorisation (一证一书) and the explanation and papers that
follow an assist-first payment (先行救助，后补齐说明).

A submission is recorded and handed to the case's workflow as the Temporal update ``submit_documents``
in one transaction: the rows commit only after the workflow accepted the update; a rejection (the
validator: wrong jurisdiction, case not waiting for documents), an unknown case or a workflow that does
not answer rolls them back. The submission id is also the update id: a client that retries a submission
with the same ``submission_id`` (after a timeout, say) gets one update and one set of rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import asyncpg
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from services.verification import store
from shared.auth import Principal
from shared.infra.case_updates import signatory, signed
from shared.infra.db import unit_of_work
from workflows.emergency_relief.inputs import DocumentsSubmitted
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow

REGION_KEY = SearchAttributeKey.for_keyword("DoudiRegion")
UPDATE_TIMEOUT_S = 30.0


class DocumentKind(StrEnum):
    explanation = "explanation"                      # 情况说明 (the supplementary explanation)
    id_card = "id_card"                              # 身份证件
    authorisation = "authorisation"                  # 经济状况信息核对授权书
    hospital_record = "hospital_record"              # 病历 / 住院证明
    quarantine_notice = "quarantine_notice"          # 隔离通知书
    disaster_certificate = "disaster_certificate"    # 受灾证明
    other = "other"


def _storable(value: str) -> str:
    """PostgreSQL text holds neither NUL nor a lone surrogate: refused here (422), not at the insert (500)."""
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("must not contain NUL characters or lone surrogates")
    return value


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DocumentKind
    reference: str = Field(min_length=1, max_length=500,
                           description="where the document is: scan id, file reference, registry number")

    @field_validator("reference")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = _storable(value).strip()
        if not value:
            raise ValueError("reference must not be blank")
        return value


class DocumentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {
            "documents": [{"kind": "quarantine_notice", "reference": "兴庆区疾控隔离通知书 2022-0810-17"}],
            "note": "", "submission_id": "sub-20261201-01",
        },
    ]})

    documents: list[DocumentIn] = Field(min_length=1, max_length=50)
    note: Annotated[str, AfterValidator(_storable)] = Field(default="", max_length=4000)
    submission_id: str | None = Field(
        default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="optional idempotency key: retrying with the same id records the submission once")


class DocumentView(BaseModel):
    document_id: str
    submission_id: str
    case_id: str
    kind: str
    reference: str
    note: str
    received_at: datetime
    received_by: str
    received_role: str


# the example the OpenAPI document shows (validated against the model by tests/unit/test_openapi_examples.py)
_DOCUMENT_EXAMPLE: dict[str, Any] = {
    "document_id": "doc-1", "submission_id": "sub-20261201-01", "case_id": "em-7f3c2a91", "kind": "quarantine_notice",
    "reference": "兴庆区疾控隔离通知书 2022-0810-17", "note": "", "received_at": "2026-12-01T08:30:00+08:00",
    "received_by": "li.caseworker", "received_role": "clerk",
}


class DocumentsAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "case_id": "em-7f3c2a91", "submission_id": "sub-20261201-01", "documents": [_DOCUMENT_EXAMPLE],
            "duplicate": False, "workflow_answer": "documents received",
        },
    ]})

    case_id: str
    submission_id: str
    documents: list[DocumentView]
    duplicate: bool = False
    workflow_answer: Any = None


class DocumentList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"case_id": "em-7f3c2a91", "items": [_DOCUMENT_EXAMPLE]},
    ]})

    case_id: str
    items: list[DocumentView]


class CaseNotFound(LookupError):
    pass


class SubmissionRejected(Exception):
    """The case's workflow refused the update (or the submission id belongs to another case)."""


class CaseNotAnswering(Exception):
    """The workflow did not accept or reject the update in time; nothing was recorded."""


def document_id_for(submission_id: str, index: int) -> str:
    """Stable per submission and position; sorts in submission order (documents share received_at)."""
    return f"doc-{hashlib.sha256(submission_id.encode()).hexdigest()[:24]}-{index:02d}"


def _view(row: asyncpg.Record) -> DocumentView:
    return DocumentView(**dict(row))


def _not_found(exc: RPCError) -> bool:
    return exc.status == RPCStatusCode.NOT_FOUND


class DocumentService:
    def __init__(self, pool: asyncpg.Pool, temporal: Client, *, update_timeout_s: float = UPDATE_TIMEOUT_S):
        self._pool = pool
        self._temporal = temporal
        self._timeout = update_timeout_s

    async def submit(self, case_id: str, body: DocumentsIn, principal: Principal) -> DocumentsAccepted:
        submission_id = body.submission_id or f"sub-{uuid.uuid4().hex}"
        async with unit_of_work(self._pool) as conn:
            earlier = await store.submission_documents(conn, submission_id)
            if earlier:
                return self._duplicate(case_id, submission_id, earlier)
            rows = []
            for i, doc in enumerate(body.documents):
                row = await store.insert_document(
                    conn, document_id=document_id_for(submission_id, i), submission_id=submission_id,
                    case_id=case_id, kind=doc.kind.value, reference=doc.reference, note=body.note,
                    received_by=principal.subject, received_role=principal.role.value)
                if row is None:  # the same submission was committed meanwhile by a concurrent request
                    meanwhile = await store.submission_documents(conn, submission_id)
                    return self._duplicate(case_id, submission_id, meanwhile)
                rows.append(row)
            documents = DocumentsSubmitted(
                submitted_by=principal.subject, role=principal.role.value, region=principal.region,
                documents=[{"kind": r["kind"], "reference": r["reference"], "document_id": r["document_id"]}
                           for r in rows], note=body.note)
            # signed for the workflow: who submits, for this case and these documents (shared/assertions.py)
            arg = signed(case_id, EmergencyReliefWorkflow.submit_documents, documents, signatory(principal))
            answer = await self._send(case_id, submission_id, arg)  # raises: the rows roll back
        return DocumentsAccepted(case_id=case_id, submission_id=submission_id,
                                 documents=[_view(r) for r in rows], workflow_answer=answer)

    async def _send(self, case_id: str, submission_id: str, arg: DocumentsSubmitted) -> str:
        handle = self._temporal.get_workflow_handle(case_id)
        try:
            update = handle.execute_update(EmergencyReliefWorkflow.submit_documents, arg, id=submission_id)
            return await asyncio.wait_for(update, timeout=self._timeout)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise SubmissionRejected(getattr(cause, "message", None) or str(cause) or str(exc)) from None
        except RPCError as exc:
            if _not_found(exc):
                if "completed" in exc.message.lower() or "closed" in exc.message.lower():
                    raise SubmissionRejected(f"case {case_id} is closed: {exc.message}") from None
                raise CaseNotFound(f"no case {case_id}") from None
            raise CaseNotAnswering(f"the workflow service is unavailable ({exc.message}); nothing was "
                                   f"recorded. Retry with submission_id {submission_id}") from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise CaseNotAnswering(
                f"case {case_id} did not answer within {self._timeout:.0f}s; nothing was recorded. "
                f"Retry with submission_id {submission_id} to submit the same documents once") from None

    @staticmethod
    def _duplicate(case_id: str, submission_id: str, rows: list[asyncpg.Record]) -> DocumentsAccepted:
        if any(r["case_id"] != case_id for r in rows):
            raise SubmissionRejected(f"submission {submission_id} was made for another case")
        return DocumentsAccepted(case_id=case_id, submission_id=submission_id,
                                 documents=[_view(r) for r in rows], duplicate=True)

    async def list(self, case_id: str) -> list[DocumentView]:
        async with self._pool.acquire() as conn:
            rows = await store.case_documents(conn, case_id)
        return [_view(r) for r in rows]

    async def case_region(self, case_id: str) -> str | None:
        """The case's region (the workflow's DoudiRegion search attribute); CaseNotFound if no workflow."""
        try:
            desc = await self._temporal.get_workflow_handle(case_id).describe()
        except RPCError as exc:
            if _not_found(exc):
                raise CaseNotFound(f"no case {case_id}") from None
            raise
        return desc.typed_search_attributes.get(REGION_KEY)
