"""Money is integer fen (1 yuan = 100 fen) everywhere; never floats."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt

MAX_FEN = 2**63 - 1  # what the ledger's bigint holds; a larger amount is invalid input, not a server error
Fen = Annotated[StrictInt, Field(ge=0, le=MAX_FEN, description="amount in fen (1 yuan = 100 fen)")]

# Sane maxima per kind of amount: a value above one is a typo or an attack, refused with 422 naming the
# field before it reaches a workflow, a ledger row or an aggregate. They sit above every delegated limit
# of the packs (the prefecture's local-practice cap is 200,000 yuan per case), so the packs, not these,
# bind a legitimate decision.
MAX_CASE_AMOUNT_FEN = 100_000_000        # one case's aid: 1,000,000 yuan
# one recipient's batch subsidy: 5,000 yuan (Ningxia pays 600, Xinjiang >= 300)
MAX_PER_PERSON_SUBSIDY_FEN = 500_000
MAX_MONTHLY_INCOME_FEN = 100_000_000     # a household's monthly income or expenditure: 1,000,000 yuan
MAX_ANNUAL_SELF_PAY_FEN = 1_000_000_000  # a year's medical self-pay: 10,000,000 yuan
MAX_RESERVE_TARGET_FEN = 1_000_000_000   # a township reserve's approved size (target): 10,000,000 yuan
CaseFen = Annotated[StrictInt, Field(ge=0, le=MAX_CASE_AMOUNT_FEN, description="one case's amount in fen")]
PositiveCaseFen = Annotated[StrictInt, Field(gt=0, le=MAX_CASE_AMOUNT_FEN,
                                             description="one case's amount in fen, > 0")]
SubsidyFen = Annotated[StrictInt, Field(gt=0, le=MAX_PER_PERSON_SUBSIDY_FEN,
                                        description="a batch subsidy per recipient in fen, > 0")]
IncomeFen = Annotated[StrictInt, Field(ge=0, le=MAX_MONTHLY_INCOME_FEN,
                                       description="a monthly amount in fen")]
SelfPayFen = Annotated[StrictInt, Field(ge=0, le=MAX_ANNUAL_SELF_PAY_FEN,
                                        description="a year's self-pay in fen")]


def yuan(amount: int) -> int:
    """Whole yuan to fen, for readable tests and packs."""
    return amount * 100
