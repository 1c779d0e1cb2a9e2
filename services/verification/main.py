"""The verification service process: economic status checks and document tracking.

The walking skeleton runs it (schema, migrations, health, bus); the checks themselves and their
activities arrive with the emergency and intake issues.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.infra.process import Runtime, ServiceParts, run

MIGRATIONS = Path(__file__).parent / "migrations"


def build(rt: Runtime) -> ServiceParts:
    return ServiceParts(app=FastAPI(title="doudi verification", version="1"))


def main() -> None:
    run("verification", schema="verification", migrations=MIGRATIONS, build=build)


if __name__ == "__main__":
    main()
