"""/docs on the front door and on every service works offline: the Swagger UI page names no URL outside
the app and its assets answer from the app itself; /asyncapi on the front door shows the bus's contract."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from temporalio.converter import DataConverter

from services.approval import main as approval_main
from services.intake import main as intake_main
from services.operations import main as operations_main
from services.payment import main as payment_main
from services.verification import main as verification_main
from shared.config import get_settings
from shared.infra.api_docs import asyncapi_html, install_asyncapi
from shared.infra.process import Runtime, ServiceParts, finish_app
from tests.unit.fakes import NO_DATABASE, _DoudiBroker

BUILDS: dict[str, Callable[[Runtime], ServiceParts]] = {
    "operations": operations_main.build, "intake": intake_main.build, "approval": approval_main.build,
    "verification": verification_main.build, "payment": payment_main.build,
}
ASSET = re.compile(r"""(?:src|href)=["']?([^"'\s>]+)|url:\s*['"]([^'"]+)['"]""")


def app_of(name: str) -> FastAPI:
    """The service's app as ``serve`` finishes it; nothing behind it (the docs read no store)."""
    temporal = SimpleNamespace(data_converter=DataConverter.default)  # the dead-letter desk reads its codec
    runtime = Runtime(name=name, settings=get_settings(), pool=NO_DATABASE, broker=_DoudiBroker(),
                      temporal=temporal)  # type: ignore[arg-type]  # only what building the app touches
    return finish_app(BUILDS[name](runtime).app, runtime)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_swagger_ui_names_only_local_assets_and_they_answer(name: str) -> None:
    with TestClient(app_of(name)) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "swagger-ui" in page.text
        assert not re.search(r"https?://", page.text), "the page reaches outside the app"
        urls = [a or b for a, b in ASSET.findall(page.text)]
        assets = [u for u in urls if u.startswith("/docs/assets/")]
        assert {u.rsplit("/", 1)[-1] for u in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
        for url in assets:
            r = client.get(url)
            assert r.status_code == 200 and len(r.content) > 1000, url
        assert "/openapi.json" in urls and client.get("/openapi.json").status_code == 200
        assert client.get("/docs/oauth2-redirect").status_code == 200
        assert client.get("/redoc").status_code == 404  # FastAPI's CDN-backed page is gone, not beside ours
        assert [r.path for r in client.app.routes if getattr(r, "path", None) == "/docs"] == ["/docs"]  # type: ignore[attr-defined]


def test_the_front_door_serves_the_asyncapi_document_and_a_page_of_it_without_a_cdn() -> None:
    committed = json.loads((Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json").read_text())
    with TestClient(app_of("operations")) as client:
        document = client.get("/asyncapi.json")
        page = client.get("/asyncapi")
    assert document.status_code == 200 and document.json() == committed
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"(?:src|href)=[\"']?https?://", page.text) and "<script" not in page.text
    for channel in committed["channels"].values():
        assert f"<code>{html.escape(channel['address'])}</code>" in page.text
    assert "HouseholdIncomeChangedEvent" in page.text  # a message's payload schema is shown by name


def test_an_asyncapi_page_escapes_free_text_and_a_missing_document_is_a_clear_404(tmp_path: Path) -> None:
    doc = {"asyncapi": "3.0.0", "info": {"title": "t", "description": "<script>x</script>"},
           "channels": {"a:s": {"address": "doudi.<b>", "messages": {}}}}
    text = asyncapi_html(doc)
    assert "<script>x" not in text and "&lt;script&gt;" in text and "doudi.&lt;b&gt;" in text
    app = FastAPI()
    from shared.infra.process import install_error_handlers

    install_error_handlers(app)
    install_asyncapi(app, document=tmp_path / "missing.json")
    with TestClient(app) as client:
        r = client.get("/asyncapi")
    assert r.status_code == 404 and "python -m deploy.asyncapi" in r.json()["detail"]
