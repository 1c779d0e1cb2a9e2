"""A 3-node NATS JetStream cluster on loopback (deploy/nats_cluster.py: three nats-server processes from
the wheel, cluster routes, the embedded node's users and permissions, ``sync_interval: always``), every
doudi stream with three replicas, and the whole doudi stack on it: the agencies publish through the
cluster, intake consumes, the services' outbox relays publish case and payment events, operations
projects them. Mid-storm the node leading the inbound events' stream is SIGKILLed; the supervisor
restarts it and it catches up. Nothing lost, nothing paid twice (the chaos checker, tests/chaos/storm.py)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from deploy.embedded import EmbeddedStack, Ports
from deploy.nats_cluster import NatsCluster
from shared.config import nats_url_with_credentials
from shared.infra.bus import STREAM_EVENTS, connect, ensure_streams
from shared.infra.nats_permissions import ADMIN
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


async def _jetstream_config(monitor_url: str) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=5) as client:
        config = (await client.get(f"{monitor_url}/jsz?config=true")).json()["config"]
    assert isinstance(config, dict)
    return config


async def test_every_node_fsyncs_before_acknowledging(tmp_path: Path):
    """docs/adr/0019-jetstream-sync-policy.md: the embedded node and each cluster node run with
    ``sync_interval: always`` (the server says ``sync_always``); an R3 stream is placed on all three nodes."""
    stack = EmbeddedStack(tmp_path / "single", Ports.free())
    stack.prepare_secrets()
    cluster = NatsCluster.on_free_ports(tmp_path / "cluster", 3)
    procs = [stack._nats_proc(), *cluster.procs(stack.nats_passwords, tmp_path / "logs")]
    try:
        for proc in procs:
            proc.start()
        await stack.wait_nats(timeout=60)
        await cluster.wait_ready(timeout=60)
        monitors = [f"http://127.0.0.1:{stack.ports.nats_monitor}",
                    *(cluster.monitor_url(i) for i in range(cluster.size))]
        for monitor in monitors:
            assert (await _jetstream_config(monitor))["sync_always"] is True, monitor

        await ensure_streams(nats_url_with_credentials(cluster.url, ADMIN, stack.nats_passwords[ADMIN]), replicas=3)
        nc = await connect(nats_url_with_credentials(cluster.url, ADMIN, stack.nats_passwords[ADMIN]))
        try:
            info = await nc.jetstream().stream_info(STREAM_EVENTS)
        finally:
            await nc.close()
        assert info.config.num_replicas == 3 and info.cluster is not None
        assert {info.cluster.leader, *(r.name for r in info.cluster.replicas or [])} == set(cluster.node_names)
    finally:
        for proc in procs:
            proc.stop()


def test_the_compose_cluster_fsyncs_before_acknowledging():
    compose = (Path(__file__).resolve().parents[2] / "deploy" / "docker" / "nats" / "nats.conf").read_text()
    assert re.search(r"^\s*sync_interval:\s*always\s*$", compose, re.M)
