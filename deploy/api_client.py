"""The CLI's one way to the HTTP API: the front door's URL and a bearer token (``DOUDI_TOKEN``, or in the
embedded default only a development token of the role the command needs).

The URL is, first found: ``doudi --api-url``, ``DOUDI_API_URL``, the ``endpoints.json`` that `doudi up`
wrote into ``DOUDI_DATA_DIR`` (default ``.data``; deploy/endpoints.py), the embedded default's API port.
Every request has a bounded timeout; an unreachable stack or an error answer is one line (deploy/cli_errors.py).
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer

from deploy.endpoints import read_endpoints
from shared.services import API_PORT

CONNECT_TIMEOUT_S = 5.0
_chosen_url = ""  # `doudi --api-url` (the root callback sets it for the command it runs)


def choose_api_url(url: str) -> None:
    global _chosen_url
    _chosen_url = url


class ApiError(Exception):
    """The API refused a request: its status and its ``detail`` in one line."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status} {detail}")
        self.status = status
        self.detail = detail


def base_url() -> str:
    chosen = _chosen_url or os.environ.get("DOUDI_API_URL")
    if not chosen:
        running = read_endpoints()
        chosen = running.api_url if running else f"http://127.0.0.1:{API_PORT}"
    return str(chosen).rstrip("/")


def bearer_token(role: str, subject: str, ttl_s: int | None = None) -> str:
    token = os.environ.get("DOUDI_TOKEN")
    if token:
        return token
    from shared.auth import issue_token
    from shared.config import get_settings

    if get_settings().env == "production":
        raise typer.BadParameter(f"set DOUDI_TOKEN to a {role} token (development tokens exist only in the "
                                 "embedded default)")
    return issue_token(subject, role) if ttl_s is None else issue_token(subject, role, ttl_s=ttl_s)


def api_client(role: str, subject: str, *, timeout: float = 30.0, ttl_s: int | None = None) -> httpx.Client:
    """``timeout``: for an answer; connecting is bounded by CONNECT_TIMEOUT_S whatever the command."""
    return httpx.Client(base_url=base_url(), timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S),
                        headers={"Authorization": f"Bearer {bearer_token(role, subject, ttl_s)}"})


def describe_detail(detail: Any) -> str:
    """A FastAPI ``detail`` in one line: a string as it is; validation errors as ``field: message; ...``."""
    if isinstance(detail, list):
        return "; ".join(_describe_error(e) for e in detail) or "refused"
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("msg") or detail)
    return str(detail)


def _describe_error(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", error))


def answer(response: httpx.Response) -> Any:
    """The JSON of a successful answer; an error answer raises ``ApiError`` with the server's detail."""
    if response.status_code >= 400:
        try:
            detail = describe_detail(response.json().get("detail", response.text))
        except (ValueError, AttributeError):
            detail = response.text or response.reason_phrase
        raise ApiError(response.status_code, " ".join(detail.split()))
    return response.json()
