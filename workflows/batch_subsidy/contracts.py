"""The batch pathway's activities on the payment service's task queue: names and one model each.

Pure: the workflow imports these through ``imports_passed_through``; ``services.payment.batch``
implements them.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from workflows.batch_subsidy.inputs import BatchRequest

PLAN = "payment.batch_plan"
LOAD_COHORT = "payment.batch_load_cohort"
RECHECK_COHORT = "payment.batch_recheck_cohort"
PAY_CHUNK = "payment.batch_pay_chunk"
SET_STATUS = "payment.batch_set_status"


class PlanBatch(BaseModel):
    batch_id: str
    request: BatchRequest


class LoadCohort(BaseModel):
    batch_id: str


class CohortLoaded(BaseModel):
    batch_id: str
    total: int              # recipients in the cohort at the snapshot
    payable: int            # of them, those the policy pays
    chunks: int             # chunks per installment
    expected_payments: int  # over every installment
    expected_fen: int


class RecheckCohort(BaseModel):
    """Before a later installment: who of the cohort is still a recipient on ``on``."""

    batch_id: str
    installment: int
    on: date


class Rechecked(BaseModel):
    batch_id: str
    installment: int
    stopped: int  # recipients no later installment pays (died, moved out, no longer enrolled)


class PayChunk(BaseModel):
    batch_id: str
    installment: int
    chunk: int  # 0-based: ordinals chunk*size+1 .. (chunk+1)*size


class ChunkPaid(BaseModel):
    batch_id: str
    installment: int
    chunk: int
    paid_count: int
    paid_fen: int
    already_done: bool = False  # a retry of a chunk that had committed: the counts are the first attempt's


class StatusChange(BaseModel):
    batch_id: str
    status: str  # loading | paying | waiting | paused | cancelled | completed
    note: str = ""
    installment: int | None = None
    next_due_at: datetime | None = None
