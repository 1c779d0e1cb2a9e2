"""Township reserve rules (seed 000, Xinjiang: paid first from the township reserve, replenished by the
county when it runs short) and the reserve API's bodies, without a database."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.payment.models import ReplenishmentDecisionIn, ReserveConfigIn, ReserveCreditIn
from services.payment.reserves import (
    InvalidAccount,
    county_of,
    credit_entry_id,
    funding_key,
    replenishment_key,
    replenishment_need,
    reserve_code,
)
from shared.contracts.activities import COUNTY_FUND, TOWNSHIP_RESERVE, account


def need(balance: int, threshold: int = 0, target: int = 0, waiting: int = 0) -> int:
    return replenishment_need(balance_fen=balance, threshold_fen=threshold, target_fen=target,
                              waiting_fen=waiting)


class TestReplenishmentNeed:
    def test_nothing_to_ask_while_above_threshold_and_nothing_waits(self):
        assert need(500_000, threshold=100_000, target=1_000_000) == 0
        assert need(100_000, threshold=100_000, target=1_000_000) == 0   # at the threshold is not below
        assert need(0) == 0

    def test_below_threshold_asks_to_get_back_to_target(self):
        assert need(99_999, threshold=100_000, target=1_000_000) == 900_001

    def test_waiting_payments_are_added_to_the_target(self):
        assert need(50_000, threshold=100_000, target=1_000_000, waiting=180_000) == 1_130_000

    def test_an_unconfigured_reserve_asks_exactly_for_the_shortfall(self):
        assert need(0, waiting=20 * 180_000) == 3_600_000
        assert need(100_000, waiting=180_000) == 80_000

    def test_waits_the_balance_covers_ask_nothing(self):
        assert need(360_000, waiting=180_000) == 0

    def test_never_less_than_the_shortfall(self):
        for balance in (0, 1, 99_999, 100_000, 2_000_000):
            for waiting in (0, 1, 180_000, 5_000_000):
                asked = need(balance, threshold=100_000, target=1_000_000, waiting=waiting)
                assert asked >= waiting - balance
                if asked:
                    assert balance + asked >= waiting   # approving the ask pays every waiting payment

    def test_after_approving_the_ask_nothing_more_is_needed_once_the_waits_are_paid(self):
        balance, waiting = 20_000, 3_600_000
        asked = need(balance, threshold=900_000, target=1_800_000, waiting=waiting)
        credited = balance + asked
        assert need(credited, threshold=900_000, target=1_800_000, waiting=waiting) == 0
        assert credited - waiting == 1_800_000   # back at the target once the waits are paid


class TestAccounts:
    def test_township_and_county_level_reserves(self):
        assert reserve_code(account(TOWNSHIP_RESERVE, "650102001")) == "650102001"
        assert reserve_code(account(TOWNSHIP_RESERVE, "650102")) == "650102"
        assert county_of("650102001") == "650102"

    def test_the_county_fund_has_no_reserve(self):
        assert reserve_code(account(COUNTY_FUND, "650102")) is None

    @pytest.mark.parametrize("code", ["", "6501", "65010200", "6501020011", "65010a001", "650102 "])
    def test_a_malformed_reserve_account_is_a_non_retryable_bug(self, code: str):
        with pytest.raises(InvalidAccount) as err:
            reserve_code(f"{TOWNSHIP_RESERVE}:{code}")
        assert err.value.non_retryable and err.value.type == "InvalidAccount"

    def test_ledger_keys_of_credits(self):
        assert funding_key("fy2022-q3") == "fund:fy2022-q3"
        assert replenishment_key("rr-1") == "replenish:rr-1"
        assert credit_entry_id("fund:a") == credit_entry_id("fund:a") != credit_entry_id("fund:b")
        assert credit_entry_id("fund:a").startswith("cr-")


class TestBodies:
    def test_amounts_are_whole_positive_fen(self):
        ok = ReserveCreditIn(amount_fen=180_000, idempotency_key="k-1", reason="quarterly allocation")
        assert ok.amount_fen == 180_000
        for bad in (1800.5, 180_000.0, "180000", 0, -1, True):
            with pytest.raises(ValidationError) as err:
                ReserveCreditIn(amount_fen=bad, idempotency_key="k-1", reason="r")
            assert err.value.errors()[0]["loc"] == ("amount_fen",)

    def test_a_credit_needs_a_key_and_a_reason(self):
        with pytest.raises(ValidationError) as err:
            ReserveCreditIn(amount_fen=1, idempotency_key="", reason="")
        assert {e["loc"] for e in err.value.errors()} == {("idempotency_key",), ("reason",)}

    def test_target_below_threshold_is_refused(self):
        assert ReserveConfigIn(threshold_fen=0, target_fen=0).target_fen == 0
        with pytest.raises(ValidationError, match="target_fen must not be below threshold_fen"):
            ReserveConfigIn(threshold_fen=200, target_fen=100)

    def test_a_decision_is_a_real_boolean_with_an_optional_positive_amount(self):
        assert ReplenishmentDecisionIn(approve=True, reason="ok").amount_fen is None
        with pytest.raises(ValidationError):
            ReplenishmentDecisionIn(approve="yes", reason="ok")
        with pytest.raises(ValidationError):
            ReplenishmentDecisionIn(approve=True, amount_fen=0, reason="ok")
        with pytest.raises(ValidationError):
            ReplenishmentDecisionIn(approve=True, reason="ok", extra=1)
