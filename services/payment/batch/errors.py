"""What can go wrong with a batch, as the routes map it: a request the policy refuses (422) or that
conflicts with another batch (409); no such batch (404); a batch not in a state for the action (409)."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError


class BatchRejected(Exception):
    """The request cannot become a batch (422: invalid for the policy; 409: conflicts with a batch)."""

    def __init__(self, reason: str, status_code: int = 422):
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code


class BatchNotFound(LookupError):
    pass


class BatchNotRunning(Exception):
    pass


def not_retryable(message: str) -> ApplicationError:
    """An activity's answer to a batch or installment that does not exist: a bug, never retried."""
    return ApplicationError(message, type="BatchRejected", non_retryable=True)
