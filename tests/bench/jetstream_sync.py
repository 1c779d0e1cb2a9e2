"""Benchmark: what JetStream's fsync policy costs, in the same run on this machine.

For each server shape (one node; a 3-node cluster on loopback with an R3 stream) and each
``sync_interval`` (nats-server's default, fsync every 2 minutes; ``1s``; ``always``, doudi's choice),
publishes N messages of ~600 bytes (an inbound event's size) to a file stream and waits for each
JetStream acknowledgement: once one at a time (an agency's system publishing an event and waiting,
latency-bound) and once with ``--window`` publications in flight (a burst). Prints acknowledged msgs/s,
the median of interleaved rounds (the machine is shared), and this disk's fsync time.
docs/adr/0019-jetstream-sync-policy.md reads these figures.

    python -m tests.bench.jetstream_sync [--messages N] [--window W]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from nats.js.api import StorageType, StreamConfig

from deploy.nats_cluster import SYNC_INTERVAL, NatsCluster
from deploy.procs import Proc
from shared.config import nats_url_with_credentials
from shared.infra.bus import connect
from shared.infra.nats_permissions import ADMIN, load_passwords

POLICIES: tuple[str | None, ...] = (None, "1s", SYNC_INTERVAL)
BODY = b"x" * 600


def _label(sync: str | None) -> str:
    return "default (2m)" if sync is None else sync


async def _publish(url: str, n: int, window: int) -> float:
    """Acknowledged msgs/s for ``n`` publications, ``window`` in flight at a time."""
    nc = await connect(url, connect_timeout=5)
    try:
        js = nc.jetstream(timeout=10)
        sem = asyncio.Semaphore(window)

        async def one(i: int) -> None:
            async with sem:
                await js.publish("doudi.bench.sync", BODY, headers={"Nats-Msg-Id": f"m-{i}"})

        await one(-1)  # warm: the stream's leader known, the connection's first round trip done
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - t0)
    finally:
        await nc.close()


async def measure(size: int, sync: str | None, n: int, window: int) -> tuple[float, float]:
    """(msgs/s one at a time, msgs/s with ``window`` in flight) on a fresh ``size``-node server."""
    data = Path(tempfile.mkdtemp(prefix="doudi-bench-sync-"))
    passwords = load_passwords(data)
    cluster = NatsCluster.on_free_ports(data / "nats", size, sync_interval=sync)
    procs: list[Proc] = cluster.procs(passwords, data / "logs")
    try:
        for p in procs:
            p.start()
        await cluster.wait_ready()
        url = nats_url_with_credentials(cluster.url, ADMIN, passwords[ADMIN])
        nc = await connect(url, connect_timeout=5)
        try:
            await nc.jetstream(timeout=20).add_stream(StreamConfig(
                name="BENCH", subjects=["doudi.bench.>"], storage=StorageType.FILE, num_replicas=size,
                duplicate_window=120))
        finally:
            await nc.close()
        one_at_a_time = await _publish(url, n, 1)
        burst = await _publish(url, n, window)
        return one_at_a_time, burst
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(data, ignore_errors=True)


async def main(n: int, window: int, rounds: int) -> None:
    print(f"JetStream fsync policy: {n} acknowledged publications of {len(BODY)} bytes, one at a time and"
          f" {window} in flight; median of {rounds} interleaved rounds (msgs/s); fsync on this disk"
          f" {fsync_ms(Path(tempfile.gettempdir())):.2f} ms")
    shapes = [(size, sync) for size in (1, 3) for sync in POLICIES]
    runs: dict[tuple[int, str | None], list[tuple[float, float]]] = {shape: [] for shape in shapes}
    for _ in range(rounds):  # interleaved: a busy moment of a shared machine hits every setting alike
        for shape in shapes:
            runs[shape].append(await measure(*shape, n, window))
    print(f"{'server':<14}{'sync_interval':<15}{'1 in flight':>13}{f'{window} in flight':>15}")
    for size, sync in shapes:
        seq = statistics.median(r[0] for r in runs[size, sync])
        burst = statistics.median(r[1] for r in runs[size, sync])
        base_seq = statistics.median(r[0] for r in runs[size, None])
        base_burst = statistics.median(r[1] for r in runs[size, None])
        server = "1 node" if size == 1 else f"{size} nodes R{size}"
        print(f"{server:<14}{_label(sync):<15}{seq:>13.0f}{burst:>15.0f}"
              f"   ({seq / base_seq:.2f} / {burst / base_burst:.2f} of the default)")


def fsync_ms(folder: Path, writes: int = 200) -> float:
    """One 600-byte write + fsync on this file system, in ms (what ``always`` adds per sync)."""
    path = folder / f"doudi-bench-fsync-{os.getpid()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        t0 = time.perf_counter()
        for _ in range(writes):
            os.write(fd, BODY)
            os.fsync(fd)
        return (time.perf_counter() - t0) / writes * 1000
    finally:
        os.close(fd)
        path.unlink()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m tests.bench.jetstream_sync", description=__doc__)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    asyncio.run(main(args.messages, args.window, args.rounds))
    sys.exit(0)
