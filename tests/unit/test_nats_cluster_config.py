"""deploy/nats_cluster.py renders each node's server config: its own addresses, JetStream with the fsync policy
(ADR 0019), routes to every node, and the users and permissions of the embedded single node."""

from __future__ import annotations

from pathlib import Path

from deploy.nats_cluster import NatsCluster, NodePorts, jetstream_block
from shared.infra.nats_permissions import ADMIN, render_authorization, users

PASSWORDS = {u.name: f"pw-{u.name}" for u in users()}


def _cluster(size: int = 3) -> NatsCluster:
    nodes = tuple(NodePorts(client=14222 + i, cluster=16222 + i, monitor=18222 + i) for i in range(size))
    return NatsCluster(Path("/data/nats"), nodes)


def test_each_node_listens_on_its_own_ports_and_routes_to_all_three():
    cluster = _cluster()
    assert cluster.node_names == ["nats-1", "nats-2", "nats-3"]
    assert cluster.url == "nats://127.0.0.1:14222,nats://127.0.0.1:14223,nats://127.0.0.1:14224"
    conf = cluster.config(1, PASSWORDS)
    assert "server_name: nats-2\n" in conf
    assert "listen: 127.0.0.1:14223\n" in conf and "http: 127.0.0.1:18223\n" in conf
    assert "  listen: 127.0.0.1:16223\n" in conf and "no_advertise: true" in conf
    for port in (16222, 16223, 16224):
        assert f"nats-route://127.0.0.1:{port}" in conf
    assert 'store_dir: "/data/nats/nats-2"' in conf


def test_every_node_fsyncs_before_acknowledging_and_has_the_embedded_users():
    conf = _cluster().config(0, PASSWORDS)
    assert "  sync_interval: always\n" in conf
    assert conf.endswith(render_authorization(PASSWORDS))
    assert f'user: "{ADMIN}"' in conf and "authorization {" in conf


def test_one_node_has_no_cluster_block():
    conf = _cluster(1).config(0, PASSWORDS)
    assert "cluster {" not in conf and "sync_interval: always" in conf


def test_the_servers_default_is_only_for_the_benchmark():
    assert "sync_interval" not in jetstream_block(None)
    assert jetstream_block("1s") == "jetstream {\n  sync_interval: 1s\n}\n"
