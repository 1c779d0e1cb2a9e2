"""`doudi up --nats-nodes 3` runs NATS as a three-node JetStream cluster on loopback (deploy/nats_cluster.py);
`doudi streams` then keeps one replica per node instead of shrinking the streams to one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deploy.cli import app, stream_replicas
from deploy.endpoints import Endpoints, write_endpoints
from shared.config import get_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("DOUDI_NATS_URL", "DOUDI_NATS_STREAM_REPLICAS", "DOUDI_NATS_USER", "DOUDI_NATS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOUDI_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _running(data_dir: Path, nats_url: str) -> None:
    write_endpoints(data_dir, Endpoints(pid=1, api_url="http://127.0.0.1:1", nats_url=nats_url,
                                        temporal_address="127.0.0.1:2", temporal_ui_url="http://127.0.0.1:3",
                                        postgres_url="postgresql://postgres@127.0.0.1:4/doudi", services={}))


@pytest.mark.parametrize("nodes", ["2", "4", "0"])
def test_an_even_or_empty_cluster_is_refused_before_anything_starts(data_dir: Path, nodes: str):
    result = CliRunner().invoke(app, ["up", "--nats-nodes", nodes])
    assert result.exit_code == 2, result.output
    assert "--nats-nodes" in result.stderr and "odd" in result.stderr
    assert not (data_dir / "doudi.lock").exists() and not (data_dir / "nats-cluster").exists()


def test_streams_keep_one_replica_per_node_of_the_running_stack(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    assert stream_replicas() == 1  # nothing running: the setting (1)
    _running(data_dir, "nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224")
    assert stream_replicas() == 3
    _running(data_dir, "nats://127.0.0.1:4222")
    assert stream_replicas() == 1
    monkeypatch.setenv("DOUDI_NATS_STREAM_REPLICAS", "5")  # an explicit setting wins (compose)
    get_settings.cache_clear()
    assert stream_replicas() == 5
