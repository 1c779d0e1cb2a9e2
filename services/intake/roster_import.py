"""Importing existing recipient households into the roster (``POST /api/enrolments/import``, ``doudi
import``): an authorised roster registration of each household, then its enrolment at the level given or
computed by the pack in force at ``enrolled_from``. All or nothing: one transaction, a savepoint per line,
rolled back if any line is refused; the body is read line by line as it streams in, so memory holds one
line whatever the file's size."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import asyncpg
from pydantic import ValidationError

from services.intake import enrolment, registry
from services.intake.models import ImportLine, ImportResult
from services.intake.store import roster
from shared.infra.db import unit_of_work
from shared.policy import load_library, monthly_benefit
from workflows.renewal.inputs import Household, cadence_of

MAX_ERRORS = 200  # the refused lines an answer names


class ImportRefused(Exception):
    """Lines were refused: nothing is imported. ``lines``: the first refused lines and what is wrong."""

    def __init__(self, refused: int, lines: list[dict[str, Any]]):
        super().__init__(f"{refused} line(s) refused")
        self.refused = refused
        self.lines = lines


def _imported_household(line: ImportLine) -> Household:
    """The renewal workflow's view of an imported household at ``enrolled_from`` (its head first)."""
    return enrolment.household_from_registry(
        [m.model_dump() for m in line.household.members],
        monthly_income_fen=line.household.monthly_income_fen,
        urban=line.household.urban, extreme_poverty=line.kind == "extreme_poverty",
        income_stable=line.income_stable, on=_first_day(line.enrolled_from), remote=line.household.remote,
        categories=[str(c) for c in line.household.categories],
    ).model_copy(update={"monthly_rigid_expenditure_fen": line.monthly_rigid_expenditure_fen,
                         "single_person": line.single_person})


def _first_day(period: str) -> date:
    return date.fromisoformat(period + "-01")


def _line_level(line: ImportLine) -> tuple[int | None, str]:
    if line.level_fen is not None:
        return line.level_fen, ""
    b = monthly_benefit(load_library(), line.household.region_code, _first_day(line.enrolled_from),
                        _imported_household(line).benefit_facts())
    return (b.amount_fen, "") if b.payable else (None, b.reason)


def _first_review(line: ImportLine, cadence: str) -> str | None:
    months = enrolment.whole_figure(f"review_interval_{cadence}_months", line.household.region_code,
                                    _first_day(line.enrolled_from))
    return enrolment.add_months(line.enrolled_from, months) if months else None


class LineTooLong(Exception):
    def __init__(self, line: int, limit: int):
        super().__init__(f"line {line} is longer than {limit} bytes")
        self.line = line
        self.limit = limit


async def ndjson_lines(chunks: AsyncIterator[bytes], max_line: int) -> AsyncIterator[tuple[int, bytes]]:
    """The numbered lines of an NDJSON body as it streams in: at most one line (and one chunk) in memory;
    a line longer than ``max_line`` raises ``LineTooLong`` and nothing more is read."""
    pending, n = b"", 0
    async for chunk in chunks:
        data, start = pending + chunk, 0
        while (end := data.find(b"\n", start)) >= 0:
            n += 1
            if end - start > max_line:
                raise LineTooLong(n, max_line)
            yield n, data[start:end]
            start = end + 1
        pending = data[start:]
        if len(pending) > max_line:
            raise LineTooLong(n + 1, max_line)
    if pending.strip():
        yield n + 1, pending


def _checked_line(raw: bytes,
                  may_see: Callable[[str], bool]) -> tuple[ImportLine, int] | list[dict[str, Any]]:
    """The line and its level, or what is wrong with it."""
    try:
        line = ImportLine.model_validate(json.loads(raw))
    except ValidationError as exc:
        # without ctx: it may hold the validator's exception, which no JSON answer can carry (a 500)
        return [dict(e) for e in exc.errors(include_url=False, include_input=False, include_context=False)]
    except ValueError as exc:
        return [{"msg": f"not JSON: {exc}"}]
    if not may_see(line.household.region_code):
        return [{"loc": ["household", "region_code"], "msg": "outside your jurisdiction"}]
    level, why = _line_level(line)
    if level is None:
        return [{"loc": ["level_fen"], "msg": f"not payable: {why}"}]
    return line, level


async def _enrol(conn: asyncpg.Connection, line: ImportLine, level: int) -> bool:
    """Enrol one imported household (already registered); True when newly enrolled. The standard it is
    priced at is the one in force at enrolled_from, where the level is computed; the facts it is computed
    from are kept, so a raised standard (提标) reprices them exactly."""
    h = _imported_household(line)
    cadence = cadence_of(h)
    return await roster.enrol_imported(
        conn, household_id=line.household.household_id,
        enrolment_id=enrolment.enrolment_id_for_import(line.household.household_id),
        person_id=h.members[0].person_id,
        kind=line.kind, level_fen=level, cadence=cadence, rural_quarterly=line.rural_quarterly,
        next_review=line.next_review or _first_review(line, cadence), paid_through=line.paid_through,
        enrolled_from=line.enrolled_from, rigid_fen=line.monthly_rigid_expenditure_fen,
        single_person=line.single_person,
        priced=enrolment.priced_standard(line.household.region_code, line.household.urban, line.kind,
                                         line.enrolled_from),
        facts=h.benefit_facts())


async def import_roster(pool: asyncpg.Pool, body: AsyncIterator[bytes], by: registry.Registrar,
                        may_see: Callable[[str], bool], *, max_line: int) -> ImportResult:
    """Import every line of an NDJSON body, or nothing (``ImportRefused``, ``LineTooLong``)."""
    errors: list[dict[str, Any]] = []
    refused = lines = enrolled = 0
    async with unit_of_work(pool) as conn:
        async for n, raw in ndjson_lines(body, max_line):
            if not raw.strip():
                continue
            checked = _checked_line(raw, may_see)
            if isinstance(checked, tuple):
                try:
                    enrolled += await _register_and_enrol(conn, *checked, by)
                    lines += 1
                    continue
                except registry.RegistrationRefused as exc:
                    checked = [{"loc": ["household", *exc.loc[1:]], "msg": exc.msg}]
            refused += 1
            if len(errors) < MAX_ERRORS:
                errors.append({"line": n, "errors": checked})
        if refused:
            raise ImportRefused(refused, errors)
    return ImportResult(lines=lines, enrolled=enrolled, already_enrolled=lines - enrolled)


async def _register_and_enrol(conn: asyncpg.Connection, line: ImportLine, level: int,
                              by: registry.Registrar) -> bool:
    async with conn.transaction():  # a savepoint: a refused line leaves nothing behind
        await registry.register(conn, line.household, by)
        return await _enrol(conn, line, level)
