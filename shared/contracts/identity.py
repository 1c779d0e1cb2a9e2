"""National ID numbers (居民身份证号码, GB 11643-1999) and administrative region codes (GB/T 2260)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator

from shared.regions import require_known_county

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# ASCII digits only (``\d`` would take full-width and other scripts' digits), the whole string (``$`` would
# allow a trailing newline): used with fullmatch.
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_REGION_SHAPE = re.compile(r"[0-9]{6}([0-9]{3})?")


def id_check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits."""
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def validate_national_id(value: str) -> str:
    value = value.strip().upper()
    if not _ID_SHAPE.fullmatch(value):
        raise ValueError("national ID must be 17 digits followed by a digit or X (18 characters)")
    if id_check_character(value[:17]) != value[17]:
        raise ValueError("national ID check character is wrong (GB 11643-1999, ISO 7064 MOD 11-2)")
    return value


def validate_region_code(value: str) -> str:
    if not _REGION_SHAPE.fullmatch(value):
        raise ValueError("region_code must be a 6-digit GB/T 2260 county code, optionally + 3-digit township")
    if value[:2] == "00":
        raise ValueError("region_code has no province")
    return value


def birth_date_of(national_id: str) -> date | None:
    """The birth date an 18-character ID carries in its 7th-14th characters (None if they are not a date)."""
    try:
        return date(int(national_id[6:10]), int(national_id[10:12]), int(national_id[12:14]))
    except ValueError:
        return None


def mask_national_id(value: str) -> str:
    """Keep the region and the check character; hide the birth date and sequence."""
    return value[:6] + "********" + value[14:] if len(value) == 18 else "***"


NationalId = Annotated[str, AfterValidator(validate_national_id)]
RegionCode = Annotated[str, AfterValidator(validate_region_code)]
# A region code that must name a county of the official table (shared/regions): a household's and an
# application's region, where a person reads the 422. Inbound events keep the shape check alone (RegionCode):
# an agency's event is not refused for a code the table does not list yet.
KnownCountyCode = Annotated[str, AfterValidator(validate_region_code), AfterValidator(require_known_county)]


def county_of(region_code: str) -> str:
    return region_code[:6]
