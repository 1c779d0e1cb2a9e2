"""OIDC sign-in for a real deployment (统一身份认证), with authlib: the authorization code flow with PKCE
(S256), a nonce, the ID token's signature checked against the provider's JWKS and its issuer, audience,
expiry and nonce validated (authlib's ``parse_id_token``).

- ``GET /auth/oidc/login``: redirects to the provider. The state, nonce and PKCE verifier are kept in
  ``operations.oidc_flows`` (10 minutes, single use), bound to this browser by the cookie ``doudi_oidc``
  (SameSite=Lax: the provider's redirect back is a cross-site navigation, which a Strict cookie misses).
- ``GET /auth/oidc/callback``: exchanges the code, validates the ID token, and opens a session for the
  local account the claim ``oidc_username_claim`` names (default ``preferred_username``). Role and
  jurisdiction come from that account (``doudi users add NAME --no-password``), never from the provider:
  a name with no account, or a disabled account, is refused (403).

The answer is a small page that moves on to the workbench itself: the ``SameSite=Strict`` session cookie
set in a response to a cross-site navigation would not yet be sent on a redirect of that navigation.
"""

from __future__ import annotations

import hashlib
import html
import logging
import secrets
from functools import cache

# authlib ships no type information (no py.typed, no stubs in the project's dependencies)
from authlib.integrations.base_client import OAuthError  # type: ignore[import-untyped]
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App  # type: ignore[import-untyped]
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc.errors import JoseError

from services.operations import store_accounts
from services.operations.session import (
    HOME,
    LOGIN_PAGE_HEADERS,
    open_session,
    ops_of,
    secure_cookies,
    settings_of,
)
from shared.config import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/auth/oidc")

FLOW_COOKIE = "doudi_oidc"
FLOW_TTL_S = 600


@cache
def provider(issuer: str, client_id: str, client_secret: str, scope: str) -> StarletteOAuth2App:
    """The provider's client (its discovery document read once, on first use)."""
    oauth = OAuth()
    client: StarletteOAuth2App = oauth.register(
        "doudi", client_id=client_id, client_secret=client_secret,
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": scope, "code_challenge_method": "S256", "timeout": 10.0})
    return client


def provider_of(settings: Settings) -> StarletteOAuth2App | None:
    if not settings.oidc_issuer:
        return None
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
    return provider(settings.oidc_issuer, settings.oidc_client_id, secret, settings.oidc_scope)


def redirect_url(request: Request, settings: Settings) -> str:
    return settings.oidc_redirect_url or str(request.url_for("oidc_callback"))


def refusal(message: str, status: int) -> HTMLResponse:
    page = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>登录失败</title></head>'
            f'<body><main><h1>登录失败</h1><p role="alert">{html.escape(message)}</p>'
            f'<p><a href="/login">返回登录页</a></p></main></body></html>')
    return HTMLResponse(page, status_code=status, headers=LOGIN_PAGE_HEADERS)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@router.get("/login", include_in_schema=False)
async def oidc_login(request: Request) -> Response:
    settings = settings_of(request)
    client = provider_of(settings)
    if client is None:
        return refusal("未配置统一身份认证（OIDC）", 404)
    try:
        auth = await client.create_authorization_url(redirect_url(request, settings))
    except Exception as exc:  # the provider's discovery document could not be read
        log.warning("OIDC provider unavailable: %r", exc)
        return refusal("统一身份认证服务暂时不可用，请稍后再试", 503)
    browser = secrets.token_urlsafe(32)
    ops = ops_of(request)
    async with ops.transaction() as conn:
        await store_accounts.start_oidc_flow(conn, state=auth["state"], browser_sha256=_digest(browser),
                                             nonce=auth["nonce"], code_verifier=auth["code_verifier"],
                                             ttl_s=FLOW_TTL_S)
    response = RedirectResponse(auth["url"], status_code=302)
    response.set_cookie(FLOW_COOKIE, browser, max_age=FLOW_TTL_S, path="/auth/oidc/",
                        secure=secure_cookies(settings), httponly=True, samesite="lax")
    return response


@router.get("/callback", name="oidc_callback", include_in_schema=False)
async def oidc_callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    settings = settings_of(request)
    client = provider_of(settings)
    if client is None:
        return refusal("未配置统一身份认证（OIDC）", 404)
    if error:
        return refusal(f"统一身份认证未通过：{error}", 401)
    browser = request.cookies.get(FLOW_COOKIE)
    ops = ops_of(request)
    flow = None
    if browser and state:
        async with ops.transaction() as conn:
            flow = await store_accounts.take_oidc_flow(conn, state=state, browser_sha256=_digest(browser))
    if flow is None or not code:
        return refusal("登录请求已过期或无效，请重新登录", 400)
    try:
        token = await client.fetch_access_token(redirect_uri=redirect_url(request, settings), code=code,
                                                code_verifier=flow.code_verifier)
        claims = await client.parse_id_token(token, nonce=flow.nonce)
    except (OAuthError, JoseError, ValueError, KeyError) as exc:  # a token that does not verify
        log.warning("OIDC sign-in refused: %r", exc)
        return refusal("统一身份认证的凭据无效", 401)
    except Exception as exc:  # the provider did not answer (or answered garbage)
        log.warning("OIDC provider failed: %r", exc)
        return refusal("统一身份认证服务暂时不可用，请稍后再试", 503)
    if claims is None:
        return refusal("统一身份认证未返回身份令牌", 401)
    username = claims.get(settings.oidc_username_claim)
    if settings.oidc_username_claim == "email" and claims.get("email_verified") is not True:
        return refusal("统一身份认证未确认该邮箱，无法据此登录", 403)  # an unverified address names nobody
    async with ops.read() as conn:
        account = await store_accounts.find_account(conn, username) if isinstance(username, str) else None
    if account is None or account.disabled:
        return refusal("该身份没有可用的本系统账号，请联系管理员", 403)
    target = html.escape(HOME)
    response = HTMLResponse(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>登录成功</title>'
        f'<meta http-equiv="refresh" content="0;url={target}"></head><body><p>登录成功，正在进入工作台……'
        f'<a href="{target}">进入工作台</a></p></body></html>', headers=LOGIN_PAGE_HEADERS)
    response.delete_cookie(FLOW_COOKIE, path="/auth/oidc/")
    await open_session(ops, settings, account, "oidc", response)
    return response
