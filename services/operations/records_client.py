"""The front door's reads of other services for the office's records (家庭档案, exports): over HTTP with a
short-lived service token that carries the asking official's own jurisdiction, so intake and payment
apply it at the source (``shared/infra/service_reads.py``); the caller's to-do list with the caller's own
credentials. No other schema is read (docs/architecture.md, Stores)."""

from __future__ import annotations

import csv
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from fastapi import HTTPException
from pydantic import BaseModel

from shared.auth import EVERY_REGION, Principal, Role, issue_token

TIMEOUT = httpx.Timeout(60.0, connect=5.0)
STREAM_TIMEOUT = httpx.Timeout(600.0, connect=10.0)  # a province's month streams for minutes
M = TypeVar("M", bound=BaseModel)


class Task(BaseModel):
    """An open step of the caller's inbox, as approval answers ``GET /api/tasks``."""

    task_id: str
    case_id: str
    pathway: str
    kind: str
    role: str
    region_code: str
    amount_fen: int | None
    summary: str
    due_at: datetime | None
    opened_at: datetime
    overdue: bool


class RecordsUnavailable(HTTPException):
    """A service the record needs did not answer: 503, never a partial record."""

    def __init__(self, what: str, detail: str):
        super().__init__(503, f"{what} 暂不可用 / unavailable: {detail}")


class RecordsClient:
    def __init__(self, *, intake_url: str, payment_url: str, approval_url: str):
        self.intake_url = intake_url.rstrip("/")
        self.payment_url = payment_url.rstrip("/")
        self.approval_url = approval_url.rstrip("/")

    @staticmethod
    def _service_headers(principal: Principal) -> dict[str, str]:
        token = issue_token("svc-operations", Role.service, region=principal.region or EVERY_REGION, ttl_s=900)
        return {"Authorization": f"Bearer {token}"}

    async def get_json(self, url: str, principal: Principal, what: str, *, params: Any = None,
                       missing_ok: bool = False) -> Any:
        """The JSON answer; None for a 404 when ``missing_ok``; 503 when the service fails."""
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                r = await http.get(url, params=params, headers=self._service_headers(principal))
        except httpx.HTTPError as exc:
            raise RecordsUnavailable(what, repr(exc)) from exc
        if r.status_code == 404 and missing_ok:
            return None
        if r.status_code != 200:
            raise RecordsUnavailable(what, f"{r.status_code} {r.text[:200]}")
        return r.json()

    async def typed(self, model: type[M], url: str, principal: Principal, what: str, **kw: Any) -> M | None:
        found = await self.get_json(url, principal, what, missing_ok=True, **kw)
        return None if found is None else model.model_validate(found)

    async def typed_list(self, model: type[M], url: str, principal: Principal, what: str, **kw: Any) -> list[M]:
        return [model.model_validate(item) for item in await self.get_json(url, principal, what, **kw)]

    def household_url(self, household_id: str) -> str:
        return f"{self.intake_url}/api/households/{quote(household_id, safe='')}"

    def enrolment_url(self, household_id: str) -> str:
        return f"{self.intake_url}/api/enrolments/{quote(household_id, safe='')}"

    def ledger_url(self, household_id: str) -> str:
        return f"{self.payment_url}/api/ledger/households/{quote(household_id, safe='')}"

    @asynccontextmanager
    async def stream_csv(self, url: str, principal: Principal, what: str,
                         params: dict[str, str]) -> AsyncIterator[AsyncIterator[str]]:
        """The lines of a streamed CSV export (its header first), as they arrive."""
        try:
            async with httpx.AsyncClient(timeout=STREAM_TIMEOUT) as http, http.stream(
                    "GET", url, params=params, headers=self._service_headers(principal)) as resp:
                if resp.status_code != 200:
                    body = (await resp.aread()).decode(errors="replace")[:200]
                    raise RecordsUnavailable(what, f"{resp.status_code} {body}")
                yield resp.aiter_lines()
        except httpx.HTTPError as exc:
            raise RecordsUnavailable(what, repr(exc)) from exc

    async def rows(self, model: type[M], url: str, principal: Principal, what: str,
                   params: dict[str, str]) -> AsyncGenerator[M, None]:
        """A service's streamed CSV export, line by line as it arrives, each line read as ``model``."""
        async with self.stream_csv(url, principal, what, params) as lines:
            header: list[str] | None = None
            async for line in lines:
                if not line:
                    continue
                values = next(csv.reader([line]))
                if header is None:
                    header = values
                    continue
                yield model.model_validate(dict(zip(header, values, strict=True)))

    async def tasks(self, authorization: str, what: str) -> list[Task]:
        """The caller's own inbox (approval answers it for the caller's role and jurisdiction)."""
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                r = await http.get(f"{self.approval_url}/api/tasks", headers={"Authorization": authorization})
        except httpx.HTTPError as exc:
            raise RecordsUnavailable(what, repr(exc)) from exc
        if r.status_code != 200:
            raise RecordsUnavailable(what, f"{r.status_code} {r.text[:200]}")
        return [Task.model_validate(t) for t in r.json()]
