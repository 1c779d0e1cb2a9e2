"""The CLI's one way to the HTTP API: the front door's URL (``DOUDI_API_URL``, default the embedded
stack's API port from ``shared/services.py``) and a bearer token (``DOUDI_TOKEN``, or in the embedded
default only a development token of the role the command needs)."""

from __future__ import annotations

import os

import httpx
import typer

from shared.services import API_PORT


def base_url() -> str:
    return os.environ.get("DOUDI_API_URL", f"http://127.0.0.1:{API_PORT}").rstrip("/")


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
    return httpx.Client(base_url=base_url(), timeout=timeout,
                        headers={"Authorization": f"Bearer {bearer_token(role, subject, ttl_s)}"})
