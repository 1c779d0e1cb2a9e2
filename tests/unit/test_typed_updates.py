"""Typed updates (issue 15): every update and signal a case workflow takes has a model of its own, callers
send the handler and its model (no dict bodies, no names as strings), and the approval inbox sends a
decision as the model of the case's own ``decide``. The JSON on the wire is what recorded histories carry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio import workflow

from shared import assertions
from shared.assertions import AssertionSigner, Signatory
from shared.infra.case_updates import update_case
from shared.infra.errors import Conflict, NotFound
from tests.unit.fakes import FakeTemporal
from workflows.batch_subsidy.workflow import BatchSubsidyWorkflow
from workflows.emergency_relief.inputs import CountyDecision, Escalation
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
from workflows.escalation import CommitteeEscalation
from workflows.one_matter.workflow import OneMatterWorkflow
from workflows.one_off_assistance.workflow import OneOffAssistanceWorkflow
from workflows.renewal.workflow import RenewalWorkflow
from workflows.staged_aid.workflow import StagedAidWorkflow
from workflows.updates import decide_on_case

CASE_WORKFLOWS = (EmergencyReliefWorkflow, OneOffAssistanceWorkflow, RenewalWorkflow, OneMatterWorkflow,
                  StagedAidWorkflow, BatchSubsidyWorkflow)
COUNTY = Signatory(subject="county-7", role="county_approver", region="6401", person_id="640104197001010011")


@pytest.fixture
def signs(monkeypatch: pytest.MonkeyPatch) -> AssertionSigner:
    signer = AssertionSigner(assertions.new_private_key())
    monkeypatch.setattr(assertions, "_SIGNER", signer)
    return signer


def decision(**over: Any) -> CountyDecision:
    return CountyDecision(**{**dict(approver="county-7", role="county_approver", approve=True, amount_fen=195000,
                                    reason="", region="6401", person_id=COUNTY.person_id), **over})


@pytest.mark.parametrize("cls", CASE_WORKFLOWS, ids=lambda c: c.__name__)
def test_every_update_and_signal_takes_a_model_of_its_own(cls: type) -> None:
    defn = workflow._Definition.must_from_class(cls)
    for name, update in defn.updates.items():
        assert update.arg_types and len(update.arg_types) == 1, f"{cls.__name__}.{name}"
        assert issubclass(update.arg_types[0], BaseModel), f"{cls.__name__}.{name} takes {update.arg_types}"
    for name, signal in defn.signals.items():
        assert all(issubclass(t, BaseModel) for t in signal.arg_types or ()), f"{cls.__name__}.{name}"


def test_decide_has_one_model_per_workflow_and_keeps_its_name() -> None:
    models = {cls.__name__: workflow._Definition.must_from_class(cls).updates["decide"].arg_types[0]  # type: ignore[index]  # every one of these declares decide with one argument
              for cls in (EmergencyReliefWorkflow, OneOffAssistanceWorkflow, RenewalWorkflow, OneMatterWorkflow)}
    assert len(set(models.values())) == 4, models
    assert [m.__name__ for m in models.values()] == ["CountyDecision", "ApproverDecision", "EnrolmentDecision",
                                                      "CommitteeDecision"]


@pytest.mark.parametrize(("cls", "with_pay_from"), [(EmergencyReliefWorkflow, True),
                                                    (OneOffAssistanceWorkflow, False), (RenewalWorkflow, False)])
async def test_the_inbox_sends_a_decision_as_the_cases_own_model(signs: AssertionSigner, cls: type,
                                                                 with_pay_from: bool) -> None:
    temporal = FakeTemporal()
    temporal.run("c-1", cls)
    await decide_on_case(temporal, "c-1", decision(pay_from="county_fund"), by=COUNTY)  # type: ignore[arg-type]  # the fake stands in for the client
    [(case_id, update, body)] = temporal.updates
    assert (case_id, update) == ("c-1", "decide") and body["amount_fen"] == 195000
    assert ("pay_from" in body) is with_pay_from
    # signed for this case, this update and this body: what the workflow's validator verifies
    claims = assertions.verify(_model(cls).model_validate(body), case_id="c-1", update="decide",
                               now=datetime.now(UTC), keyring={signs.key_id: signs.public_key()})
    assert claims.person_id == COUNTY.person_id


def _model(cls: type) -> type[BaseModel]:
    return workflow._Definition.must_from_class(cls).updates["decide"].arg_types[0]  # type: ignore[index,no-any-return]  # decide takes one model


async def test_a_committee_matter_takes_no_approvers_decision(signs: AssertionSigner) -> None:
    temporal = FakeTemporal()
    temporal.run("om-1", OneMatterWorkflow)
    with pytest.raises(Conflict):
        await decide_on_case(temporal, "om-1", decision(), by=COUNTY)  # type: ignore[arg-type]  # the fake client
    assert temporal.updates == []


async def test_an_unknown_case_is_not_found_and_a_refusal_is_a_conflict(signs: AssertionSigner) -> None:
    temporal = FakeTemporal()
    escalation = Escalation(official="county-7", role="county_approver", region="6401", reason="above the cap")
    with pytest.raises(NotFound):
        await update_case(temporal, "nope", CommitteeEscalation.escalate, escalation, by=COUNTY)  # type: ignore[arg-type]  # the fake client
    temporal.run("er-1", EmergencyReliefWorkflow)
    temporal.refusal = "already escalated"
    with pytest.raises(Conflict, match="already escalated"):
        await update_case(temporal, "er-1", CommitteeEscalation.escalate, escalation, by=COUNTY)  # type: ignore[arg-type]  # the fake client
