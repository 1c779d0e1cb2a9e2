"""Staged aid (分阶段救助 / 分期发放), domain pathway 2: a plan of installments, each paid at its
date only after re-checking that the person is still eligible (enrolled, alive, not moved away);
paused, resumed, adjusted or cancelled by validated updates; never more than the plan.

Seeds: 001 (Jiangxi: "staged assistance"), 002 (Ningxia: the one-time living subsidy of 600 yuan
paid 200 a month for three months from June 2022).
"""
