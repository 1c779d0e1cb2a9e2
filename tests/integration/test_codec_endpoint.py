"""The Temporal UI's remote codec (services/operations/codec.py): a sealed payload from a real case's
history decodes to its plaintext for a province-wide admin, audited; everyone else is refused; CORS only
for the Temporal UI's origin; the embedded dev server's UI is pointed at it."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from deploy.embedded import EmbeddedStack
from shared.auth import Role, issue_token
from tests.support import StackClient, household, national_id

pytestmark = pytest.mark.stack

OWN = "640104"
SEALED = b"binary/doudi-aes-gcm"


def bearer(role: Role, region: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(f'codec-{role}-{uuid.uuid4().hex[:6]}', role, region=region)}"}


@pytest.fixture(scope="module")
async def history(client: StackClient, stack: EmbeddedStack) -> tuple[str, str, dict]:
    """A paid case's workflow input, as Temporal keeps it (read by a client without the codec)."""
    pid = national_id(OWN)
    await client.register(household(pid, region=OWN, categories=["dibao"]))
    await client.publish("health.quarantined", {"person_id": pid, "region_code": OWN, "quarantined_on": "2022-08-10"})
    case = await client.closed_case(pid, timeout=60)
    raw = await Client.connect(stack.temporal_address, namespace="doudi")
    events = (await raw.get_workflow_handle(case["case_id"]).fetch_history()).events
    started = events[0].workflow_execution_started_event_attributes
    [payload] = started.input.payloads
    assert payload.metadata["encoding"] == SEALED and pid.encode() not in payload.data
    return pid, case["case_id"], json_format.MessageToDict(Payloads(payloads=[payload]))


async def test_an_admin_decodes_a_sealed_history_payload_to_its_plaintext(
        client: StackClient, history: tuple[str, str, dict]):
    pid, case_id, body = history
    # the wire format is Temporal's: proto3 JSON, every metadata value and the data base64
    assert base64.b64decode(body["payloads"][0]["metadata"]["encoding"]) == SEALED
    r = await client.http.post("/codec/decode", json=body, headers={**bearer(Role.admin), "X-Namespace": "doudi"})
    assert r.status_code == 200, r.text
    [decoded] = r.json()["payloads"]
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
    plain = json.loads(base64.b64decode(decoded["data"]))
    assert plain["person_id"] == pid and plain["case_id"] == case_id and plain["region_code"] == OWN

    # encode seals again (a fresh nonce), and what it seals decodes back to the same plaintext
    r = await client.http.post("/codec/encode", json={"payloads": [decoded]}, headers=bearer(Role.admin))
    assert r.status_code == 200, r.text
    [resealed] = r.json()["payloads"]
    assert base64.b64decode(resealed["metadata"]["encoding"]) == SEALED
    assert resealed["data"] != body["payloads"][0]["data"]
    assert pid.encode() not in base64.b64decode(resealed["data"])
    r = await client.http.post("/codec/decode", json={"payloads": [resealed]}, headers=bearer(Role.admin))
    assert r.json()["payloads"][0] == decoded

    # every call is in the audit log, with who and how many payloads
    audit = (await client.http.get("/api/admin/audit", headers=bearer(Role.auditor))).json()
    mine = [a for a in audit if a["action"].startswith("codec.") and a["actor"].startswith("codec-admin")]
    assert [a["action"] for a in mine[:3]] == ["codec.decode", "codec.encode", "codec.decode"]
    assert mine[-1]["detail"]["payloads"] == 1 and mine[-1]["detail"]["namespace"] == "doudi"


async def test_the_codec_refuses_whoever_is_not_a_province_wide_admin(
        client: StackClient, history: tuple[str, str, dict]):
    pid, _, body = history
    for headers, status in [({}, 401), ({"Authorization": "Bearer not-a-token"}, 401),
                            (bearer(Role.admin, OWN), 403),
                            *[(bearer(role), 403) for role in Role if role != Role.admin]]:
        for action in ("decode", "encode"):
            r = await client.http.post(f"/codec/{action}", json=body, headers=headers)
            assert r.status_code == status, (action, headers, r.status_code, r.text)
            assert pid not in r.text
    # a tampered payload is refused, not passed through
    tampered = json.loads(json.dumps(body))
    data = bytearray(base64.b64decode(tampered["payloads"][0]["data"]))
    data[-1] ^= 1
    tampered["payloads"][0]["data"] = base64.b64encode(bytes(data)).decode()
    r = await client.http.post("/codec/decode", json=tampered, headers=bearer(Role.admin))
    assert r.status_code == 422
    r = await client.http.post("/codec/decode", json={"payloads": "nope"}, headers=bearer(Role.admin))
    assert r.status_code == 422


async def test_cors_is_for_the_temporal_ui_only_and_the_ui_is_pointed_at_the_codec(
        client: StackClient, stack: EmbeddedStack, history: tuple[str, str, dict]):
    ui = f"http://127.0.0.1:{stack.ports.temporal_ui}"
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type,x-namespace"}
    r = await client.http.options("/codec/decode", headers={"Origin": ui, **preflight})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == ui
    assert "Authorization" in r.headers["access-control-allow-headers"]
    r = await client.http.options("/codec/decode", headers={"Origin": "http://evil.example", **preflight})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    _, _, body = history
    r = await client.http.post("/codec/decode", json=body, headers={**bearer(Role.admin), "Origin": ui})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ui
    r = await client.http.post("/codec/decode", json=body, headers={**bearer(Role.admin), "Origin": "http://evil.example"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers

    # the embedded dev server's UI knows the endpoint (its settings API, as the UI itself reads them)
    async with httpx.AsyncClient(timeout=10) as http:
        settings = (await http.get(f"{ui}/api/v1/settings")).json()
    assert settings["Codec"]["Endpoint"] == f"{stack.api_url}/codec"
