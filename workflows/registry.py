"""Each pathway of ``shared/contracts/pathways.py`` bound to its workflow class and input model.

The worker registers every bound workflow; intake's routing takes the workflow type it starts from
here (never a workflow name typed as a string). A new pathway adds its entry to ``PATHWAYS`` there and
its binding to ``BINDINGS`` here (docs/recipes/adding-a-pathway.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

from shared.config import TASK_QUEUE_WORKFLOWS
from shared.contracts import pathways as registry
from shared.contracts.pathways import CaseOpening, Pathway
from workflows.batch_subsidy.inputs import BatchSubsidyInput
from workflows.batch_subsidy.workflow import BatchSubsidyWorkflow
from workflows.benefit_cycle.inputs import CycleInput
from workflows.benefit_cycle.workflow import BenefitCycleWorkflow
from workflows.emergency_relief.disaster import disaster_topup_activity
from workflows.emergency_relief.inputs import EmergencyReliefInput
from workflows.emergency_relief.lane import EmergencyReliefLaneWorkflow
from workflows.emergency_relief.settled import EmergencyReliefSettledWorkflow
from workflows.emergency_relief.workflow import EmergencyReliefWorkflow
from workflows.enrolment_duties.policy import duty_terms_activity
from workflows.one_matter.inputs import OneMatterInput
from workflows.one_matter.limits import authority_limits_activity
from workflows.one_matter.workflow import OneMatterWorkflow
from workflows.one_off_assistance.inputs import OneOffInput
from workflows.one_off_assistance.workflow import OneOffAssistanceWorkflow
from workflows.policy import evaluate_entitlement, service_levels
from workflows.reconsideration.complaint import ComplaintWorkflow
from workflows.reconsideration.inputs import ComplaintInput, ReconsiderationInput
from workflows.reconsideration.workflow import ReconsiderationWorkflow
from workflows.renewal.activities import period_terms, raised_levels
from workflows.renewal.inputs import RenewalInput
from workflows.renewal.workflow import RenewalWorkflow
from workflows.staged_aid.inputs import StagedAidInput
from workflows.staged_aid.workflow import StagedAidWorkflow
from workflows.stalled_sweep import StalledCaseSweepLoopWorkflow, StalledCaseSweepWorkflow


@dataclass(frozen=True)
class BoundPathway:
    """A pathway with the workflow that runs it and the model that workflow starts from."""

    pathway: Pathway
    workflow: type
    input_model: type[BaseModel]
    # a pathway intake opens from its event family without a rule of its own (services/intake/routing.py):
    # the case's facts to the workflow's input
    opens_from_event: Callable[[CaseOpening], BaseModel] | None = None

    @property
    def name(self) -> str:
        return self.pathway.name

    @property
    def workflow_type(self) -> str:
        """The Temporal workflow type name (a public contract: ``@workflow.defn(name=...)``)."""
        name = workflow._Definition.must_from_class(self.workflow).name  # noqa: SLF001 - temporalio has no public getter
        assert name is not None, f"{self.workflow.__name__} is a dynamic workflow"
        return name


BINDINGS: dict[str, BoundPathway] = {b.name: b for b in (
    BoundPathway(registry.EMERGENCY_RELIEF, EmergencyReliefWorkflow, EmergencyReliefInput),
    BoundPathway(registry.ONE_OFF, OneOffAssistanceWorkflow, OneOffInput),
    BoundPathway(registry.STAGED_AID, StagedAidWorkflow, StagedAidInput),
    BoundPathway(registry.ONE_MATTER, OneMatterWorkflow, OneMatterInput),
    BoundPathway(registry.RENEWAL, RenewalWorkflow, RenewalInput),
    BoundPathway(registry.BATCH_SUBSIDY, BatchSubsidyWorkflow, BatchSubsidyInput),
    BoundPathway(registry.BENEFIT_CYCLE, BenefitCycleWorkflow, CycleInput),
)}
# the office's duties (issue 17): reconsideration (复核) and complaints (监督投诉), opened by approval's routes
BINDINGS.update({b.name: b for b in (
    BoundPathway(registry.RECONSIDERATION, ReconsiderationWorkflow, ReconsiderationInput),
    BoundPathway(registry.COMPLAINT, ComplaintWorkflow, ComplaintInput),
)})

# Workflows that run no pathway: the stalled-case sweep's loop (and its one-sweep runs of the retired Schedule).
SUPPORT_WORKFLOWS: tuple[type, ...] = (StalledCaseSweepLoopWorkflow, StalledCaseSweepWorkflow,
                                       EmergencyReliefLaneWorkflow, EmergencyReliefSettledWorkflow)

# The policy local activities the pathways' workflows call (they run in the worker, not in a service).
LOCAL_ACTIVITIES: tuple[Callable[..., Any], ...] = (
    evaluate_entitlement, service_levels, period_terms, authority_limits_activity, raised_levels,
    duty_terms_activity, disaster_topup_activity)


def bound(name: str) -> BoundPathway:
    """The binding of a registered pathway (KeyError when a pathway has no workflow bound)."""
    return BINDINGS[registry.canonical(name)]


def missing_bindings() -> list[str]:
    """Registered pathways without a workflow (the worker refuses to start with any)."""
    return [name for name in registry.PATHWAYS if name not in BINDINGS]


def workflows(task_queue: str = TASK_QUEUE_WORKFLOWS) -> list[type]:
    """The workflows a worker on ``task_queue`` registers: every bound pathway polling it, and on the cases
    queue the support workflows."""
    pathways = [b.workflow for b in BINDINGS.values() if b.pathway.task_queue == task_queue]
    support = SUPPORT_WORKFLOWS if task_queue == TASK_QUEUE_WORKFLOWS else ()
    return list(dict.fromkeys([*pathways, *support]))


def task_queues() -> list[str]:
    """Every task queue a pathway's workflow polls (one worker each)."""
    return list(dict.fromkeys(b.pathway.task_queue for b in BINDINGS.values()))
