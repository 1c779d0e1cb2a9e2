"""The verification service process: economic status checks (家庭经济状况核对) against the department
data sources, and case documents (一证一书, 后补齐说明).

Department sources read the local reference data (table ``reference_records``) in this build; a
deployment with department APIs passes their backend to ``department_sources`` instead.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.verification import routes
from services.verification.activities import VerificationActivities
from services.verification.documents import DocumentService
from services.verification.sources import LocalReferenceBackend, department_sources
from services.verification.store import SCHEMA, ReferenceStore
from shared.config import TASK_QUEUE_VERIFICATION
from shared.infra.process import Runtime, ServiceParts, run
from shared.policy import load_library

MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> ServiceParts:
    app = FastAPI(title="doudi verification", version="1")
    app.state.documents = DocumentService(rt.pool, rt.temporal)
    app.state.reference = ReferenceStore(rt.pool)
    app.include_router(routes.router)
    sources = department_sources(LocalReferenceBackend(rt.pool))
    activities = VerificationActivities(rt.pool, sources, load_library())
    return ServiceParts(app=app, task_queue=TASK_QUEUE_VERIFICATION, activities=activities.all())


def main() -> None:
    run("verification", schema=SCHEMA, migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
