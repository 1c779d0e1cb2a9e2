"""Bearer-token authentication and role/jurisdiction authorisation for every HTTP route.

Tokens are HS256 JWTs signed with ``DOUDI_JWT_SECRET``: ``sub`` (who), ``role``, ``region`` (the
jurisdiction: a GB/T 2260 region-code prefix of 2, 4, 6 or 9 digits under a known province, or ``"*"``
for every region, an explicit claim: an absent or empty region is refused), ``exp``.

One parser (``principal_from_headers``) serves authentication and the masking of national IDs alike, and
fails closed: anything but exactly one ``Authorization: Bearer <jwt>`` header (one space, a JWT's three
base64url parts) is no principal: 401 on every route, masked data in any answer. An official's own
person id is never taken from a token: it comes from the officials registry (services/approval/officials.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from shared.config import get_settings
from shared.infra.asgi import HttpMiddleware

T = TypeVar("T")


class Role(StrEnum):
    clerk = "clerk"
    township_approver = "township_approver"
    county_approver = "county_approver"
    committee = "committee"
    finance = "finance"
    auditor = "auditor"
    admin = "admin"
    service = "service"


# GB/T 2260 province-level codes (省、自治区、直辖市、特别行政区): a jurisdiction starts with one of them.
KNOWN_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "66",  # 新疆生产建设兵团 (XPCC) codes as the XPCC pack uses them
    "71", "81", "82"})
EVERY_REGION = "*"  # the explicit claim of a province-wide (everywhere) jurisdiction
_JURISDICTION = re.compile(r"[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}")  # province, prefecture, county, township


def validate_jurisdiction(value: str) -> str:
    """A jurisdiction claim: ``"*"`` (every region; returned as ``""``, the internal "no restriction") or
    a region-code prefix of ASCII digits, of a GB/T 2260 level's length, under a known province. Never a
    pattern (``%``, ``_``) and never empty."""
    if value == EVERY_REGION:
        return ""
    if not isinstance(value, str) or not _JURISDICTION.fullmatch(value):
        raise ValueError("region: a jurisdiction is '*' or a region-code prefix of 2, 4, 6 or 9 digits")
    if value[:2] not in KNOWN_PROVINCES:
        raise ValueError(f"region: {value[:2]} is no GB/T 2260 province")
    return value


class Principal(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"subject": "wang.fang", "role": "county_approver", "region": "640104", "person_id": "640104197506203035"},
    ]})

    subject: str
    role: Role
    region: str = ""  # jurisdiction prefix; "" = everywhere (only from an explicit "*" claim)
    person_id: str | None = None  # never from a token: the officials registry holds who an official is

    def may_see(self, region_code: str | None) -> bool:
        return not self.region or (region_code or "").startswith(self.region)


def require_jurisdiction(principal: Principal, region_code: str, *, what: str | None = None) -> None:
    """403 unless the caller's jurisdiction holds ``region_code``: "<what> is outside your jurisdiction"
    (``what`` is "region <code>" unless named). For what the caller asks to create or change there."""
    if not principal.may_see(region_code):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"{what or f'region {region_code}'} is outside your jurisdiction")


def found_in_jurisdiction(principal: Principal, region_code: str | None, what: str, *,
                          detail: str | None = None) -> None:
    """404 "<what> not found" (or ``detail``) for what does not exist (``region_code`` None) and for what
    lies outside the caller's jurisdiction alike: a regional account learns nothing of another region's."""
    if region_code is None or not principal.may_see(region_code):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail or f"{what} not found")


def visible_to(principal: Principal, found: T | None, region_of: Callable[[T], str], what: str, *,
               detail: str | None = None) -> T:
    """``found`` when it exists and lies in the caller's jurisdiction (``region_of`` it); else 404 as
    ``found_in_jurisdiction`` says."""
    found_in_jurisdiction(principal, region_of(found) if found is not None else None, what, detail=detail)
    assert found is not None
    return found


def issue_token(subject: str, role: Role | str, *, region: str = "", ttl_s: int = 12 * 3600,
                secret: str | None = None, person_id: str | None = None) -> str:
    settings = get_settings()
    now = int(time.time())
    claims = {"sub": subject, "role": str(Role(role)), "region": region or EVERY_REGION,
              "iss": settings.jwt_issuer, "iat": now, "exp": now + ttl_s}
    if person_id:
        claims["pid"] = person_id
    return jwt.encode(claims, secret or settings.jwt_secret, algorithm="HS256")


def decode_token(token: str) -> Principal:
    settings = get_settings()
    claims = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"], issuer=settings.jwt_issuer,
                        options={"require": ["exp", "sub", "role", "region"]})
    subject, region = claims["sub"], claims["region"]
    if not isinstance(subject, str) or not subject.strip() or not isinstance(region, str):
        raise ValueError("sub and region must be non-empty strings")
    return Principal(subject=subject, role=Role(claims["role"]), region=validate_jurisdiction(region))


# exactly "Bearer", one space, a JWT (three base64url parts): anything else is malformed (two spaces, a
# trailing space, a second token, a header split in two)
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


class InvalidCredentials(ValueError):
    pass


def principal_from_headers(values: list[str]) -> Principal:
    """The one token parser (routes and masking): the principal of exactly one well-formed
    ``Authorization: Bearer <jwt>`` header, else ``InvalidCredentials``."""
    if not values:
        raise InvalidCredentials("bearer token required")
    if len(values) != 1:
        raise InvalidCredentials("exactly one Authorization header")
    match = _BEARER.fullmatch(values[0])
    if match is None:
        raise InvalidCredentials("malformed Authorization header: 'Bearer <token>' with one space")
    try:
        return decode_token(match.group(1))
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidCredentials(f"invalid token: {exc}") from None


_bearer = HTTPBearer(auto_error=False)  # declares the scheme in OpenAPI; the header is parsed below


def current_principal(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    try:
        return principal_from_headers(request.headers.getlist("authorization"))
    except InvalidCredentials as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc),
                            headers={"WWW-Authenticate": "Bearer"}) from None


def role_refusal(role: Role | str, allowed: set[Role]) -> str:
    """The 403 a person reads: role names as they are written in tokens, not Python's enum repr."""
    names = ", ".join(sorted(str(r.value) for r in allowed))
    shown = role.value if isinstance(role, Role) else role
    return f"角色 {shown} 无权执行此操作（须为：{names}）/ role {shown} may not do this (needs one of: {names})"


def require_roles(*roles: Role):
    allowed = set(roles) | {Role.admin}

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, role_refusal(principal.role, allowed))
        return principal

    return dependency


def province_admin(principal: Annotated[Principal, Depends(require_roles())]) -> Principal:
    """An administrator whose jurisdiction is the whole province: for what belongs to no one region (the
    sweep, dead letters, the Temporal codec). A regional administrator is refused (403)."""
    if principal.region:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this is for province-wide administrators; your "
                            f"jurisdiction is {principal.region}")
    return principal


Authenticated = Annotated[Principal, Depends(current_principal)]
ProvinceAdmin = Annotated[Principal, Depends(province_admin)]


# ---- who sees a whole national ID number ------------------------------------------------------------
#
# The one place the policy lives. A full 18-character ID (居民身份证号码) is shown only to the roles whose
# work is the person: the clerk who takes an application and checks the card at the window, the
# township and county approvers who decide a case and must see whose household it is (conflict of
# interest, 关系保), and service accounts that carry the ID between services (the cohort export, the
# department sources). Every other role works on cases, amounts and funds, not on people: the
# committee deliberates on a matter, finance pays and funds reserves, the auditor reads trails, the
# operations team (admin) re-drives steps and dead letters. They see ``640104********0012``: the first
# six digits keep the region (the jurisdiction stays visible), the last four keep the check character;
# the birth date and sequence number are hidden. Logs and traces never carry a full ID, whoever asked
# (``shared.telemetry`` masks them there).

FULL_ID_ROLES = frozenset({Role.clerk, Role.township_approver, Role.county_approver, Role.service})

NATIONAL_ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")


def mask_ids(text: str) -> str:
    """Every 18-character ID-shaped number in ``text`` masked (first 6 + ``********`` + last 4)."""
    return NATIONAL_ID_PATTERN.sub(r"\1********\2", text)


def sees_full_ids(role: Role | str | None) -> bool:
    return role is not None and role in FULL_ID_ROLES


def _role_of(headers: list[tuple[bytes, bytes]]) -> Role | None:
    """The caller's role by the same parser the routes use; None (masked) for anything it refuses."""
    try:
        values = [v.decode("latin-1") for k, v in headers if k.lower() == b"authorization"]
        return principal_from_headers(values).role
    except Exception:
        return None


class MaskIdsMiddleware(HttpMiddleware):
    """ASGI middleware every service installs: a JSON (or text) answer to a caller whose role may not
    see full IDs has every ID masked, and so has any answer to a caller without valid credentials (fail
    closed: a malformed header the route might still have read is never unmasked data). Streamed
    answers of other kinds (the service-only CSV export) pass untouched."""

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        role = _role_of(scope.get("headers") or [])
        if sees_full_ids(role):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def masking_send(message: dict[str, Any]) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                ctype = next((v for k, v in message.get("headers", []) if k.lower() == b"content-type"), b"")
                if ctype.startswith((b"application/json", b"text/plain", b"text/html")):
                    start = message
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = mask_ids(b"".join(chunks).decode("utf-8", errors="surrogateescape")).encode(
                    "utf-8", errors="surrogateescape")
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, masking_send)
