"""The caseworker's workbench (待办工作台) at ``/workbench/``: the pages a clerk, an approver, the committee,
finance and an administrator act from, in Chinese (English on demand).

The page is static (``static/workbench.html`` and its modules ``workbench*.js``, ``money.js``); every
action it offers is a form posting to the routes the services already own (``/api/tasks``,
``/api/cases/{id}/decisions``, ``/escalate``, ``/assessment``, ``/documents``, ``/api/applications``,
``/api/households``, ``/api/reserves/...``, ``/api/batches/...``, ``/api/admin/dlq/...``,
``/api/cases/{id}/replay``; the office's duties in ``workbench-duties.js``: ``/api/cases/{id}/appeals`` and
``/appeals/decision``, ``/api/complaints`` and ``/answer``, ``/api/cases/{id}/objections``,
``/api/public-notices``, ``/api/cases/{id}/referrals``, ``/api/referrals``, ``/api/care-recipients``,
``/api/care-visits``), with the signed-in session (cookie ``doudi_session``, header
``X-CSRF-Token``) or, as a fallback, a pasted bearer token. Amounts are typed in yuan and turned into
integer fen by one function (``static/money.js``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse


def install(app: FastAPI, *, static: Path, headers: Mapping[str, str]) -> None:
    """Serve the workbench page on the operations app with the dashboard's page headers (its CSP: own
    scripts only, own origin only); its scripts are under ``/static``."""
    pages = APIRouter(include_in_schema=False)

    @pages.get("/workbench")
    async def workbench_bare() -> RedirectResponse:
        return RedirectResponse("/workbench/", status_code=308)

    @pages.get("/workbench/")
    async def workbench() -> FileResponse:
        return FileResponse(static / "workbench.html", media_type="text/html; charset=utf-8", headers=dict(headers))

    app.include_router(pages)
