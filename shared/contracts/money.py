"""Money is integer fen (1 yuan = 100 fen) everywhere; never floats."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

MAX_FEN = 2**63 - 1  # what the ledger's bigint holds; a larger amount is invalid input, not a server error
Fen = Annotated[StrictInt, Field(ge=0, le=MAX_FEN, description="amount in fen (1 yuan = 100 fen)")]


def yuan(amount: int) -> int:
    """Whole yuan to fen, for readable tests and packs."""
    return amount * 100


def format_fen(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"
