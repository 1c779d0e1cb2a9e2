"""A 3-node NATS JetStream cluster on loopback (deploy/nats_cluster.py: three nats-server processes from
the wheel, cluster routes, the embedded node's users and permissions, ``sync_interval: always``), every
doudi stream with three replicas, and the whole doudi stack on it: the agencies publish through the
cluster, intake consumes, the services' outbox relays publish case and payment events, operations
projects them. Mid-storm the node leading the inbound events' stream is SIGKILLed; the supervisor
restarts it and it catches up. Nothing lost, nothing paid twice (the chaos checker, tests/chaos/storm.py)."""

from __future__ import annotations

import pytest

from tests.chaos.storm import KINDS, run_chaos

PAID_KINDS = {k.name: k.amount_fen for k in KINDS if k.expect == "paid"}


@pytest.mark.stack
async def test_a_nats_node_killed_mid_storm_loses_nothing_and_pays_once():
    # only the NATS leader is killed (no random killer): what is tested is the cluster's fail-over
    report = await run_chaos(events=30, seconds=15, seed=20221128, targets=(), must_kill=(), nats_nodes=3,
                             kill_stream_leader_at=6.0, max_settle=100, quiet=60)
    print("\n" + report.table())  # the figures, with -s
    assert report.ok, report.table()
    assert report.stream_replicas == 3, report.table()
    node_kills = {name: n for name, n in report.kills.items() if n}
    assert len(node_kills) == 1 and next(iter(node_kills)).startswith("nats-"), report.kills
    (node, n), = node_kills.items()
    assert n == 1 and report.restarts[node] >= 1, (report.kills, report.restarts)
    assert report.unacked_publications == 0

    # one case per event, one ledger row per payable case, of the policy's amount (fen)
    paid = sum(n for kind, n in report.by_kind.items() if kind in PAID_KINDS)
    assert report.events == 30 and report.cases == 30
    assert report.duplicates == 0 and report.missing == 0 and report.orphan_ledger_rows == 0
    assert report.cases_paid == paid == report.ledger_rows
    assert report.ledger_total_fen == report.expected_total_fen == sum(
        PAID_KINDS[kind] * n for kind, n in report.by_kind.items() if kind in PAID_KINDS)
