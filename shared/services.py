"""The doudi processes (服务清单): one registry of names, modules, HTTP ports and task queues.

Read by the embedded stack (``deploy/embedded.py``: what it starts, with which port), the CLI
(``doudi up``: the ports it derives from ``--api-port``) and the NATS permission table
(``shared/infra/nats_permissions.py``: one user per process that talks to NATS).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import (
    TASK_QUEUE_APPROVAL,
    TASK_QUEUE_INTAKE,
    TASK_QUEUE_PAYMENT,
    TASK_QUEUE_VERIFICATION,
    TASK_QUEUE_WORKFLOWS,
)

TASK_QUEUE_OPERATIONS = "operations"  # the stalled-case sweep's activity (workflows/stalled_sweep.py)


@dataclass(frozen=True)
class Service:
    name: str                       # process name, log file, NATS user (if it uses NATS)
    module: str                     # ``python -m <module>``
    task_queue: str                 # the Temporal task queue its worker polls
    default_port: int | None        # its HTTP port on the embedded default (None: no HTTP)
    uses_nats: bool = True          # has a NATS user; the workflow worker never touches NATS
    metrics_port: int | None = None  # a process without HTTP: its Temporal SDK metrics' port (Prometheus)

    def port_beside(self, api_port: int) -> int:
        """Its port at the same distance from the front door's as on the default: ``doudi up --api-port
        9000`` puts intake on 9101."""
        assert self.default_port is not None, f"{self.name} serves no HTTP"
        return api_port + self.default_port - API_PORT


API_PORT = 8000
FRONT_DOOR = "operations"  # serves the API and the dashboard on the API port

SERVICES: tuple[Service, ...] = (
    Service("intake", "services.intake", TASK_QUEUE_INTAKE, 8101),
    Service("verification", "services.verification", TASK_QUEUE_VERIFICATION, 8102),
    Service("approval", "services.approval", TASK_QUEUE_APPROVAL, 8103),
    Service("payment", "services.payment", TASK_QUEUE_PAYMENT, 8104),
    Service(FRONT_DOOR, "services.operations", TASK_QUEUE_OPERATIONS, API_PORT),
    Service("workflows", "workflows.worker", TASK_QUEUE_WORKFLOWS, None, uses_nats=False, metrics_port=9464),
)

BY_NAME: dict[str, Service] = {s.name: s for s in SERVICES}
NAMES: tuple[str, ...] = tuple(s.name for s in SERVICES)
NATS_SERVICES: tuple[str, ...] = tuple(s.name for s in SERVICES if s.uses_nats)
# the processes that serve HTTP besides the front door, each on its own port
HTTP_BACKENDS: tuple[Service, ...] = tuple(s for s in SERVICES
                                           if s.default_port is not None and s.name != FRONT_DOOR)
