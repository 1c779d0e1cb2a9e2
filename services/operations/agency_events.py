"""``POST /events``: agencies' systems that cannot speak NATS post their CloudEvents over HTTPS (the
CloudEvents HTTP binding: structured, binary and batched modes; shared/contracts/http_events.py).

Authentication: HTTP basic auth with the agency's own NATS user and password (the data folder's
``nats-users.json`` in the embedded default, its secret in a deployment). The front door keeps no copy of
them: it publishes *as that user*, so NATS itself checks the password and lets the user publish only its
own families' subjects, exactly as for an agency on the bus; before that, the same checks as intake's
(contract, family, ``source``) answer a refused event with its reason. Each event lands on its own
subject of the same stream with ``Nats-Msg-Id`` = its id (the stream's dedupe), and intake dedupes by id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import nats
import nats.errors
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict

from shared.config import nats_url_with_credentials
from shared.contracts.http_events import Outbound, Refused, events_from_http
from shared.contracts.sources import BY_USER
from shared.infra.bus import connect

log = logging.getLogger(__name__)
router = APIRouter()

MAX_BODY = 4 * 1024 * 1024
_basic = HTTPBasic(auto_error=False, description="the agency's NATS user and password")


class AcceptedEvent(BaseModel):
    id: str
    subject: str
    duplicate: bool  # the stream had it already (the same id within its dedupe window)


class EventsAccepted(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {
            "accepted": [
                {"id": "evt-health-20220810-0001", "subject": "doudi.events.health.quarantined", "duplicate": False},
            ],
        },
    ]})

    accepted: list[AcceptedEvent]


def _agency(credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]) -> HTTPBasicCredentials:
    if credentials is None or credentials.username not in BY_USER:
        raise HTTPException(401, "basic auth with a source agency's NATS user and password",
                            headers={"WWW-Authenticate": 'Basic realm="doudi events"'})
    return credentials


class _Unauthorized(Exception):
    pass


async def _publish_as(nats_url: str, credentials: HTTPBasicCredentials, events: list[Outbound]) -> list[AcceptedEvent]:
    """Connect as the agency (NATS checks the password and the subjects), publish every event."""
    refused_auth = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        if "authorization" in str(exc).lower():
            refused_auth.set()

    url = nats_url_with_credentials(nats_url, credentials.username, credentials.password)
    try:
        nc = await connect(url, allow_reconnect=False, connect_timeout=5, error_cb=on_error)
    except (nats.errors.Error, OSError) as exc:
        if refused_auth.is_set() or "authorization" in str(exc).lower():
            raise _Unauthorized() from None
        raise
    try:
        js = nc.jetstream(timeout=5)
        out = []
        for event in events:
            ack = await js.publish(event.subject, event.body, headers={
                "Nats-Msg-Id": event.event_id, "content-type": "application/cloudevents+json"})
            out.append(AcceptedEvent(id=event.event_id, subject=event.subject, duplicate=bool(ack.duplicate)))
        return out
    finally:
        await nc.close()


_EXAMPLE = {"specversion": "1.0", "id": "his-640100-2022-000123", "source": "urn:doudi:source:health",
            "type": "doudi.health.quarantined.v1", "datacontenttype": "application/json",
            "data": {"person_id": "640104198001010013", "region_code": "640104", "quarantined_on": "2022-08-10"}}
_REQUEST = {"required": True, "content": {
    "application/cloudevents+json": {"schema": {"type": "object"}, "example": _EXAMPLE},
    "application/cloudevents-batch+json": {"schema": {"type": "array", "items": {"type": "object"}},
                                           "example": [_EXAMPLE]},
    "application/json": {"schema": {"type": "object"}, "example": _EXAMPLE["data"],
                         "description": "binary mode: the data alone, the attributes in ce- headers"}}}


@router.post("/events", status_code=202, response_model=EventsAccepted, summary="An agency posts CloudEvents",
             openapi_extra={"requestBody": _REQUEST},
             responses={401: {"description": "not a source agency's NATS credentials"},
                        403: {"description": "another agency's event family or source"},
                        413: {"description": "body over 4 MiB"},
                        422: {"description": "breaks the contract (the reason names the field or header)"}})
async def post_events(request: Request,
                      credentials: Annotated[HTTPBasicCredentials, Depends(_agency)]) -> EventsAccepted:
    """CloudEvents HTTP binding: ``application/cloudevents+json`` (structured), ``ce-`` headers with the
    data as the body (binary), ``application/cloudevents-batch+json`` (a batch: all accepted or none)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(413, f"body over {MAX_BODY} bytes")
    try:
        events = events_from_http(request.headers, raw, agency=credentials.username)
    except Refused as refused:
        raise HTTPException(refused.status, refused.reasons) from None
    try:
        accepted = await _publish_as(request.app.state.runtime.settings.nats_url, credentials, events)
    except _Unauthorized:
        raise HTTPException(401, "wrong password for the agency's NATS user",
                            headers={"WWW-Authenticate": 'Basic realm="doudi events"'}) from None
    except (nats.errors.Error, OSError) as exc:
        log.warning("could not publish an agency's events: %s", exc)
        raise HTTPException(503, "the event bus is unavailable; send again (the same ids are deduplicated)") from None
    return EventsAccepted(accepted=accepted)
