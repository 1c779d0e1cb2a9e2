"""One pathway registry drives the worker, routing, the dashboard's labels and the NATS permissions; it
agrees with the policy packs; one service registry drives the embedded stack, the CLI and NATS.

The fake pathway is the recipe's worked example (docs/recipes/adding-a-pathway.md,
tests/pathway_example/winter_heating.py), registered here the way a real one is: an entry in
``shared/contracts/pathways.py`` and a binding in ``workflows/registry.py``.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest

from services.intake import routing
from services.operations.dashboard import pathway_labels
from shared import services
from shared.contracts import pathways
from shared.contracts.events import INBOUND_EVENTS, CloudEvent, InboundEvent, make_cloudevent
from shared.contracts.sources import owner_of
from shared.infra import nats_permissions
from shared.policy import MEASURE_IDS, load_library
from tests.pathway_example import winter_heating as example
from workflows import registry, worker

REPORTED = date(2024, 1, 15)


@pytest.fixture
def winter_heating(monkeypatch: pytest.MonkeyPatch) -> registry.BoundPathway:
    """The example pathway registered: its measure, its entry, its binding (undone after the test)."""
    monkeypatch.setitem(pathways.MEASURES, example.MEASURE, example.MEASURE_DESCRIPTION)
    monkeypatch.setitem(pathways.PATHWAYS, example.WINTER_HEATING.name, example.WINTER_HEATING)
    binding = registry.BoundPathway(example.WINTER_HEATING, example.WinterHeatingWorkflow, example.WinterHeatingInput,
                                    opens_from_event=example.WinterHeatingInput.opened)
    monkeypatch.setitem(registry.BINDINGS, binding.name, binding)
    return binding


def heating_lost(event_id: str = "evt-heating-1") -> InboundEvent:
    data = example.HeatingLost(person_id="11010519491231002X", region_code="640104",
                               lost_on=date(2024, 1, 10))
    envelope = CloudEvent.model_validate(make_cloudevent("heating.lost", data.model_dump(mode="json"),
                                                         event_id=event_id))
    return InboundEvent(name="heating.lost", envelope=envelope, data=data)


# -- a pathway added to the registry appears in all four readers ---------------------------------------


def test_the_worker_registers_the_added_pathways_workflow(winter_heating, monkeypatch: pytest.MonkeyPatch):
    seen: dict[str, Any] = {}

    class RecordingWorker:
        def __init__(self, client: object, **kwargs: Any):
            seen.update(kwargs)

    monkeypatch.setattr(worker, "Worker", RecordingWorker)
    worker.build_worker(client=object())  # type: ignore[arg-type]  # a stand-in: the Worker is recorded, not run
    assert example.WinterHeatingWorkflow in seen["workflows"]
    # and every other pathway's, once each
    assert all(b.workflow in seen["workflows"] for b in registry.BINDINGS.values())
    assert len(seen["workflows"]) == len(set(seen["workflows"]))


def test_the_worker_refuses_a_pathway_registered_without_a_workflow(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(pathways.PATHWAYS, "unbound", pathways.Pathway("unbound", "未绑定", "Unbound"))
    with pytest.raises(RuntimeError, match="unbound"):
        worker.build_worker(client=object())  # type: ignore[arg-type]  # refused before the client is used


def test_routing_opens_the_added_pathway_for_its_event_family(winter_heating):
    start = routing.route_event(heating_lost(), facts=None, reported_on=REPORTED)
    assert isinstance(start, routing.CaseStart)
    assert start.pathway == "winter_heating"
    assert start.workflow == "WinterHeatingRelief"  # the type name from the workflow class, not typed here
    assert start.business_date == date(2024, 1, 10)  # the event's own date, not the report's
    assert isinstance(start.workflow_input, example.WinterHeatingInput)
    assert start.workflow_input.case_id == start.case_id and start.cause_event_id == "evt-heating-1"
    # the case id derives from the cause: a redelivery lands on the same case
    again = routing.route_event(heating_lost(), facts=None, reported_on=REPORTED)
    assert isinstance(again, routing.CaseStart) and again.case_id == start.case_id


def test_routing_without_the_pathway_opens_nothing_for_that_family():
    assert routing.route_event(heating_lost(), facts=None, reported_on=REPORTED) is None


def test_a_pathway_without_an_opening_screens_its_events_out_with_the_reason(winter_heating, monkeypatch):
    without = dataclasses.replace(winter_heating, opens_from_event=None)
    monkeypatch.setitem(registry.BINDINGS, "winter_heating", without)
    routed = routing.route_event(heating_lost(), facts=None, reported_on=REPORTED)
    assert isinstance(routed, routing.ScreenedOut) and "winter_heating" in routed.reason


def test_the_dashboard_labels_the_added_pathway(winter_heating):
    labels = {p.key: (p.label_zh, p.label_en) for p in pathway_labels()}
    assert labels["winter_heating"] == ("冬季取暖救助", "Winter heating relief")
    # every pathway has both labels: the page never shows a raw key
    assert all(zh and en and zh != key and en != key for key, (zh, en) in labels.items())


def test_the_nats_permissions_let_intake_consume_the_added_family(winter_heating):
    intake = next(u for u in nats_permissions.service_users() if u.name == "intake")
    consumer = nats_permissions.Consumer("DOUDI_EVENTS", "intake-heating", "doudi.events.heating.>")
    assert consumer in intake.consumes
    conf = nats_permissions.render_authorization(None)
    assert "$JS.API.CONSUMER.CREATE.DOUDI_EVENTS.intake-heating" in conf


def test_without_the_pathway_the_nats_permissions_do_not_name_its_family():
    assert "intake-heating" not in nats_permissions.render_authorization(None)


# -- the real registry ------------------------------------------------------------------------------


def test_the_registry_and_the_policy_packs_agree():
    packs = load_library().packs
    defined = {m for pack in packs for m in pack.measures}
    # every measure a pathway applies is a measure id, and a pack defines it
    for p in pathways.PATHWAYS.values():
        assert set(p.measures) <= set(MEASURE_IDS), p.name
    assert pathways.applied_measures() == set(MEASURE_IDS) == set(pathways.MEASURES)
    assert set(MEASURE_IDS) <= defined
    # every pack measure names a registered pathway (older names read as their key)
    for pack in packs:
        for measure_id, measure in pack.measures.items():
            assert measure.pathway in pathways.PATHWAYS, (pack.pack_id, measure_id, measure.pathway)


def test_older_pathway_names_read_as_one_vocabulary():
    assert pathways.canonical("event_one_off") == "one_off"
    assert pathways.canonical("one_matter_one_discussion") == "one_matter"
    assert pathways.canonical("renewal_review") == "renewal"
    assert pathways.canonical("batch") == "batch_subsidy"
    assert pathways.canonical("one_off") == "one_off"
    with pytest.raises(KeyError):
        pathways.canonical("one_offf")
    names = [n for p in pathways.PATHWAYS.values() for n in (p.name, *p.legacy_names)]
    assert len(names) == len(set(names))


def test_every_pathway_has_its_workflow_and_the_type_names_stay():
    assert registry.missing_bindings() == []
    # workflow type names are a public contract: recorded histories and open cases carry them
    assert {name: b.workflow_type for name, b in registry.BINDINGS.items()} == {
        "emergency_relief": "EmergencyRelief", "one_off": "OneOffAssistance", "staged_aid": "StagedAid",
        "one_matter": "OneMatterOneDiscussion", "renewal": "Renewal", "batch_subsidy": "BatchSubsidy",
        "benefit_cycle": "BenefitCycle", "reconsideration": "Reconsideration", "complaint": "Complaint"}


def test_every_event_family_has_one_pathway_an_owner_and_a_way_to_open():
    families = pathways.event_families()
    assert sorted(families) == sorted({name.split(".", 1)[0] for name in INBOUND_EVENTS})
    claimed = [f for p in pathways.PATHWAYS.values() for f in p.event_families]
    assert len(claimed) == len(set(claimed))  # one pathway per family
    for family in families:
        pathway = pathways.pathway_for_family(family)
        assert pathway is not None
        event = next(name for name in INBOUND_EVENTS if name.startswith(f"{family}."))
        assert owner_of(event).families  # a source agency publishes it
        opens = registry.bound(pathway.name).opens_from_event
        assert pathway.name in routing.EVENT_RULES or opens is not None


def test_intake_consumes_exactly_the_registered_families():
    intake = next(u for u in nats_permissions.USERS if u.name == "intake")
    assert [c.durable for c in intake.consumes] == [f"intake-{f}" for f in pathways.event_families()]


# -- the service registry ---------------------------------------------------------------------------


def test_the_service_registry_drives_the_stack_the_cli_and_nats():
    from deploy.embedded import SERVICES, Ports

    assert SERVICES == services.NAMES
    assert nats_permissions.SERVICE_USERS == tuple(s.name for s in services.SERVICES if s.uses_nats)
    assert "workflows" not in nats_permissions.SERVICE_USERS  # the worker never touches NATS
    ports = Ports()
    for s in services.SERVICES:
        assert ports.http_port(s) == (s.default_port or 0)
    # doudi up --api-port 9000: every backend keeps its distance from the front door
    assert {s.name: s.port_beside(9000) for s in services.HTTP_BACKENDS} == {
        "intake": 9101, "verification": 9102, "approval": 9103, "payment": 9104}


def test_the_worker_refuses_a_pathway_on_a_queue_it_does_not_poll(winter_heating,
                                                                  monkeypatch: pytest.MonkeyPatch):
    elsewhere = dataclasses.replace(winter_heating, pathway=dataclasses.replace(example.WINTER_HEATING,
                                                                              task_queue="heating"))
    monkeypatch.setitem(registry.BINDINGS, "winter_heating", elsewhere)
    with pytest.raises(RuntimeError, match="heating"):
        worker.build_worker(client=object())  # type: ignore[arg-type]  # refused before the client is used


def test_each_binding_names_the_model_its_workflow_starts_from():
    import inspect
    import typing

    for name, b in registry.BINDINGS.items():
        run = b.workflow.run  # type: ignore[attr-defined]  # every workflow class has its @workflow.run
        argument = list(inspect.signature(run).parameters)[1]  # after self
        assert typing.get_type_hints(run)[argument] is b.input_model, name
