"""Every operation of every service (what the front door merges into its /openapi.json) says what it does and
shows an example of what it takes and what it answers; every example is one the model itself accepts.

An example counts where Swagger UI shows it: on the media type (a route's ``openapi_examples`` or its
``responses``), or on the schema (a model's ``model_config`` ``json_schema_extra`` examples; for a list, on
its items' model). A failure lists every operation that lacks one, so a new route shows up by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

from tests.unit.test_api_docs import BUILDS, app_of

Spec = dict[str, Any]


@pytest.fixture(scope="module")
def specs() -> dict[str, Spec]:
    return {name: app_of(name).openapi() for name in sorted(BUILDS)}


def _resolve(spec: Spec, schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _has_example(spec: Spec, media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media or "schema" not in media:
        return True
    schema = _resolve(spec, media["schema"])
    if "example" in schema or "examples" in schema:
        return True
    if schema.get("type") == "array" and "items" in schema:
        items = _resolve(spec, schema["items"])
        return "example" in items or "examples" in items
    return False


def _operations(specs: dict[str, Spec]) -> Iterator[tuple[str, Spec, str, dict[str, Any]]]:
    for service, spec in specs.items():
        for path, operations in spec["paths"].items():
            for method, op in operations.items():
                yield service, spec, f"{method.upper()} {path}", op


def test_every_operation_has_a_summary_or_a_description(specs: dict[str, Spec]) -> None:
    # FastAPI invents a summary from the function's name ("List Stalled"): only a written one counts
    lacking = [f"{service}: {where}" for service, _, where, op in _operations(specs)
               if not op.get("description") and op.get("summary", "") == _invented(op)]
    assert not lacking, "operations without a summary or description:\n" + "\n".join(lacking)


def _invented(op: dict[str, Any]) -> str:
    name = op.get("operationId", "").split("_api_")[0].split("__")[0]
    return name.replace("_", " ").title()


def test_every_json_request_body_and_2xx_answer_has_an_example(specs: dict[str, Spec]) -> None:
    lacking = []
    for service, spec, where, op in _operations(specs):
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            if "json" in media_type and not _has_example(spec, media):
                lacking.append(f"{service}: {where} request body")
        for code, answer in op.get("responses", {}).items():
            for media_type, media in answer.get("content", {}).items():
                if code.startswith("2") and "json" in media_type and not _has_example(spec, media):
                    lacking.append(f"{service}: {where} {code} answer")
    assert not lacking, f"{len(lacking)} without an example:\n" + "\n".join(lacking)


def _models() -> Iterator[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    todo = list(BaseModel.__subclasses__())
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        todo += model.__subclasses__()
        if model.__module__.split(".")[0] in {"services", "shared", "workflows"}:
            yield model


def test_every_example_of_a_model_is_one_the_model_accepts(specs: dict[str, Spec]) -> None:
    # (the fixture built every service's app: every model a route names is imported)
    checked, wrong = 0, []
    for model in _models():
        extra = model.model_config.get("json_schema_extra")
        examples = extra.get("examples") if isinstance(extra, dict) else None
        for example in examples if isinstance(examples, list) else []:
            checked += 1
            if not isinstance(example, dict):
                wrong.append(f"{model.__module__}.{model.__qualname__}: an example that is not an object")
                continue
            try:
                model.model_validate(json.loads(json.dumps(example)))  # as a client would send it: JSON
            except Exception as e:  # the message names the field
                wrong.append(f"{model.__module__}.{model.__qualname__}: {e}")
                continue
            known = set(model.model_fields) | set(model.model_computed_fields)
            if unknown := set(example) - known:  # a model that ignores extra keys would not say so
                wrong.append(f"{model.__module__}.{model.__qualname__}: unknown keys {sorted(unknown)}")
    assert checked >= 50
    assert not wrong, "\n".join(wrong)


def test_route_level_examples_are_valid_json_values(specs: dict[str, Spec]) -> None:
    for _, _, where, op in _operations(specs):
        for media in op.get("requestBody", {}).get("content", {}).values():
            for name, example in media.get("examples", {}).items():
                assert "value" in example and example.get("summary"), (where, name)


# -- the front door's merged document ----------------------------------------------------------------------

def _inlined(spec: Spec, node: Any, depth: int = 0) -> Any:
    """``node`` with every schema reference replaced by what it names (to compare documents by meaning)."""
    assert depth < 40, "a schema that refers to itself"
    if isinstance(node, dict):
        if "$ref" in node:
            return _inlined(spec, _resolve(spec, node), depth + 1)
        return {k: _inlined(spec, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(spec, v, depth + 1) for v in node]
    return node


async def test_the_front_doors_merged_document_shows_each_operation_as_its_service_does(specs: dict[str, Spec]):
    """GET /openapi.json on the front door: every forwarded operation reads exactly as in its own service's
    document (two services' schemas of one name, intake's and approval's MemberIn, stay apart), and every
    operation in it has its description and its examples."""
    import httpx
    from fastapi.openapi.utils import get_openapi

    from services.operations import main as operations_main
    from shared.config import get_settings

    settings = get_settings()
    by_base = {settings.intake_url: "intake", settings.approval_url: "approval",
               settings.verification_url: "verification", settings.payment_url: "payment"}
    runtime = SimpleNamespace(settings=settings)
    door = operations_main.front_door(runtime, ops=None)  # type: ignore[arg-type]  # only its routes table
    door._client = httpx.AsyncClient(transport=httpx.MockTransport(  # each service answers its own document
        lambda request: httpx.Response(200, json=specs[by_base[f"{request.url.scheme}://{request.url.netloc.decode()}"]])))
    front = app_of("operations")
    merged = await door.merged_openapi(get_openapi(title=front.title, version=front.version, routes=front.routes))
    await door._client.aclose()

    forwarded = 0
    for path, item in merged["paths"].items():
        service = next((s for base, s in by_base.items() if door.upstream_for(path) == base), "operations")
        own = specs[service]
        for method, op in item.items():
            assert _inlined(merged, op) == _inlined(own, own["paths"][path][method]), f"{method} {path}"
            forwarded += service != "operations"
    assert forwarded >= 20
    assert "approval.MemberIn" in merged["components"]["schemas"]  # renamed, not replacing intake's
    test_every_operation_has_a_summary_or_a_description({"front door": merged})
    test_every_json_request_body_and_2xx_answer_has_an_example({"front door": merged})


def test_every_operation_behind_a_token_documents_its_refusals(specs: dict[str, Spec]) -> None:
    """401 on every operation that takes a bearer token, 403 on those behind a role check, each with the body
    it answers ({"detail": ...}) and an example; FastAPI documents only its own 422."""
    lacking, forbidden = [], 0
    for service, spec, where, op in _operations(specs):
        answers = op.get("responses", {})
        if op.get("security") and "401" not in answers:
            lacking.append(f"{service}: {where} 401")
        for code in ("401", "403"):
            media = answers.get(code, {}).get("content", {}).get("application/json")
            if code in answers and (media is None or not _has_example(spec, media)):
                lacking.append(f"{service}: {where} {code} without its body's example")
        forbidden += "403" in answers
    assert not lacking, "\n".join(lacking)
    assert forbidden >= 60  # the role checks (require_roles, province_admin) are found
