"""The one HTTP front door (port 8000): forwards the routes other services own, and serves one
OpenAPI document that merges every service's."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from services.operations.openapi_merge import merge_service_document
from shared.auth import InvalidCredentials, principal_from_headers
from shared.infra import metrics

log = logging.getLogger(__name__)

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-authorization",
              "content-length", "host"}


CASE_ROUTE = re.compile(r"^/api/cases/([^/]+)(?:/|$)")


class FrontDoor:
    def __init__(self, routes: dict[str, str],
                 case_region: Callable[[str], Awaitable[str | None]] | None = None):
        """``routes``: path pattern (a regular expression matched from the start; ``{id}`` stands for
        one path segment) -> upstream base URL. The first match wins."""
        self._routes = [(re.compile(pattern.replace("{id}", "[^/]+") + "(/.*)?$"), base)
                        for pattern, base in routes.items()]
        self._patterns = list(routes)  # by the same index: what /metrics counts a forwarded request under
        self._client = httpx.AsyncClient(timeout=30.0)
        self._case_region = case_region

    async def outside_jurisdiction(self, request: Request) -> bool:
        """Every case route, whichever service serves it (the front door's own too): a case outside the
        caller's jurisdiction is answered 404 here, before it reaches the service (no existence leak, OWASP
        API1)."""
        match = CASE_ROUTE.match(request.url.path)
        if match is None or self._case_region is None:
            return False
        try:  # the one token parser (shared/auth.py)
            principal = principal_from_headers(request.headers.getlist("authorization"))
        except InvalidCredentials:
            return False  # the owning service answers 401
        region = await self._case_region(match.group(1))
        return region is not None and not principal.may_see(region)

    def upstream_for(self, path: str) -> str | None:
        for pattern, base in self._routes:
            if pattern.match(path):
                return base
        return None

    def pattern_for(self, path: str) -> str | None:
        """The routes table's pattern a forwarded path matched (``/api/cases/{id}/decisions``)."""
        return next((self._patterns[i] for i, (pattern, _) in enumerate(self._routes) if pattern.match(path)),
                    None)

    async def forward(self, request: Request, base: str) -> Response:
        # the path as the client sent it (percent-encoded): the decoded one may hold characters no URL can
        path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        url = base + path + (f"?{request.url.query}" if request.url.query else "")
        if len(request.headers.getlist("authorization")) > 1:  # the dict below would keep only one of them
            return Response('{"detail":"exactly one Authorization header"}', status_code=401,
                            media_type="application/json", headers={"WWW-Authenticate": "Bearer"})
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        # the body streams through, never buffered here: its size was checked on the way in (a declared
        # length) or is counted as it streams (BodyLimitMiddleware raises 413 past the route's limit)
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        try:
            upstream = await self._client.request(request.method, url, headers=headers,
                                                  content=request.stream() if has_body else None)
        except httpx.HTTPError as exc:
            log.warning("upstream %s unavailable: %s", base, exc)
            return Response(f'{{"detail":"service unavailable: {base}"}}', status_code=503,
                            media_type="application/json")
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        return Response(upstream.content, status_code=upstream.status_code, headers=out_headers)

    async def merged_openapi(self, own: dict[str, Any]) -> dict[str, Any]:
        doc = {**own, "paths": dict(own.get("paths", {})),
               "components": {"schemas": dict(own.get("components", {}).get("schemas", {})),
                              **{k: v for k, v in own.get("components", {}).items() if k != "schemas"}}}
        for base in sorted({b for _, b in self._routes}):
            try:
                sub = (await self._client.get(base + "/openapi.json")).json()
            except (httpx.HTTPError, ValueError):
                continue
            # a schema another service names differently is renamed <service>.<Name> (openapi_merge.py)
            service = str(sub.get("info", {}).get("title", base)).split()[-1]
            merge_service_document(doc, sub, service=service,
                                   forwarded={path for path in sub.get("paths", {}) if self.upstream_for(path) == base})
        return doc

    async def close(self) -> None:
        await self._client.aclose()


def install(app: FastAPI, door: FrontDoor) -> None:
    @app.middleware("http")
    async def route_to_owner(request: Request,
                             call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        base = door.upstream_for(request.url.path)
        if base is not None:  # counted under the table's pattern, not the raw path (a series per route, not case)
            request.scope[metrics.ROUTE_KEY] = f"{door.pattern_for(request.url.path)} (forwarded)"
        # every case route, forwarded or served here (replay, the case itself): a foreign case is unknown
        if await door.outside_jurisdiction(request):
            return Response('{"detail":"case not found"}', status_code=404, media_type="application/json")
        if base is not None:
            return await door.forward(request, base)
        return await call_next(request)
