"""Intake's activities for the public notice board (张榜公示, workflows/enrolment_duties): post a case's
round on the notice list, close it clean or objected. Idempotent by case and round (task queue ``intake``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from services.intake.store.notices import NoticeBoard
from shared.contracts import duties as contract


class NoticeActivities:
    def __init__(self, board: NoticeBoard):
        self._board = board

    def all(self) -> list[Callable[..., Any]]:
        return [self.post_public_notice, self.close_public_notice]

    @activity.defn(name=contract.POST_PUBLIC_NOTICE)
    async def post_public_notice(self, notice: contract.PublicNoticePost) -> None:
        await self._board.post(notice)

    @activity.defn(name=contract.CLOSE_PUBLIC_NOTICE)
    async def close_public_notice(self, closed: contract.PublicNoticeClose) -> None:
        await self._board.close(closed)
