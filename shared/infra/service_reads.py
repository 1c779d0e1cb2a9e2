"""What the services' record reads for the front door share (intake's registry and roster, payment's
ledger): service accounts only, a month and a region prefix as query parameters, the jurisdiction the
service token carries (the official's own, minted by the front door) applied at the source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Query, status

from shared.auth import Principal, Role, current_principal, require_jurisdiction

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
REGION_PREFIX_PATTERN = r"^(\d{2}(\d{2}(\d{2}(\d{3})?)?)?)?$"  # 2, 4, 6 or 9 digits, or empty
RegionPrefix = Annotated[str, Query(pattern=REGION_PREFIX_PATTERN,
                                    description="a region-code prefix; empty = the whole jurisdiction")]
Month = Annotated[str, Query(pattern=MONTH_PATTERN, description="YYYY-MM, a month of Beijing time")]
OptionalMonth = Annotated[str, Query(pattern=r"^(\d{4}-(0[1-9]|1[0-2]))?$",
                                     description="YYYY-MM, a month of Beijing time; empty = now")]
RegionLevel = Annotated[int, Query(ge=2, le=9, description="group by the region code's first digits")]


def service_only(what: str) -> Callable[[Principal], Principal]:
    """A dependency: the caller is a service account (403 "<what> are for service accounts only")."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role != Role.service:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{what} are for service accounts only")
        return principal

    return dependency


def scope(principal: Principal, region_prefix: str) -> str:
    """The prefix to read: the asked one inside the jurisdiction (403 outside), else the jurisdiction."""
    if not region_prefix:
        return principal.region
    require_jurisdiction(principal, region_prefix)
    return region_prefix
