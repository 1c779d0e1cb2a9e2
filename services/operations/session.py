"""Signing in at the front door (登录): a browser session in place of a pasted bearer token.

- ``GET /login``: a small Chinese page (username, password); ``POST /login`` (form) opens a session;
  ``POST /logout`` ends it. OIDC sign-in (``services/operations/oidc.py``) opens the same kind of session.
- The session is a row in ``operations.sessions`` (server-side), named by a random token in the cookie
  ``doudi_session`` (HttpOnly, SameSite=Strict, Path=/) of which only the SHA-256 is kept. Server-side
  rather than a signed cookie because it must end at once when the person signs out or an administrator
  disables the account (every request joins the account), which no self-contained cookie can do.
- ``doudi_csrf`` (readable by the page's script) holds the session's CSRF token: an unsafe request
  (POST/PUT/PATCH/DELETE) signed in by cookie must carry it in ``X-CSRF-Token``, else 403 「CSRF 校验失败」
  (double submit, compared with the session's own copy too).
- ``SessionCredentials`` (ASGI) turns a live session into the principal a bearer token gives: it mints a
  short-lived token (``shared.auth.issue_token``: the account's username, role and jurisdiction) into the
  request's ``Authorization`` header, so the front door's routes, the masking of IDs and every service the
  front door forwards to see exactly what they see for a bearer token. A request that brings its own
  ``Authorization`` header is left as it is (bearer tokens work unchanged).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
from datetime import UTC, datetime, timedelta
from http.cookies import CookieError, SimpleCookie
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware import Middleware

from services.operations import store_accounts
from services.operations.accounts import SignInRefused, check_password
from services.operations.store import OperationsStore
from services.operations.store_accounts import AccountRow
from shared.auth import MaskIdsMiddleware, Principal, Role, issue_token
from shared.config import Settings
from shared.infra.asgi import HttpMiddleware

log = logging.getLogger(__name__)

SESSION_COOKIE = "doudi_session"
CSRF_COOKIE = "doudi_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_REFUSED = "CSRF 校验失败"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# the minted bearer token lives only for the one request it is put on
MINTED_TOKEN_TTL_S = 120
HOME = "/workbench/"  # where a signed-in person lands (the workbench, services/operations/static)
# the sign-in routes check their own form's token; static files need no principal; the machines' endpoints
# (agencies' events with their NATS credentials, the Temporal UI's codec with a bearer token) take no session
SELF_CHECKED = frozenset({"/login", "/logout"})
NO_SESSION_PREFIXES = ("/static/", "/auth/oidc/", "/codec/", "/events")

router = APIRouter()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def ops_of(request: Request) -> OperationsStore:
    ops: OperationsStore = request.app.state.ops
    return ops


def secure_cookies(settings: Settings) -> bool:
    return settings.session_cookie_secure if settings.session_cookie_secure is not None \
        else settings.env == "production"


async def open_session(ops: OperationsStore, settings: Settings, account: AccountRow, via: str,
                       response: Response) -> None:
    """A new session for ``account``; its cookies set on ``response``; the sign-in in the audit log."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    lifetime = timedelta(hours=settings.session_hours)
    async with ops.transaction() as conn:
        await store_accounts.open_session(conn, token_sha256=token_digest(token), username=account.username,
                                          csrf_token=csrf, via=via, expires_at=datetime.now(UTC) + lifetime)
    who = Principal(subject=account.username, role=Role(account.role), region=account.jurisdiction)
    await ops.audit(who, "session.open", None, f"signed in ({via})", {"via": via})
    secure, max_age = secure_cookies(settings), int(lifetime.total_seconds())
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/", secure=secure, httponly=True,
                        samesite="strict")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, path="/", secure=secure, httponly=False,
                        samesite="strict")


def clear_cookies(response: Response) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="strict")


def same_token(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


# ---- the page -------------------------------------------------------------------------------------------

LOGIN_PAGE_HEADERS = {  # no script at all; the inline style only
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                "base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>登录 · 兜底 doudi</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;background:#f4f6f8;margin:0}}
main{{max-width:360px;margin:12vh auto;background:#fff;padding:32px;border-radius:8px;
box-shadow:0 1px 4px rgba(0,0,0,.12)}}
h1{{font-size:22px;margin:0 0 4px}} p.sub{{color:#5b6670;margin:0 0 20px}}
label{{display:block;margin:14px 0 4px}} input{{width:100%;box-sizing:border-box;padding:8px;font-size:16px}}
button{{margin-top:20px;width:100%;padding:10px;font-size:16px;background:#b71c1c;color:#fff;border:0;
border-radius:4px}} .error{{color:#b71c1c;background:#fdecea;padding:8px;border-radius:4px}}
a{{display:block;margin-top:16px;text-align:center}}
</style></head>
<body><main>
<h1>兜底 · 困难群众基本生活保障</h1><p class="sub">工作人员登录</p>
{error}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="next" value="{next}">
<label for="username">用户名</label><input id="username" name="username" autocomplete="username" required
 value="{username}">
<label for="password">密码</label><input id="password" name="password" type="password"
 autocomplete="current-password" required>
<button type="submit">登录</button>
</form>
{oidc}
</main></body></html>
"""


def safe_next(value: str | None) -> str:
    """Only a path of this site (never ``//host`` or a scheme): no open redirect."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return HOME


def login_page(request: Request, *, error: str = "", username: str = "", next_path: str = HOME,
               status: int = 200) -> HTMLResponse:
    """The form, with the pre-session CSRF token it posts back (double submit: field and cookie)."""
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    oidc = ('<a href="/auth/oidc/login">使用统一身份认证登录</a>'
            if settings_of(request).oidc_issuer else "")
    page = _PAGE.format(error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
                        csrf=html.escape(csrf), next=html.escape(next_path), username=html.escape(username),
                        oidc=oidc)
    response = HTMLResponse(page, status_code=status, headers=LOGIN_PAGE_HEADERS)
    response.set_cookie(CSRF_COOKIE, csrf, path="/", secure=secure_cookies(settings_of(request)),
                        httponly=False, samesite="strict")
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def get_login(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query's name
    return login_page(request, next_path=safe_next(next))


@router.post("/login", include_in_schema=False)
async def post_login(request: Request, username: Annotated[str, Form(max_length=64)],
                     password: Annotated[str, Form(max_length=256)],
                     csrf: Annotated[str, Form(max_length=100)] = "",
                     next: Annotated[str, Form(max_length=500)] = HOME) -> Response:  # noqa: A002
    if not same_token(csrf, request.cookies.get(CSRF_COOKIE)):
        return login_page(request, error="页面已过期，请重新登录", username=username, status=403)
    settings, ops = settings_of(request), ops_of(request)
    try:
        account = await check_password(ops, settings, username, password)
    except SignInRefused as refused:
        return login_page(request, error=str(refused), username=username, next_path=safe_next(next),
                          status=refused.status)
    response = RedirectResponse(safe_next(next), status_code=303)
    await open_session(ops, settings, account, "password", response)
    return response


@router.post("/logout", include_in_schema=False)
async def post_logout(request: Request) -> Response:
    """Ends the session. Its CSRF token comes as ``X-CSRF-Token`` (script) or the form field ``csrf``."""
    token = request.cookies.get(SESSION_COOKIE)
    offered = request.headers.get(CSRF_HEADER)
    if offered is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        offered = str((await request.form()).get("csrf") or "")
    if token:
        ops = ops_of(request)
        async with ops.read() as conn:
            live = await store_accounts.live_session(conn, token_digest(token))
        if live is not None and not (same_token(offered, request.cookies.get(CSRF_COOKIE))
                                     and same_token(offered, live.csrf_token)):
            return JSONResponse({"detail": CSRF_REFUSED}, status_code=403)
        async with ops.transaction() as conn:
            await store_accounts.end_session(conn, token_digest(token))
    response = RedirectResponse("/login", status_code=303)
    clear_cookies(response)
    return response


# ---- a session in place of a bearer token ------------------------------------------------------------------

def _cookie(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == b"cookie":
            try:
                jar = SimpleCookie(value.decode("latin-1"))
            except CookieError:
                continue
            if name in jar:
                return jar[name].value
    return None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in headers if k.lower() == name), None)


class SessionCredentials(HttpMiddleware):
    """A request with a live session cookie (and no ``Authorization`` of its own) acts as the account:
    a short-lived bearer token of the account's subject, role and jurisdiction is put on it. An unsafe
    method needs ``X-CSRF-Token`` equal to the ``doudi_csrf`` cookie and the session's token (403).
    An unknown, ended or expired session adds nothing: the route answers 401 as without a token."""

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        path = scope.get("path", "")
        token = _cookie(headers, SESSION_COOKIE)
        if (token is None or any(k.lower() == b"authorization" for k, _ in headers)
                or path in SELF_CHECKED or path.startswith(NO_SESSION_PREFIXES)):
            await self.app(scope, receive, send)
            return
        ops: OperationsStore = scope["app"].state.ops
        try:
            async with ops.read() as conn:
                live = await store_accounts.live_session(conn, token_digest(token))
        except Exception as exc:  # the database is away: no principal can be established (fail closed)
            log.warning("session lookup failed: %r", exc)
            await _answer(send, 503, "登录状态暂时无法核对，请稍后再试 / the session cannot be checked now")
            return
        if live is None:
            await self.app(scope, receive, send)
            return
        if scope.get("method") in UNSAFE_METHODS:
            offered = _header(headers, CSRF_HEADER.encode())
            if not (same_token(offered, _cookie(headers, CSRF_COOKIE)) and same_token(offered, live.csrf_token)):
                await _answer(send, 403, CSRF_REFUSED)
                return
        bearer = issue_token(live.username, live.role, region=live.jurisdiction, ttl_s=MINTED_TOKEN_TTL_S)
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
        await self.app({**scope, "headers": headers}, receive, send)


async def _answer(send: Any, status: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=status)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class FrontDoorApp(FastAPI):
    """The front door's app: ``SessionCredentials`` sits just outside the ID masking (which reads the
    ``Authorization`` header it puts there), whatever order the service's middlewares were added in
    (``shared/infra/process.finish_app`` adds the masking after ``build``)."""

    def build_middleware_stack(self) -> Any:
        if not any(m.cls is SessionCredentials for m in self.user_middleware):
            masking = next((i for i, m in enumerate(self.user_middleware) if m.cls is MaskIdsMiddleware), 0)
            self.user_middleware.insert(masking, Middleware(SessionCredentials))
        return super().build_middleware_stack()
