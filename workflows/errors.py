"""The failures a retry cannot cure, by name.

An activity that fails because of what it was asked (a measure no pack defines, a malformed region code,
no pack in force that sets the figure, a case the read model does not know) fails the same way on every
attempt: retrying it for ever hides a bug or a gap in the policy packs behind an endless retry. These
errors are raised non-retryable and are also listed by name in the retry policies
(``workflows/common.py``), so a worker on an older SDK path or an error re-raised by type alone still
stops at once. The case's workflow then fails visibly (Temporal marks it failed; the stalled-case sweep
and the operations dashboard show the case) and is reset after the packs or the code are fixed.

Transient failures (a database or a service that is down, a timeout) stay plain exceptions: retried.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from shared.policy import PolicyPackError, UnknownMeasureError

POLICY_ERROR = "PolicyError"
CONTRACT_VIOLATION = "ContractViolation"


class PolicyError(ApplicationError):
    """The policy packs cannot answer this request (no pack defines the measure, none in force sets the
    figure, the region code is malformed): a fix to the packs or the request, not a retry."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type=POLICY_ERROR, non_retryable=True)


class ContractViolation(ApplicationError):
    """A request that breaks a contract between a workflow and a service (a case the read model does not
    know, a value the contract forbids): a bug to fix, not an outage to wait out."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type=CONTRACT_VIOLATION, non_retryable=True)


# the error types every step's retry policy gives up on at once (the services' own non-retryable
# errors, raised with non_retryable=True, are named here too so that the policy reads as the list)
NON_RETRYABLE = [POLICY_ERROR, CONTRACT_VIOLATION, "InvalidCheckRequest", "EconomicCheckConflict",
                 "RecoveryRejected", "InvalidAccount"]


@contextmanager
def policy_errors() -> Iterator[None]:
    """Turn what a policy evaluation raises for the request itself into a ``PolicyError``: the packs are
    pure functions of their files and the request, so the same request fails the same way every time."""
    try:
        yield
    except (UnknownMeasureError, PolicyPackError, LookupError, ValueError) as exc:
        raise PolicyError(f"{type(exc).__name__}: {exc}") from exc
