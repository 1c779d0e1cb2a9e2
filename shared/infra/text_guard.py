"""PostgreSQL's text cannot hold the NUL character: a query parameter carrying one (``%00``) would reach a
statement and fail there as a 500. Refused here, before any route runs, as a 422 naming the parameter. (Path
parameters are each checked by their route's pattern, which names them.)"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse

from shared.infra.asgi import HttpMiddleware

NUL = "\x00"


class RefuseNulMiddleware(HttpMiddleware):
    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        where = _nul_in(scope)
        if where is None:
            await self.app(scope, receive, send)
            return
        answer = JSONResponse(status_code=422, content={"detail": [{
            "loc": list(where), "type": "string_nul",
            "msg": "不得含有空字符（NUL, %00）/ must not contain the NUL character (%00)"}]})
        await answer(scope, receive, send)


def _nul_in(scope: dict[str, Any]) -> tuple[str, ...] | None:
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="replace"):
        if NUL in name or NUL in value:
            return ("query", name.replace(NUL, "\\0"))
    return None
