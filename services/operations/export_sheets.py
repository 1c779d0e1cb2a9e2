"""Writing a table of the office's records as CSV or Excel (xlsx), streamed.

A ``Sheet`` is a title, Chinese headers and rows that arrive asynchronously (a service's streamed export),
so neither format holds the rows in memory: CSV is written row by row into the response; xlsx goes
through openpyxl's write-only mode into a temporary file, which is then streamed and removed. Amounts
are ``Yuan`` cells: in CSV the text ``1950.00``, in xlsx an exact decimal number shown with two decimals;
both made from integer fen without a float. National IDs are masked for roles that may not see them
(the masking middleware passes binary and CSV answers untouched, so it is done here)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi.responses import FileResponse, StreamingResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from starlette.background import BackgroundTask

from services.operations.records_format import yuan_decimal, yuan_text
from shared.auth import mask_ids

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
CHUNK = 64 * 1024
XLSX_BATCH = 2000  # rows handed to the writer thread at a time


@dataclass(frozen=True)
class Yuan:
    """An amount cell: integer fen, shown in yuan with two decimals."""

    fen: int


Cell = str | int | Yuan | None
Row = list[Cell]


@dataclass
class Sheet:
    title: str                 # the worksheet's name (31 characters at most)
    headers: list[str]
    rows: AsyncIterator[Row]
    filename: str              # without extension


# A text a spreadsheet program would run as a formula (CSV injection, OWASP): a name or a note that starts
# with one of these is written as text: in CSV behind a ', in xlsx as a string cell (never a formula).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(cell: Cell, masked: bool) -> str:
    if cell is None:
        return ""
    if isinstance(cell, Yuan):
        return yuan_text(cell.fen)
    text = mask_ids(str(cell)) if masked else str(cell)
    return "'" + text if isinstance(cell, str) and text.startswith(FORMULA_STARTS) else text


def _disposition(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def csv_response(sheet: Sheet, *, masked: bool) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        buffer.write("\ufeff")  # a byte-order mark: spreadsheet programs read the Chinese as UTF-8
        writer.writerow(sheet.headers)
        async for row in sheet.rows:
            writer.writerow([_text(c, masked) for c in row])
            if buffer.tell() >= CHUNK:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode("utf-8")

    return StreamingResponse(body(), media_type=CSV_TYPE, headers=_disposition(sheet.filename + ".csv"))


async def xlsx_response(sheet: Sheet, *, masked: bool) -> FileResponse:
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet.title[:31])
    ws.append(sheet.headers)

    def cell(value: Cell) -> Any:
        if isinstance(value, Yuan):
            # openpyxl writes a Decimal as an exact number; its stubs list only float
            amount = WriteOnlyCell(ws, value=yuan_decimal(value.fen))  # type: ignore[arg-type]
            amount.number_format = "0.00"
            return amount
        if isinstance(value, str):
            text = mask_ids(value) if masked else value
            if text.startswith(FORMULA_STARTS):
                as_text = WriteOnlyCell(ws, value=text)
                as_text.data_type = "s"  # openpyxl would take a leading = for a formula
                return as_text
            return text
        return value

    def append(batch: list[Row]) -> None:
        for row in batch:
            ws.append([cell(c) for c in row])

    # openpyxl is synchronous and CPU-bound (about 3 minutes for 617,800 rows on a busy machine): it runs in
    # a worker thread a batch at a time, so the front door keeps answering while a big sheet is written
    batch: list[Row] = []
    async for row in sheet.rows:
        batch.append(row)
        if len(batch) >= XLSX_BATCH:
            await asyncio.to_thread(append, batch)
            batch = []
    await asyncio.to_thread(append, batch)
    fd, path = tempfile.mkstemp(prefix="doudi-export-", suffix=".xlsx")
    os.close(fd)
    try:
        await asyncio.to_thread(book.save, path)
    except BaseException:
        os.unlink(path)
        raise
    # streamed from the file, which is removed once sent
    return FileResponse(path, media_type=XLSX_TYPE, headers=_disposition(sheet.filename + ".xlsx"),
                        background=BackgroundTask(os.unlink, path))


async def rows_of(items: list[Any], to_row: Callable[[Any], Row]) -> AsyncIterator[Row]:
    """An in-memory list (a to-do list, a report's few rows) as a sheet's rows."""
    for item in items:
        yield to_row(item)
