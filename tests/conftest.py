from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# One sealing key for the test stack and for the test process's own Temporal clients (set before any
# settings are read).
os.environ.setdefault("DOUDI_CODEC_KEYS", "test1:" + base64.b64encode(os.urandom(32)).decode())

from deploy.embedded import EmbeddedStack, Ports  # noqa: E402
from shared.contracts.sources import SOURCE_USERS  # noqa: E402
from tests.oidc_provider import OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_ISSUER  # noqa: E402
from tests.support import StackClient, use_officials_registry  # noqa: E402


@pytest.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedStack]:
    """The real embedded stack (PostgreSQL, NATS JetStream, Temporal dev server, every service),
    started once for the session on free ports, supervised like ``doudi up`` does."""
    data = tmp_path_factory.mktemp("stack")
    faults = data / "faults"
    faults.mkdir()
    s = EmbeddedStack(data, Ports.free(), extra_env={
        "DOUDI_ENV": "test",
        "DOUDI_FAULT_POINTS": str(faults),
        "DOUDI_OTEL_EXPORTER": f"jsonl:{data / 'traces'}",
        # a prefecture's own configuration (Shangrao's dibao standard, a test fixture)
        "DOUDI_POLICY_LOCAL_DIR": str(Path(__file__).parent / "fixtures" / "policy"),
        # sign-in through the test's own OIDC provider (tests/oidc_provider.py, started by the test that uses it)
        "DOUDI_OIDC_ISSUER": OIDC_ISSUER, "DOUDI_OIDC_CLIENT_ID": OIDC_CLIENT_ID,
        "DOUDI_OIDC_CLIENT_SECRET": OIDC_CLIENT_SECRET,
    })
    try:
        await s.start()
    except BaseException:
        s.stop()
        raise
    use_officials_registry(s.database_url)  # officials the tests registered before the stack was up
    stop = asyncio.Event()
    supervisor = asyncio.create_task(s.supervise(stop))
    yield s
    stop.set()
    await supervisor
    s.stop()


@pytest.fixture(scope="session")
async def client(stack: EmbeddedStack) -> AsyncIterator[StackClient]:
    c = StackClient(stack.api_url, stack.admin_nats_url, stack.database_url,  # events published by their owners
                    sources={user: stack.nats_url_for(user) for user in SOURCE_USERS})
    yield c
    await c.close()


@pytest.fixture
def faults(stack: EmbeddedStack) -> Path:
    return stack.data_dir / "faults"
