"""Sign-in's parts without a stack (services/operations/accounts.py, session.py): argon2 hashes, the
account's validation, the session middleware's place and its CSRF rule on a TestClient over a fake
connection (the real flows run on the embedded stack in tests/integration/test_sign_in.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from pydantic import ValidationError

from services.operations.accounts import AccountIn, hash_password, password_matches
from services.operations.session import FrontDoorApp, SessionCredentials, safe_next, token_digest
from shared.auth import MaskIdsMiddleware, Principal, current_principal, issue_token
from shared.infra.text_guard import RefuseNulMiddleware


async def test_argon2id_hashes_verify_the_password_and_nothing_else() -> None:
    stored = await hash_password("青山绿水-2026")
    assert stored.startswith("$argon2id$") and "青山绿水" not in stored
    assert await password_matches(stored, "青山绿水-2026")
    assert not await password_matches(stored, "青山绿水-2027")
    assert not await password_matches(stored, "")
    assert not await password_matches(None, "anything")  # an OIDC-only account has no password
    assert not await password_matches("not-a-hash", "anything")
    assert stored != await hash_password("青山绿水-2026")  # salted


@pytest.mark.parametrize("bad", [{"role": "service"}, {"role": "king"}, {"region": ""}, {"region": "99"},
                                 {"region": "6403%"}, {"region": "64030"}, {"password": "short"},
                                 {"username": "has space"}, {"username": ""}, {"extra": 1}])
def test_an_account_is_a_person_in_a_jurisdiction(bad: dict[str, Any]) -> None:
    body = {"username": "li.na", "display_name": "李娜", "role": "clerk", "region": "640302",
            "password": "long-enough", **bad}
    with pytest.raises(ValidationError):
        AccountIn.model_validate(body)


def test_every_region_and_no_password_are_accounts_too() -> None:
    account = AccountIn.model_validate({"username": "wang@county", "display_name": "王", "role": "auditor",
                                        "region": "*"})
    assert account.password is None and account.region == "*"


@pytest.mark.parametrize(("asked", "lands"), [
    (None, "/workbench/"), ("/workbench/#/tasks", "/workbench/#/tasks"), ("//evil.example/", "/workbench/"),
    ("https://evil.example/", "/workbench/"), ("/\\evil.example", "/workbench/"), ("", "/workbench/")])
def test_after_sign_in_only_a_path_of_this_site(asked: str | None, lands: str) -> None:
    assert safe_next(asked) == lands


# ---- the middleware ------------------------------------------------------------------------------------

TOKEN, CSRF = "session-token", "csrf-token"


class OneSession:
    """``ops.read()`` yields a connection whose one session (``TOKEN``) belongs to a clerk of 640302."""

    def __init__(self) -> None:
        self.lookups = 0

    @asynccontextmanager
    async def read(self) -> AsyncIterator[OneSession]:
        yield self

    async def fetchrow(self, _: str, digest: str) -> dict[str, Any] | None:
        self.lookups += 1
        if digest != token_digest(TOKEN):
            return None
        return {"username": "li.na", "display_name": "李娜", "role": "clerk", "jurisdiction": "640302",
                "csrf_token": CSRF, "expires_at": datetime.now(UTC) + timedelta(hours=1)}


def app_with_session(ops: OneSession) -> TestClient:
    app = FrontDoorApp()
    app.state.ops = ops

    @app.get("/api/me")
    @app.post("/api/me")
    async def me(request: Request) -> Principal:
        return current_principal(request, None)

    return TestClient(app)


def test_the_session_middleware_sits_just_outside_the_id_masking() -> None:
    app = FrontDoorApp()
    app.add_middleware(MaskIdsMiddleware)
    app.add_middleware(RefuseNulMiddleware)
    app.build_middleware_stack()
    assert [m.cls for m in app.user_middleware] == [RefuseNulMiddleware, SessionCredentials, MaskIdsMiddleware]


def test_a_session_is_the_accounts_principal_and_unsafe_methods_need_the_csrf_token() -> None:
    ops = OneSession()
    http = app_with_session(ops)
    cookies = {"doudi_session": TOKEN, "doudi_csrf": CSRF}
    http.cookies.update(cookies)
    assert http.get("/api/me").json() == {"subject": "li.na", "role": "clerk", "region": "640302",
                                          "person_id": None}
    assert http.post("/api/me", headers={"X-CSRF-Token": CSRF}).status_code == 200
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
        r = http.post("/api/me", headers=headers)
        assert r.status_code == 403 and r.json() == {"detail": "CSRF 校验失败"}
    # the cookie and the header agree but are not the session's own token: refused too
    http.cookies.set("doudi_csrf", "forged")
    assert http.post("/api/me", headers={"X-CSRF-Token": "forged"}).status_code == 403


def test_a_bearer_token_or_no_cookie_is_left_alone_and_an_unknown_session_is_nobody() -> None:
    ops = OneSession()
    http = app_with_session(ops)
    bearer = {"Authorization": f"Bearer {issue_token('someone', 'auditor', region='64')}"}
    http.cookies.update({"doudi_session": TOKEN, "doudi_csrf": CSRF})
    assert http.post("/api/me", headers=bearer).json()["subject"] == "someone"  # no CSRF asked of a bearer
    assert ops.lookups == 0
    http.cookies.clear()
    assert http.get("/api/me").status_code == 401
    http.cookies.set("doudi_session", "ended-or-unknown")
    assert http.get("/api/me").status_code == 401
    assert ops.lookups == 1

