"""A workflow that reads the clock, declared for the worker's unsandboxed runner: the tests' workers still run
it in the sandbox (tests/unit/fakes.py, ``WorkerSet``), which refuses the call. A module of its own: the
sandbox imports a workflow's module afresh, and a test module's imports are more than it allows."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn(name="UnsandboxedClock", sandboxed=False)
class UnsandboxedClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # not deterministic on replay: what the sandbox refuses
