"""The contracts between the enrolment duties (workflows/enrolment_duties) and intake's activities: the
public notice (张榜公示) posted and closed. One input model per activity; intake keeps the notice list."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

POST_PUBLIC_NOTICE = "intake.post_public_notice"
CLOSE_PUBLIC_NOTICE = "intake.close_public_notice"


class PublicNoticePost(BaseModel):
    """A case's application on the public notice for a period (one row per case and round; idempotent)."""

    case_id: str
    round: int = Field(ge=1)
    person_id: str
    household_id: str | None
    region_code: str
    kind: Literal["dibao", "extreme_poverty"]
    household_size: int = Field(ge=1)
    monthly_amount_fen: int = Field(ge=0)
    posted_on: date
    ends_at: datetime


class PublicNoticeClose(BaseModel):
    """The notice's period ended without objection (``clean``) or an objection reopened the check."""

    case_id: str
    round: int = Field(ge=1)
    outcome: Literal["clean", "objected"]
    at: datetime
