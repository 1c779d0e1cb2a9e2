"""The remote codec endpoint for the Temporal UI and CLI (Temporal's codec server protocol).

``POST /codec/decode`` and ``POST /codec/encode`` take and answer ``{"payloads": [...]}`` in proto3 JSON
(every ``metadata`` value and ``data`` base64) and run the payloads through the same AES-GCM codec the
workers use (``shared/infra/codec.py``). Decoding shows personal data in full, so it is the operations
team's break-glass: a bearer token of a province-wide admin is required (401 without one, 403 for any
other role or a regional admin) and every call is written to the audit log (who, how many payloads,
which namespace).

CORS is limited to the Temporal UI's own origin (``DOUDI_TEMPORAL_UI_URL``): a browser page from any
other origin gets no ``Access-Control-Allow-Origin`` and a request carrying a foreign ``Origin`` is
refused. The embedded dev server is started with ``--ui-codec-endpoint <api>/codec``; from the CLI::

    temporal workflow show -w <case id> --codec-endpoint http://127.0.0.1:8000/codec \\
        --codec-auth "Bearer $(doudi dev-token --role admin)"
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from services.operations.store import OperationsStore
from shared.auth import Principal, ProvinceAdmin

router = APIRouter(prefix="/codec", tags=["codec"])

Operator = ProvinceAdmin  # the operations team (a province-wide admin) only
MAX_PAYLOADS = 1000
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


# What the Temporal UI sends and gets back (proto3 JSON, every value base64): a payload as the workers seal it
# (encoding binary/doudi-aes-gcm, the key id) and the same payload unsealed (json/plain, {"case_id": ...}).
SEALED_EXAMPLE = {"payloads": [{"metadata": {"encoding": "YmluYXJ5L2RvdWRpLWFlcy1nY20=",
                                             "encryption-key-id": "MjAyNi0wMQ=="},
                                "data": "q0vN2y1c8m3o0hYx4bQ1XbX2m0d9rXg6k3WJ0pQ7mC3YUa8="}]}
PLAIN_EXAMPLE = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="},
                               "data": "eyJjYXNlX2lkIjogImVtLTdmM2MyYTkxIn0="}]}


def _answers(example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI document's 200 with its example (its 401/403: shared/infra/api_docs.py document_refusals)."""
    return {200: {"content": {"application/json": {"example": example}}}}


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _ui_origin(request: Request) -> str:
    return _origin_of(request.app.state.runtime.settings.temporal_ui_url)


def _cors(request: Request, response: Response) -> None:
    origin = request.headers.get("origin")
    if origin is None:
        return  # not a browser (the CLI): no CORS
    if origin != _ui_origin(request):
        raise HTTPException(403, f"origin {origin} may not use the codec endpoint")
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers["Vary"] = "Origin"


async def _payloads(request: Request) -> Payloads:
    try:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("payloads", []), list):
            raise ValueError("the body is {\"payloads\": [...]}")
        if len(body.get("payloads", [])) > MAX_PAYLOADS:
            raise ValueError(f"at most {MAX_PAYLOADS} payloads a call")
        return json_format.ParseDict(body, Payloads(), ignore_unknown_fields=False)
    except (ValueError, json_format.ParseError) as exc:
        raise HTTPException(422, f"not a Temporal payloads document: {exc}") from None


async def _convert(action: str, request: Request, response: Response, principal: Principal) -> dict[str, Any]:
    _cors(request, response)
    payloads = await _payloads(request)
    rt = request.app.state.runtime
    codec = rt.temporal.data_converter.payload_codec
    try:
        convert = codec.decode if action == "decode" else codec.encode
        converted = await convert(payloads.payloads)
    except Exception as exc:  # a payload sealed with an unknown key, or tampered with
        raise HTTPException(422, f"cannot {action}: {type(exc).__name__}: {exc}") from None
    namespace = request.headers.get("x-namespace") or rt.settings.temporal_namespace
    ops: OperationsStore = request.app.state.ops
    await ops.audit(principal, f"codec.{action}", None, f"Temporal {action} for namespace {namespace}",
                    {"payloads": len(converted), "namespace": namespace,
                     "origin": request.headers.get("origin")})
    return json_format.MessageToDict(Payloads(payloads=converted))


@router.post("/decode", summary="Temporal remote codec: unseal payloads (admin only, audited)",
             responses=_answers(PLAIN_EXAMPLE))
async def decode(request: Request, response: Response, principal: Operator) -> dict[str, Any]:
    return await _convert("decode", request, response, principal)


@router.post("/encode", summary="Temporal remote codec: seal payloads (admin only, audited)",
             responses=_answers(SEALED_EXAMPLE))
async def encode(request: Request, response: Response, principal: Operator) -> dict[str, Any]:
    return await _convert("encode", request, response, principal)


@router.options("/{action}", include_in_schema=False)
async def preflight(action: str, request: Request) -> Response:
    """The browser's CORS preflight: answered for the Temporal UI's origin only, before any token."""
    origin = request.headers.get("origin")
    if action not in ("decode", "encode"):
        raise HTTPException(404, "no such codec action")
    if origin != _ui_origin(request):
        return Response(status_code=403)
    return Response(status_code=204, headers={
        "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": "600", "Vary": "Origin"})
