"""A minimal, real OpenID Connect provider for tests: discovery, an authorization endpoint (the person who
signs in at the provider is whoever the test says), a token endpoint (client_secret_basic, the code once,
PKCE S256 checked) issuing RS256 ID tokens, and its JWKS. It runs on a loopback port picked when this
module is imported, so the session's stack can be configured with its issuer before it starts
(tests/conftest.py); the provider itself starts only in the test that signs in with it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


OIDC_PORT = _free_port()
OIDC_ISSUER = f"http://127.0.0.1:{OIDC_PORT}"
OIDC_CLIENT_ID = "doudi-front-door"
OIDC_CLIENT_SECRET = secrets.token_urlsafe(24)


@dataclass
class Grant:
    user: str
    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str


@dataclass
class Provider:
    issuer: str = OIDC_ISSUER
    client_id: str = OIDC_CLIENT_ID
    client_secret: str = OIDC_CLIENT_SECRET
    signing_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    signs_in: str | None = None  # the provider's user who signs in next (None: the person cancels)
    codes: dict[str, Grant] = field(default_factory=dict)
    issued: list[dict[str, Any]] = field(default_factory=list)  # every ID token's claims

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": f"uid-{grant.user}", "aud": grant.client_id, "iat": now,
                  "exp": now + 300, "nonce": grant.nonce, "preferred_username": grant.user}
        self.issued.append(claims)
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.signing_key)

    # ---- endpoints --------------------------------------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email"]})

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.signing_key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id or q.get("response_type") != "code" \
                or "openid" not in (q.get("scope") or "").split() or q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        redirect_uri = q["redirect_uri"]
        if self.signs_in is None:
            return RedirectResponse(f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': q['state']})}")
        code = secrets.token_urlsafe(16)
        self.codes[code] = Grant(self.signs_in, self.client_id, redirect_uri, q.get("nonce", ""),
                                 q.get("code_challenge", ""))
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': q['state']})}")

    async def token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = await request.form()
        grant = self.codes.pop(str(form.get("code")), None)  # a code is used once
        verifier = str(form.get("code_verifier") or "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if grant is None or form.get("redirect_uri") != grant.redirect_uri or challenge != grant.code_challenge:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                             "id_token": self.id_token(grant)})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks", self.jwks), Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"])])


class RunningProvider:
    """The provider served on OIDC_PORT in a thread, for a ``with`` block."""

    def __init__(self, provider: Provider):
        self.provider = provider
        self.server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=OIDC_PORT,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Provider:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"the test OIDC provider could not start on port {OIDC_PORT}")
            time.sleep(0.05)
        return self.provider

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
