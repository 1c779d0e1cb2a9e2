"""Signing in at the front door on the real embedded stack (services/operations/session.py, oidc.py,
accounts.py): local accounts with argon2 hashes, the session cookie in place of a bearer token on the
front door's own routes and on forwarded ones (role and jurisdiction from the account), CSRF, sign-out,
a disabled account, the lockout, OIDC against a real provider run by the test, and `doudi users`.

Accounts here act in 640302 (吴忠市利通区), a county no other test uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher

from shared.auth import Role, issue_token
from tests.oidc_provider import Provider, RunningProvider
from tests.support import StackClient, national_id
from tests.support import household as any_household

pytestmark = pytest.mark.stack

COUNTY = "640302"  # 吴忠市利通区
FOREIGN = "640104"  # 银川市兴庆区: outside the accounts' jurisdiction
REPO = Path(__file__).resolve().parents[2]
ADMIN = {"Authorization": f"Bearer {issue_token('signin-admin', Role.admin)}"}
PASSWORD = "青山绿水-2026-sign-in"


def household(person_id: str, *, region: str) -> dict:
    """A one-person household whose birth date is the ID's (digits 7-14)."""
    body = any_household(person_id, region=region)
    body["members"][0]["birth_date"] = f"{person_id[6:10]}-{person_id[10:12]}-{person_id[12:14]}"
    return body


def username(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def add_account(client: StackClient, name: str, role: str = "clerk", region: str = COUNTY,
                      password: str | None = PASSWORD) -> dict:
    body = {"username": name, "display_name": "李娜", "role": role, "region": region}
    if password is not None:
        body["password"] = password
    r = await client.http.post("/api/accounts", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()


async def signed_in(client: StackClient, name: str, password: str = PASSWORD) -> httpx.AsyncClient:
    """A browser-like client (its own cookie jar) that loaded /login and posted the form."""
    browser = httpx.AsyncClient(base_url=client.api_url, timeout=30)
    page = await browser.get("/login")
    assert page.status_code == 200 and "用户名" in page.text and "密码" in page.text
    r = await browser.post("/login", data={"username": name, "password": password,
                                           "csrf": browser.cookies["doudi_csrf"], "next": "/workbench/"})
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/workbench/"
    return browser


def csrf(browser: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": browser.cookies["doudi_csrf"]}


async def test_an_account_is_stored_with_an_argon2_hash_never_the_password(client: StackClient):
    name = username("hash")
    view = await add_account(client, name)
    assert view == {**view, "username": name, "role": "clerk", "region": COUNTY, "disabled": False,
                    "signs_in_with": "password"}
    conn = await asyncpg.connect(client.database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM operations.accounts WHERE username = $1", name)
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    # the same name again is refused; a service role, a bad region and a short password never make one
    again = await client.http.post("/api/accounts", json={"username": name, "display_name": "x", "role": "clerk",
                                                          "region": COUNTY, "password": PASSWORD}, headers=ADMIN)
    assert again.status_code == 409
    for bad in ({"role": "service"}, {"region": "99"}, {"region": "6403%"}, {"password": "short"}):
        body = {"username": username("bad"), "display_name": "x", "role": "clerk", "region": COUNTY,
                "password": PASSWORD, **bad}
        assert (await client.http.post("/api/accounts", json=body, headers=ADMIN)).status_code == 422, bad
    # only a province-wide administrator creates accounts
    regional = {"Authorization": f"Bearer {issue_token('regional-admin', Role.admin, region='64')}"}
    body = {"username": username("x"), "display_name": "x", "role": "clerk", "region": COUNTY, "password": PASSWORD}
    assert (await client.http.post("/api/accounts", json=body, headers=regional)).status_code == 403
    assert (await client.http.post("/api/accounts", json=body, headers=client.clerk)).status_code == 403


async def test_a_session_acts_as_the_account_on_the_front_door_and_forwarded_routes(client: StackClient):
    name = username("clerk")
    await add_account(client, name)
    browser = await signed_in(client, name)
    try:
        cookies = [c for c in browser.cookies.jar]
        session = next(c for c in cookies if c.name == "doudi_session")
        token_cookie = next(c for c in cookies if c.name == "doudi_csrf")
        assert session.path == "/" and session.has_nonstandard_attr("HttpOnly")
        assert not token_cookie.has_nonstandard_attr("HttpOnly")  # the page's script reads it
        set_cookies = " ".join((await _login_headers(client, name)).get_list("set-cookie"))
        assert "doudi_session=" in set_cookies and "HttpOnly" in set_cookies and "SameSite=strict" in set_cookies

        # the front door's own route: the principal is the account's
        me = await browser.get("/api/me")
        assert me.status_code == 200, me.text
        assert me.json() == {"subject": name, "role": "clerk", "region": COUNTY, "person_id": None}
        mine = await browser.get("/api/accounts/me")
        assert mine.json()["display_name"] == "李娜"
        conn = await asyncpg.connect(client.database_url)
        try:  # each sign-in is in the audit log
            signed = await conn.fetch("SELECT role, detail->>'via' AS via FROM operations.audit_log WHERE actor = $1"
                                      " AND action = 'session.open'", name)
        finally:
            await conn.close()
        assert [(r["role"], r["via"]) for r in signed] == [("clerk", "password")] * 2

        # a forwarded route (intake): a household in the account's county is registered...
        pid = national_id(COUNTY)
        body = household(pid, region=COUNTY)
        r = await browser.post("/api/households", json=body, headers=csrf(browser))
        assert r.status_code == 200, r.text
        assert (await browser.get(f"/api/households/{body['household_id']}")).json()["members"][0]["person_id"] == pid
        # ...one in another county is outside the jurisdiction, and another county's household is unknown
        foreign = household(national_id(FOREIGN), region=FOREIGN)
        r = await browser.post("/api/households", json=foreign, headers=csrf(browser))
        assert r.status_code == 403, r.text
        await client.register(foreign)
        assert (await browser.get(f"/api/households/{foreign['household_id']}")).status_code == 404

        # an unsafe request without the CSRF header, or with another value, is refused before any route
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            r = await browser.post("/api/households", json=household(national_id(COUNTY), region=COUNTY),
                                   headers=headers)
            assert r.status_code == 403 and r.json()["detail"] == "CSRF 校验失败", r.text
        # a bearer token keeps working as before, whatever cookie comes with it
        r = await browser.get("/api/me", headers=client.clerk)
        assert r.json()["subject"] == "test-clerk"

        # signing out ends the session: the same cookie is nobody
        old = browser.cookies["doudi_session"]
        assert (await browser.post("/logout", headers=csrf(browser))).status_code == 303
        assert (await browser.get("/api/me")).status_code == 401
        async with httpx.AsyncClient(base_url=client.api_url, cookies={"doudi_session": old}) as replay:
            assert (await replay.get("/api/me")).status_code == 401
    finally:
        await browser.aclose()


async def _login_headers(client: StackClient, name: str) -> httpx.Headers:
    async with httpx.AsyncClient(base_url=client.api_url, timeout=30) as other:
        await other.get("/login")
        r = await other.post("/login", data={"username": name, "password": PASSWORD,
                                             "csrf": other.cookies["doudi_csrf"]})
        assert r.status_code == 303
        return r.headers


async def test_a_disabled_accounts_session_stops_working(client: StackClient):
    name = username("gone")
    await add_account(client, name)
    browser = await signed_in(client, name)
    try:
        assert (await browser.get("/api/me")).status_code == 200
        r = await client.http.post(f"/api/accounts/{name}/disable", headers=ADMIN)
        assert r.status_code == 200 and r.json()["disabled"] is True
        assert (await browser.get("/api/me")).status_code == 401
        # and it cannot sign in again (the same generic error as a wrong password)
        async with httpx.AsyncClient(base_url=client.api_url, timeout=30) as again:
            await again.get("/login")
            r = await again.post("/login", data={"username": name, "password": PASSWORD,
                                                 "csrf": again.cookies["doudi_csrf"]})
            assert r.status_code == 401 and "用户名或密码错误" in r.text
    finally:
        await browser.aclose()


async def test_wrong_passwords_get_one_generic_error_then_a_lockout(client: StackClient):
    name = username("locked")
    await add_account(client, name)
    async with httpx.AsyncClient(base_url=client.api_url, timeout=30) as browser:
        await browser.get("/login")
        form = {"csrf": browser.cookies["doudi_csrf"]}
        unknown = await browser.post("/login", data={**form, "username": username("nobody"), "password": PASSWORD})
        assert unknown.status_code == 401 and "用户名或密码错误" in unknown.text
        # the login form's own token: a post without it (a forged cross-site form) is refused
        assert (await browser.post("/login", data={"username": name, "password": PASSWORD})).status_code == 403
        for _ in range(5):  # sign_in_max_failures (local practice: 5)
            r = await browser.post("/login", data={**form, "username": name, "password": "wrong-password"})
            assert r.status_code == 401 and "用户名或密码错误" in r.text
        # locked: even the right password is refused now, and no session is opened
        r = await browser.post("/login", data={**form, "username": name, "password": PASSWORD})
        assert r.status_code == 429 and "锁定" in r.text
        assert "doudi_session" not in browser.cookies


async def test_oidc_sign_in_opens_a_session_of_the_local_account(client: StackClient):
    name = username("oidc")
    await add_account(client, name, role="county_approver", password=None)
    with RunningProvider(Provider()) as provider:
        async with httpx.AsyncClient(base_url=client.api_url, timeout=30, follow_redirects=True) as browser:
            provider.signs_in = name
            r = await browser.get("/auth/oidc/login")
            assert r.status_code == 200 and "登录成功" in r.text, r.text
            assert provider.issued and provider.issued[-1]["aud"] == provider.client_id
            me = await browser.get("/api/me")
            assert me.json() == {"subject": name, "role": "county_approver", "region": COUNTY, "person_id": None}

        # a person the provider knows but doudi has no account for is refused
        async with httpx.AsyncClient(base_url=client.api_url, timeout=30, follow_redirects=True) as browser:
            provider.signs_in = username("stranger")
            r = await browser.get("/auth/oidc/login")
            assert r.status_code == 403 and "没有可用的本系统账号" in r.text
            assert "doudi_session" not in browser.cookies

        # a callback replayed (the state already used) or from another browser opens nothing
        async with httpx.AsyncClient(base_url=client.api_url, timeout=30) as browser:
            provider.signs_in = name
            to_provider = await browser.get("/auth/oidc/login")
            back = await browser.get(to_provider.headers["location"])
            callback = back.headers["location"]
            async with httpx.AsyncClient(timeout=30) as other_browser:
                assert (await other_browser.get(callback)).status_code == 400
            assert (await browser.get(callback)).status_code == 200
            assert (await browser.get(callback)).status_code == 400  # single use

        # an ID token signed by another key is refused
        async with httpx.AsyncClient(base_url=client.api_url, timeout=30, follow_redirects=True) as browser:
            genuine = provider.signing_key
            provider.signing_key = Provider().signing_key  # same kid, another key: the signature fails
            try:
                r = await browser.get("/auth/oidc/login")
            finally:
                provider.signing_key = genuine
            assert r.status_code == 401 and "doudi_session" not in browser.cookies

        # a disabled account signs in through the provider no more
        assert (await client.http.post(f"/api/accounts/{name}/disable", headers=ADMIN)).status_code == 200
        async with httpx.AsyncClient(base_url=client.api_url, timeout=30, follow_redirects=True) as browser:
            provider.signs_in = name
            r = await browser.get("/auth/oidc/login")
            assert r.status_code == 403 and "doudi_session" not in browser.cookies


def _doudi(*args: str, api_url: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOUDI_API_URL": api_url, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "deploy.cli", "users", *args], cwd=REPO, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


async def test_doudi_users_add_list_disable(client: StackClient):
    name = username("cli")
    person = national_id("110105")
    added = _doudi("add", name, "--role", "county_approver", "--region", COUNTY, "--name", "王芳",
                   "--person-id", person, "--password-stdin", api_url=client.api_url, stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "registered in the officials registry" in added.stdout
    official = await client.http.get(f"/api/officials/{name}", headers=ADMIN)
    assert official.status_code == 200
    assert official.json()["roles"] == ["county_approver"] and official.json()["jurisdiction"] == COUNTY

    browser = await signed_in(client, name)
    try:
        assert (await browser.get("/api/me")).json()["role"] == "county_approver"
        listed = _doudi("list", api_url=client.api_url)
        assert listed.returncode == 0 and name in listed.stdout and "王芳" in listed.stdout
        disabled = _doudi("disable", name, api_url=client.api_url)
        assert disabled.returncode == 0, disabled.stderr
        assert (await browser.get("/api/me")).status_code == 401
    finally:
        await browser.aclose()

    # one-line refusals, no traceback
    for args, stdin in ((("add", username("x"), "--role", "county_approver", "--region", COUNTY), ""),
                        (("add", username("x"), "--role", "clerk", "--region", "99", "--password-stdin"), PASSWORD),
                        (("add", name, "--role", "clerk", "--region", COUNTY, "--password-stdin"), PASSWORD + "\n"),
                        (("disable", username("nobody")), "")):
        out = _doudi(*args, api_url=client.api_url, stdin=stdin)
        assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
