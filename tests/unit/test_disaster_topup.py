"""The disaster top-up (issue 17 item 6; seed 003 「并根据因灾损失、人员伤亡等情况,适当提高救助水平」): the rule at
the limit and around it, absurd facts refused, the event's facts reaching the case, and the emergency-relief
workflow paying the raised amount (time-skipping server; its history recorded for the patch)."""

from __future__ import annotations

import json
import os
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment

from services.intake.routing import CaseStart, route_event
from shared.contracts.authority import AuthorityLimits, Cap
from shared.contracts.events import DisasterAffected, InboundEvent, make_cloudevent, parse_inbound
from shared.policy import load_library
from shared.policy.disaster import DisasterLoss, TopUpScale, disaster_topup, topup_scale
from tests.unit.fakes import PERSON, FakeServices, WorkerSet
from workflows.emergency_relief.disaster import disaster_topup_activity
from workflows.emergency_relief.inputs import EmergencyReliefInput
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow

HISTORIES = Path(__file__).resolve().parent.parent / "histories"

# The national pack's local-practice scale, read by hand from national-2019-mca-95.yaml: 1,000 yuan per death
# (100,000 fen), 500 yuan per serious injury (50,000 fen), a tenth of the direct loss.
SCALE = TopUpScale(per_death_fen=100000, per_injury_fen=50000, loss_ratio=Decimal("0.1"))
# tiers as the national pack's local-practice caps: township 1,000 yuan, county 10,000, committee 50,000,
# prefecture 200,000 (each inclusive)
LIMITS = AuthorityLimits(township=Cap(limit_fen=100000), county=Cap(limit_fen=1000000),
                         committee=Cap(limit_fen=5000000), prefecture=Cap(limit_fen=20000000))


def test_the_national_scale_is_the_packs_labelled_local_practice():
    scale = topup_scale(load_library(), "640104", date(2022, 8, 10))
    assert scale is not None
    assert (scale.per_death_fen, scale.per_injury_fen, scale.loss_ratio) == (100000, 50000, Decimal("0.1"))
    assert all("适当提高救助水平" in c for c in scale.citations)
    fig = load_library().parameter("disaster_topup_loss_ratio", "640104", date(2022, 8, 10))
    assert fig is not None and "LOCAL-PRACTICE" in (fig.note or "")


@pytest.mark.parametrize(("loss_fen", "expected", "capped"), [
    (499990, 99999, False),   # 500 yuan + 10% x 4,999.90 yuan = 500 + 499.99 = 999.99 yuan: limit - 1
    (500000, 100000, False),  # 500 + 500.00 = 1,000.00 yuan: the limit itself (以下: inclusive)
    (500010, 100000, True),   # 500 + 500.01 = 1,000.01 yuan: limit + 1, held at the township's 1,000 yuan
    (10**12, 100000, True),   # ten billion yuan of loss: still the township's limit
    (9, 50000, False),        # 10% of 9 fen = 0.9 fen, rounded down: nothing
])
def test_the_loss_raises_the_aid_within_the_deciding_tiers_limit(loss_fen: int, expected: int, capped: bool):
    topup = disaster_topup(50000, DisasterLoss(direct_loss_fen=loss_fen), SCALE, LIMITS)
    assert (topup.amount_fen, topup.capped, topup.tier) == (expected, capped, "township")
    assert topup.amount_fen >= 50000


def test_casualties_raise_a_county_decision_within_the_county():
    # base 1,500 yuan is the county's (above the township's 1,000); 1 death + 2 serious injuries:
    # 1,500 + 1,000 + 2 x 500 = 3,500 yuan = 350,000 fen, under the county's 10,000 yuan
    topup = disaster_topup(150000, DisasterLoss(deaths=1, serious_injuries=2), SCALE, LIMITS)
    assert (topup.amount_fen, topup.tier, topup.capped) == (350000, "county", False)
    # 100 deaths: 1,500 + 100,000 yuan, held at the county's 10,000 yuan = 1,000,000 fen
    topup = disaster_topup(150000, DisasterLoss(deaths=100), SCALE, LIMITS)
    assert (topup.amount_fen, topup.capped) == (1000000, True)


def test_an_exclusive_limit_holds_one_fen_under_it():
    exclusive = LIMITS.model_copy(update={"township": Cap(limit_fen=100000, inclusive=False)})
    # 500 yuan + 10% x 6,000 yuan = 1,100 yuan, held under 1,000 yuan exclusive = 999.99 yuan
    topup = disaster_topup(50000, DisasterLoss(direct_loss_fen=600000), SCALE, exclusive)
    assert (topup.amount_fen, topup.capped) == (99999, True)


def test_nothing_is_raised_without_a_base_or_above_every_tier():
    assert disaster_topup(0, DisasterLoss(deaths=3), SCALE, LIMITS).amount_fen == 0
    above = 20000001  # above the prefecture's 200,000 yuan: no tier may decide it, nothing is added
    assert disaster_topup(above, DisasterLoss(deaths=3), SCALE, LIMITS).amount_fen == above
    assert disaster_topup(50000, DisasterLoss(), SCALE, LIMITS).amount_fen == 50000


@pytest.mark.parametrize("bad", [
    {"direct_loss_fen": -1}, {"direct_loss_fen": 2**63 - 1}, {"direct_loss_fen": 10**12 + 1},
    {"deaths": -1}, {"deaths": 101}, {"serious_injuries": 2**63 - 1}, {"deaths": "3"}, {"deaths": 1.5},
])
def test_absurd_facts_are_refused_naming_the_field(bad: dict[str, Any]):
    with pytest.raises(ValidationError) as err:
        DisasterLoss(**bad)
    assert next(iter(bad)) in str(err.value)
    event = {"person_id": PERSON, "region_code": "640104", "disaster_id": "flood-1", "occurred_on": "2022-08-01",
             **bad}
    with pytest.raises(ValidationError):
        DisasterAffected(**event)


def _disaster_event(**facts: Any) -> InboundEvent:
    body = make_cloudevent("disaster.affected", {"person_id": PERSON, "region_code": "640104",
                                                 "disaster_id": "flood-1", "occurred_on": "2022-08-01", **facts},
                           event_id=f"evt-{uuid.uuid4().hex[:8]}")
    return parse_inbound("doudi.events.disaster.affected", json.dumps(body).encode())


def test_the_reports_facts_reach_the_case_and_no_facts_leave_it_as_it_was():
    routed = route_event(_disaster_event(deaths=1, direct_loss_fen=2000000), None, date(2022, 8, 2))
    assert isinstance(routed, CaseStart)
    assert routed.workflow_input.disaster == DisasterLoss(deaths=1, direct_loss_fen=2000000)
    plain = route_event(_disaster_event(), None, date(2022, 8, 2))
    assert isinstance(plain, CaseStart) and plain.workflow_input.disaster is None


async def test_the_workflow_pays_the_raised_amount_within_the_townships_limit(env: WorkflowEnvironment):
    # Urumqi (Xinjiang): the township decides 「2000元以下」 = up to and including 200,000 fen. The policy grants
    # 1,200 yuan; one death adds 1,000 yuan = 2,200 yuan, held at the township's 2,000 yuan = 200,000 fen.
    fakes = FakeServices(amount=120000)
    acts = fakes.activities()
    acts["wf"] = [*acts["wf"], disaster_topup_activity]
    async with WorkerSet(env, [EmergencyReliefWorkflow], acts) as queue:
        case_id = f"em-{uuid.uuid4().hex[:8]}"
        handle = await env.client.start_workflow(EmergencyReliefWorkflow.run, EmergencyReliefInput(
            case_id=case_id, trigger="disaster", person_id=PERSON, region_code="650102001",
            business_date=date(2022, 8, 10), cause_event_id="evt-flood", disaster=DisasterLoss(deaths=1)),
            id=case_id, task_queue=queue)
        result = await handle.result()
        history = await handle.fetch_history()
    assert result.outcome == "paid" and result.amount_fen == 200000
    assert [p.amount_fen for p in fakes.payments] == [200000]
    raised = next(t for t in fakes.transitions if t.stage == "raised_for_disaster")
    assert raised.approved_amount_fen == 200000 and "township" in raised.note
    if os.environ.get("DOUDI_RECORD_HISTORIES"):
        version = os.environ["DOUDI_RECORD_HISTORIES"]
        (HISTORIES / f"emergency_relief-{version}-disaster_topup.json").write_text(history.to_json())
