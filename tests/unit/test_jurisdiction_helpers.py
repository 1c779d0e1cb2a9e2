"""The one jurisdiction check (shared/auth.py): 403 for acting outside one's region, 404 for reading what
lies outside it (no existence leak), the record itself when it is visible."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from shared.auth import Principal, Role, found_in_jurisdiction, require_jurisdiction, visible_to

YINCHUAN = Principal(subject="clerk-1", role=Role.clerk, region="6401")
PROVINCE_WIDE = Principal(subject="admin-1", role=Role.admin, region="")


def test_acting_inside_the_jurisdiction_passes_and_outside_is_403_naming_what() -> None:
    require_jurisdiction(YINCHUAN, "640104")
    require_jurisdiction(PROVINCE_WIDE, "650102")
    with pytest.raises(HTTPException) as refused:
        require_jurisdiction(YINCHUAN, "640202")
    assert refused.value.status_code == 403
    assert refused.value.detail == "region 640202 is outside your jurisdiction"
    with pytest.raises(HTTPException) as named:
        require_jurisdiction(YINCHUAN, "640202", what="reserve 640202")
    assert named.value.detail == "reserve 640202 is outside your jurisdiction"


def test_a_record_outside_the_jurisdiction_reads_as_not_found_like_a_missing_one() -> None:
    found_in_jurisdiction(YINCHUAN, "640104", "case c-1")
    answers = []
    for region in (None, "640202", "6402"):
        with pytest.raises(HTTPException) as missing:
            found_in_jurisdiction(YINCHUAN, region, "case c-1")
        answers.append((missing.value.status_code, missing.value.detail))
    assert answers == [(404, "case c-1 not found")] * 3
    with pytest.raises(HTTPException) as told:
        found_in_jurisdiction(YINCHUAN, None, "cycle x", detail="cycle x not found (not reviewed yet?)")
    assert told.value.detail == "cycle x not found (not reviewed yet?)"


def test_visible_to_returns_the_record_itself_or_404() -> None:
    record = {"region_code": "640104", "id": "hh-1"}
    assert visible_to(YINCHUAN, record, lambda r: r["region_code"], "household hh-1") is record
    for absent in (None, {"region_code": "640202", "id": "hh-2"}):
        with pytest.raises(HTTPException) as missing:
            visible_to(YINCHUAN, absent, lambda r: r["region_code"], "household hh-1")
        assert missing.value.status_code == 404
