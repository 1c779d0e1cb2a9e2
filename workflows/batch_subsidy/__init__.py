"""Batch subsidies (domain pathway 6): the one-time living subsidy (一次性生活补贴) and the price-linkage
subsidy (价格临时补贴) to every eligible recipient of a region at a snapshot date, as ONE durable process
that pays in chunks, not one workflow per recipient.

Seeds: 002 (Ningxia: "增发一次性生活补贴600元 ... 从2022年6月开始，连续发放3个月", three installments of
200 yuan, each at its month start), 000 (Xinjiang: a one-time living subsidy of at least 300 yuan; the
price-linkage subsidy at least 20 yuan; Fujian: 617,800 dibao and extreme-poverty recipients, about 73
million yuan planned for the one-time subsidy), 001 (Jiangxi: one month's benefit, 按照6月份发放标准).

How it works (see ``workflow.py``): plan (policy, derived batch id) -> load the cohort once (intake's
streaming export COPYed into payment's staging table) -> per installment: wait for its month start
(a durable timer), re-check who is still eligible, pay chunk after chunk (one transaction per chunk,
``INSERT ... SELECT ... ON CONFLICT (idempotency_key) DO NOTHING``).
"""
