"""The pathways (救助路径) doudi runs: one registry, one vocabulary.

Each entry is what the rest of the system needs to know about a pathway without importing its
workflow: the key stored on case rows, on events and in the ``DoudiPathway`` search attribute, its
labels, the policy measures it applies, the inbound event families it starts from, the task queue its
workflow polls. ``workflows/registry.py`` binds each entry to its workflow class and input model
(shared never imports workflows).

Readers: the workflow worker (every pathway's workflow), intake's routing (the pathway an event family
opens), the dashboard (labels, ``GET /api/pathways``), the NATS permission table (intake's durable
consumer per event family) and policy validation (``shared/policy/models.py``: the measure ids a pack
may define are the measures a pathway applies).

One vocabulary: the key below is the only name in code and labels. Older names stay readable:
policy packs wrote ``event_one_off`` / ``one_matter_one_discussion`` / ``renewal_review`` and the
dashboard once said ``batch``; ``canonical()`` maps them. Stored rows, events and recorded histories
already carry the keys below, so nothing stored changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.config import TASK_QUEUE_WORKFLOWS

# Measure ids, one vocabulary for every pack (a pack may define any subset); each is applied by a pathway.
MEASURES: dict[str, str] = {
    "quarantine": "one-off aid to households with a member quarantined / isolated (隔离收治)",
    "covid_diagnosis": "one-off subsidy to COVID-diagnosed recipients (新冠肺炎确诊)",
    "job_loss": "one-off temporary assistance to uninsured unemployed people (未参保失业人员)",
    "graduate": "one-off temporary assistance to unemployed / failed-start-up graduates (未就业大学生)",
    "medical_self_pay": "expenditure-type aid after large medical self-pay (因病支出型)",
    "temporary_assistance_individual": "temporary assistance, individual (个人对象)",
    "temporary_assistance_emergency_household": "temporary assistance, emergency-type household (急难型家庭)",
    "temporary_assistance_expenditure_household":
        "temporary assistance, expenditure-type household (支出型家庭)",
    "temporary_assistance_emergency": "emergency-type temporary assistance, no type split (急难型临时救助)",
    "temporary_assistance_expenditure":
        "expenditure-type temporary assistance, no type split (支出型临时救助)",
    "temporary_hardship_high_risk_area": "one-off aid in medium/high-risk epidemic areas (疫情中高风险地区)",
    "one_time_living_subsidy": "one-time living subsidy to recipients (一次性生活补贴)",
    "price_linkage": "temporary price subsidy when the price-linkage mechanism triggers (价格临时补贴)",
    "disaster_assistance": "temporary assistance to disaster victims, assist first (受灾群众先行救助)",
    "dibao": "minimum living allowance paid as the difference to the standard (低保差额发放)",
}


@dataclass(frozen=True)
class Pathway:
    """A pathway as data: nothing here imports its workflow."""

    name: str                                 # the stored key (case rows, events, DoudiPathway)
    label_zh: str
    label_en: str
    measures: tuple[str, ...] = ()            # the policy measures it applies (ids of ``MEASURES``)
    event_families: tuple[str, ...] = ()      # ``doudi.events.<family>.*`` it starts from (via intake)
    task_queue: str = TASK_QUEUE_WORKFLOWS    # the worker's queue (workflows/worker.py)
    legacy_names: tuple[str, ...] = ()        # older names of the same pathway (packs, an earlier dashboard)


@dataclass(frozen=True)
class CaseOpening:
    """The facts every case opens with, for a pathway intake opens from its event family without a rule
    of its own (``workflows/registry.py``: ``BoundPathway.opens_from_event`` makes the workflow's input)."""

    case_id: str
    pathway: str
    trigger: str                 # the inbound event's name (``health.quarantined`` ...)
    person_id: str | None
    region_code: str
    business_date: date
    cause_event_id: str


EMERGENCY_RELIEF = Pathway(
    "emergency_relief", "急难救助（先行救助）", "Emergency relief (assist first)",
    measures=("quarantine", "covid_diagnosis", "disaster_assistance", "temporary_assistance_individual",
              "temporary_assistance_emergency_household", "temporary_assistance_expenditure_household",
              "temporary_assistance_emergency", "temporary_hardship_high_risk_area"),
    event_families=("health", "disaster"),
)
ONE_OFF = Pathway(
    "one_off", "一次性救助", "One-off assistance",
    measures=("job_loss", "graduate", "medical_self_pay", "temporary_assistance_expenditure_household",
              "temporary_assistance_expenditure"),
    event_families=("employment", "education", "medical"),
    legacy_names=("event_one_off",),
)
STAGED_AID = Pathway("staged_aid", "分阶段救助", "Staged aid", measures=("one_time_living_subsidy",))
ONE_MATTER = Pathway("one_matter", "一事一议", "One matter, one discussion",
                     legacy_names=("one_matter_one_discussion",))
RENEWAL = Pathway("renewal", "动态管理", "Renewal review", measures=("dibao",), event_families=("household",),
                  legacy_names=("renewal_review",))
BATCH_SUBSIDY = Pathway("batch_subsidy", "批量补贴", "Batch subsidy",
                        measures=("one_time_living_subsidy", "price_linkage"), event_families=("price",),
                        legacy_names=("batch",))
BENEFIT_CYCLE = Pathway("benefit_cycle", "按月发放与定期核查", "Monthly benefit cycle", measures=("dibao",))
# the office's duties towards the applicant (issue 17 item 1): a decision contested (复核, decided by an
# official other than the original decider), a complaint through the supervision hotline (seed 001)
RECONSIDERATION = Pathway("reconsideration", "复核", "Reconsideration")
COMPLAINT = Pathway("complaint", "监督投诉", "Complaint")

PATHWAYS: dict[str, Pathway] = {p.name: p for p in (
    EMERGENCY_RELIEF, ONE_OFF, STAGED_AID, ONE_MATTER, RENEWAL, BATCH_SUBSIDY, BENEFIT_CYCLE)}
PATHWAYS.update({p.name: p for p in (RECONSIDERATION, COMPLAINT)})


def canonical(name: str) -> str:
    """The registry key of a pathway name, old names included (KeyError for an unknown one)."""
    if name in PATHWAYS:
        return name
    for p in PATHWAYS.values():
        if name in p.legacy_names:
            return p.name
    raise KeyError(name)


def known_names() -> frozenset[str]:
    """Every name a stored value or a pack may carry: the keys and their older names."""
    return frozenset(n for p in PATHWAYS.values() for n in (p.name, *p.legacy_names))


def event_families() -> tuple[str, ...]:
    """Every inbound event family a pathway starts from, in registry order (intake consumes each)."""
    return tuple(dict.fromkeys(f for p in PATHWAYS.values() for f in p.event_families))


def pathway_for_family(family: str) -> Pathway | None:
    """The pathway an inbound event family starts (one pathway per family)."""
    return next((p for p in PATHWAYS.values() if family in p.event_families), None)


def applied_measures() -> frozenset[str]:
    return frozenset(m for p in PATHWAYS.values() for m in p.measures)


def labels() -> dict[str, tuple[str, str]]:
    """name -> (zh, en) for every pathway and every older name (a stored ``batch`` still reads as a label)."""
    out: dict[str, tuple[str, str]] = {}
    for p in PATHWAYS.values():
        for n in (p.name, *p.legacy_names):
            out[n] = (p.label_zh, p.label_en)
    return out
