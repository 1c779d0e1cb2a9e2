"""After the end-to-end tests (this module runs last in the folder): no national ID of the test data
appears in plaintext in Temporal's database file, its write-ahead log, or an exported history."""

from __future__ import annotations

import asyncpg
import pytest

from deploy.embedded import EmbeddedStack
from shared.infra.temporal import connect_temporal
from tests.support import StackClient, household, national_id

pytestmark = pytest.mark.stack


async def test_no_national_id_sits_in_temporal_in_plaintext(client: StackClient, stack: EmbeddedStack):
    # one more case of our own, so there is always something to look for
    pid = national_id("640104")
    await client.register(household(pid, region="640104", categories=["dibao"]))
    await client.publish("health.quarantined", {"person_id": pid, "region_code": "640104",
                                                "quarantined_on": "2022-08-10"})
    case = await client.closed_case(pid)

    conn = await asyncpg.connect(stack.database_url)
    try:
        ids = {r["person_id"] for r in await conn.fetch("SELECT person_id FROM intake.members")}
        ids |= {r["person_id"]
                for r in await conn.fetch("SELECT person_id FROM payment.ledger WHERE person_id IS NOT NULL")}
    finally:
        await conn.close()
    assert pid in ids and len(ids) > 10

    blobs = b""
    for f in (stack.data_dir / "temporal").glob("temporal.db*"):
        blobs += f.read_bytes()
    assert len(blobs) > 100_000
    leaked = sorted(i for i in ids if i.encode() in blobs)
    assert leaked == [], f"{len(leaked)} national IDs in plaintext in Temporal's database"

    temporal = await connect_temporal(stack.temporal_address, "doudi")
    history = await temporal.get_workflow_handle(case["case_id"]).fetch_history()
    exported = history.to_json()
    assert pid not in exported and "binary/doudi-aes-gcm" in exported or "YmluYXJ5L2RvdWRpLWFlcy1nY20" in exported
    # and the sealed history still reads: the result decodes with the key
    result = await temporal.get_workflow_handle(case["case_id"]).result()
    assert result["amount_fen"] == 195000 if isinstance(result, dict) else result.amount_fen == 195000


async def test_histories_recorded_by_the_end_to_end_tests_replay_on_todays_code(stack: EmbeddedStack):
    """Every workflow the end-to-end tests ran replays with Temporal's Replayer on the code as it is now:
    a non-deterministic change to a workflow fails here (besides the recorded histories in tests/histories)."""
    from temporalio.worker import Replayer
    from temporalio.workflow import _Definition

    from shared.infra.temporal import data_converter
    from workflows.worker import WORKFLOWS

    ours = {_Definition.must_from_class(w).name for w in WORKFLOWS}  # tests also run stand-in workflows
    temporal = await connect_temporal(stack.temporal_address, "doudi")
    histories = []
    async for wf in temporal.list_workflows("ExecutionStatus = 'Completed'", limit=300):
        if wf.workflow_type not in ours:
            continue
        histories.append(await temporal.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history())
    assert len(histories) >= 10
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter())
    results = [await replayer.replay_workflow(h, raise_on_replay_failure=False) for h in histories]
    failures = [(h.workflow_id, r.replay_failure) for h, r in zip(histories, results, strict=True) if r.replay_failure]
    assert failures == []
