"""The one shape of doudi's ASGI middlewares: HTTP requests go to ``http``; anything else (lifespan,
websockets) passes straight through."""

from __future__ import annotations

from typing import Any


class HttpMiddleware:
    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise NotImplementedError
