"""A client that reaches Temporal directly cannot act as anyone: the workflows' validators take the
principal from the front door's signed assertion (shared/assertions.py), never from payload fields.
The time-skipping server, the emergency-relief workflow with fake services (test_emergency_relief_workflow)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from shared import assertions
from shared.assertions import AssertionSigner, Signatory
from tests.unit.conftest import TEST_SIGNER
from tests.unit.fakes import RELATIVE, FakeServices
from tests.unit.test_emergency_relief_workflow import (
    Running,
    at_stage,
    county,
    docs,
    rejected,
)
from workflows.emergency_relief.inputs import IneligibleResolution
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow

COUNTY_7 = Signatory(subject="county-7", role="county_approver", region="6501", person_id="650102197001010011")


def raw_client(env: WorkflowEnvironment) -> Client:
    """The same Temporal, without the signing interceptor: what anyone with network access has."""
    return Client(**{**env.client.config(), "interceptors": []})


async def signed(env: WorkflowEnvironment, case_id: str, update: str, body: dict[str, Any], who: Signatory,
                 signer: AssertionSigner = TEST_SIGNER) -> dict[str, Any]:
    return signer.sign(who, case_id=case_id, update=update, body=body, now=await env.get_current_time())


async def test_an_unsigned_admin_decision_sent_straight_to_temporal_pays_nothing(env: WorkflowEnvironment):
    fakes = FakeServices(amount=250000, decision="needs_county")
    async with Running(env, fakes) as handle:
        await at_stage(handle, "awaiting_county_decision")
        direct = raw_client(env).get_workflow_handle(handle.id)
        forged = {"approver": "mallory", "role": "admin", "approve": True, "amount_fen": 777_777_777_777,
                  "region": "", "pay_from": "county_fund"}
        await rejected(direct.execute_update("decide", forged), "unsigned")
        body = county().model_dump(mode="json", exclude={"assertion"})
        # signed, but for another case, another update, by another key, or re-labelled after signing
        await rejected(direct.execute_update("decide", await signed(env, "em-other", "decide", body, COUNTY_7)),
                       "not " + handle.id)
        await rejected(direct.execute_update("decide", await signed(env, handle.id, "escalate", body, COUNTY_7)),
                       "signed for update 'escalate'")
        stranger = AssertionSigner(assertions.new_private_key())
        await rejected(direct.execute_update("decide", await signed(env, handle.id, "decide", body, COUNTY_7,
                                                                    stranger)), "unknown key")
        tampered = await signed(env, handle.id, "decide", body, COUNTY_7)
        tampered["amount_fen"] = 777_777_777_777
        await rejected(direct.execute_update("decide", tampered), "tampered")
        # the payload claims admin, the signature says county approver: the signed principal wins (refused)
        relabelled = await signed(env, handle.id, "decide", {**body, "role": "admin"}, COUNTY_7)
        await rejected(direct.execute_update("decide", relabelled), "signed principal")
        # an official not in the registry (no signed person id) decides no money
        unregistered = COUNTY_7.model_copy(update={"person_id": None})
        await rejected(direct.execute_update("decide", await signed(env, handle.id, "decide", body, unregistered)),
                       "not in the officials registry")
        # an expired assertion (signed 11 minutes ago)
        stale = TEST_SIGNER.sign(COUNTY_7, case_id=handle.id, update="decide", body=body,
                                 now=await env.get_current_time() - timedelta(minutes=11))
        await rejected(direct.execute_update("decide", stale), "expired")
        # conflict of interest from the signed (registry) person id, whatever the payload says
        relative = COUNTY_7.model_copy(update={"person_id": RELATIVE})
        await rejected(direct.execute_update("decide", await signed(env, handle.id, "decide", body, relative)),
                       "conflict of interest")
        assert fakes.payments == []
        # the legitimate path: the registered county approver, signed by the front door
        await direct.execute_update("decide", await signed(env, handle.id, "decide", body, COUNTY_7))
        result = await handle.result()
    assert result.outcome == "paid"
    assert [p.amount_fen for p in fakes.payments] == [250000]


async def test_a_good_faith_correction_needs_an_official_other_than_the_approver(env: WorkflowEnvironment):
    fakes = FakeServices(amount=250000, decision="needs_county", check_required=True, eligible=False)
    async with Running(env, fakes) as handle:
        await at_stage(handle, "awaiting_county_decision")
        await handle.execute_update(EmergencyReliefWorkflow.decide, county(person_id="650102197001010011"))
        await at_stage(handle, "awaiting_documents")
        # documents that attest no sudden event: verification finds the household ineligible
        await handle.execute_update(EmergencyReliefWorkflow.submit_documents,
                                    docs(documents=[{"kind": "id_card", "reference": "id-1"}]))
        await at_stage(handle, "found_ineligible")

        def correction(**kw: Any) -> IneligibleResolution:
            return IneligibleResolution(**{**dict(official="county-9", role="county_approver", region="6501",
                                                  action="good_faith_correction", reason="erred in good faith"), **kw})

        # the approver (same subject, or the same registered person under another account) waives nothing
        await rejected(handle.execute_update(EmergencyReliefWorkflow.resolve_ineligible,
                                             correction(official="county-7")), "other than the one who approved")
        await rejected(handle.execute_update(EmergencyReliefWorkflow.resolve_ineligible,
                                             correction(person_id="650102197001010011")),
                       "other than the one who approved")
        # a member of the household waives nothing for it
        await rejected(handle.execute_update(EmergencyReliefWorkflow.resolve_ineligible,
                                             correction(person_id=RELATIVE)), "conflict of interest")
        await handle.execute_update(EmergencyReliefWorkflow.resolve_ineligible, correction())
        result = await handle.result()
    assert result.outcome == "corrected_in_good_faith"


async def test_a_reported_income_or_death_sent_straight_to_temporal_is_refused(env: WorkflowEnvironment):
    from datetime import date

    from tests.unit.test_renewal_workflow import CHILD, Fakes, Renewal, paid

    fakes = Fakes()
    async with Renewal(env, fakes) as handle:
        await paid(env, fakes, 1)
        direct = raw_client(env).get_workflow_handle(handle.id)
        income = {"monthly_income_fen": 2**63 - 1, "reason": "other", "effective_on": "2022-07-20"}
        death = {"person_id": CHILD, "died_on": "2022-07-20"}
        await rejected(direct.execute_update("income_changed", income), "unsigned")
        await rejected(direct.execute_update("member_deceased", death), "unsigned")
        # signed by the front door for a person (a clerk): still not a doudi service reporting it
        clerk = Signatory(subject="clerk-1", role="clerk", region="6401")
        await rejected(direct.execute_update("member_deceased", await signed(env, handle.id, "member_deceased",
                                                                             death, clerk)), "only a doudi service")
        # intake's service account reports it: recorded
        intake = Signatory(subject="intake", role="service")
        answer = await direct.execute_update("member_deceased", await signed(env, handle.id, "member_deceased",
                                                                             death, intake))
        assert "recorded" in answer
        status = await handle.query("status")
        assert [p["death"]["person_id"] for p in status["pending"]] == [CHILD]
        assert status["pending"][0]["death"].get("assertion") is None  # verified, not carried in the state
        assert date(2022, 7, 20).isoformat() == status["pending"][0]["effective_on"]
        await handle.terminate("test over")
