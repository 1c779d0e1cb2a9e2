"""Batch disbursement (批量发放): the one-time living subsidy and the price-linkage subsidy to every
eligible recipient of a region, paid in chunks by set-based SQL (schema ``payment``, migration 003).

The path is resumable and pays each recipient once per installment; one module per stage:

1. ``plan`` (pure): the measure must be in force for the region on the snapshot date; the amount comes
   from the policy pack (never from code): Ningxia's 600 yuan as 3 x 200 yuan (seed 002), Xinjiang's
   "at least 300 yuan" (seed 000, a floor a request may raise), Jiangxi's 「按照 6 月份发放标准增发」
   (seed 001) as each household's own June level (the pack's ``<measure>_level_month``: a request's flat
   amount is refused), and where a pack fixes no amount (Fujian seed 000) the request must give one. A
   price-linkage batch takes its amount from the triggering event, raised to a pack's minimum where a
   pack sets one (Xinjiang: 20 yuan), and says so. ``service`` registers the batch under its derived id
   (measure, region, occasion) and refuses an overlapping one; an amount a person set waits for a
   second official (four eyes).
2. ``load`` (with ``amounts``, the policy per recipient group): the cohort streamed into ``COPY``, the
   amounts per group, the levels, in ONE transaction; and the re-check before a later installment.
3. ``pay``: one transaction per chunk, keyed ``batch:<batch_id>:<person_id>:<installment>``.
4. ``events``: the per-payment ``doudi.payment.disbursed`` events from the committed ledger.

``views`` reads a batch for the routes; every statement is in ``services.payment.store``.
"""

from services.payment.batch.amounts import GroupAmounts, amounts_for_group
from services.payment.batch.errors import BatchNotFound, BatchNotRunning, BatchRejected
from services.payment.batch.plan import AWAITING_SECOND, CHINA, Planned, first_official, plan_request
from services.payment.batch.views import BatchAccepted, BatchList, BatchView

__all__ = [
    "AWAITING_SECOND", "CHINA", "BatchAccepted", "BatchList", "BatchNotFound", "BatchNotRunning", "BatchRejected",
    "BatchView", "GroupAmounts", "Planned", "amounts_for_group", "first_official", "plan_request",
]
