"""Bearer-token authentication and role/jurisdiction authorisation for every HTTP route.

Tokens are HS256 JWTs signed with ``DOUDI_JWT_SECRET``: ``sub`` (who), ``role``, ``region`` (the
jurisdiction: a region-code prefix, "" for province-wide service accounts), ``exp``.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from shared.config import get_settings


class Role(StrEnum):
    clerk = "clerk"
    township_approver = "township_approver"
    county_approver = "county_approver"
    committee = "committee"
    finance = "finance"
    auditor = "auditor"
    admin = "admin"
    service = "service"


class Principal(BaseModel):
    subject: str
    role: Role
    region: str = ""  # jurisdiction prefix; "" = everywhere
    person_id: str | None = None  # the official's own national ID (conflict-of-interest checks)

    def may_see(self, region_code: str | None) -> bool:
        return not self.region or (region_code or "").startswith(self.region)


def issue_token(subject: str, role: Role | str, *, region: str = "", ttl_s: int = 12 * 3600,
                secret: str | None = None, person_id: str | None = None) -> str:
    settings = get_settings()
    now = int(time.time())
    claims = {"sub": subject, "role": str(Role(role)), "region": region, "iss": settings.jwt_issuer,
              "iat": now, "exp": now + ttl_s}
    if person_id:
        claims["pid"] = person_id
    return jwt.encode(claims, secret or settings.jwt_secret, algorithm="HS256")


def decode_token(token: str) -> Principal:
    settings = get_settings()
    claims = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"], issuer=settings.jwt_issuer,
                        options={"require": ["exp", "sub", "role"]})
    return Principal(subject=claims["sub"], role=Role(claims["role"]), region=claims.get("region", ""),
                     person_id=claims.get("pid"))


_bearer = HTTPBearer(auto_error=False)


def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bearer token required",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        return decode_token(credentials.credentials)
    except (jwt.PyJWTError, ValueError) as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"invalid token: {exc}",
                            headers={"WWW-Authenticate": "Bearer"}) from None


def require_roles(*roles: Role):
    allowed = set(roles) | {Role.admin}

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"role {principal.role} may not do this (needs one of {sorted(allowed)})")
        return principal

    return dependency


Authenticated = Annotated[Principal, Depends(current_principal)]
