"""National ID numbers masked where they are not needed (shared/auth.py has the policy and its reason):
in API answers to the roles that work on cases and funds rather than people, and in every log line and
every exported span, whoever asked."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from deploy.embedded import EmbeddedStack
from shared.auth import FULL_ID_ROLES, Role, issue_token
from shared.contracts.identity import id_check_character, mask_national_id
from tests.support import StackClient, household, national_id, wait_for

pytestmark = pytest.mark.stack

OWN = "640104"


def bearer(role: Role, region: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(f'mask-{role}-{uuid.uuid4().hex[:6]}', role, region=region)}"}


@pytest.fixture(scope="module")
async def paid(client: StackClient) -> tuple[str, str]:
    """A person paid by an event-opened case (emergency relief for a quarantined dibao household)."""
    pid = national_id(OWN)
    await client.register(household(pid, region=OWN, categories=["dibao"]))
    await client.publish("health.quarantined", {"person_id": pid, "region_code": OWN, "quarantined_on": "2022-08-10"})
    case = await client.closed_case(pid, timeout=60)
    assert case["outcome"] == "paid"
    r = await client.http.put(f"/api/reference-data/hrss/{pid}", headers=bearer(Role.service), json={"employments": []})
    assert r.status_code in (200, 201), r.text
    return pid, case["case_id"]


async def test_roles_that_need_no_full_id_get_it_masked_in_every_answer(client: StackClient,
                                                                        paid: tuple[str, str]):
    pid, case_id = paid
    masked = mask_national_id(pid)
    assert masked == pid[:6] + "********" + pid[14:]
    h = client.http
    reads = [("GET", "/api/cases", {"person_id": pid}), ("GET", f"/api/cases/{case_id}", None),
             ("GET", f"/api/households/{(await client.cases(person_id=pid))[0]['household_id']}", None),
             ("GET", f"/api/reference-data/hrss/{pid}", None), ("GET", "/api/stats/attention", None)]
    seen: dict[Role, list[int]] = {}
    for role in Role:
        for method, path, params in reads:
            r = await h.request(method, path, params=params, headers=bearer(role, OWN))
            if r.status_code != 200:
                continue  # this role may not read this at all
            seen.setdefault(role, []).append(len(r.text))
            if role in FULL_ID_ROLES:
                assert pid in r.text or path == "/api/stats/attention", (role, path, r.text[:300])
            else:
                assert pid not in r.text, (role, path, r.text[:300])
                if path != "/api/stats/attention":
                    assert masked in r.text, (role, path, r.text[:300])
    # every masked role read at least the case, and the roles of the people's work saw it whole
    for role in (Role.committee, Role.finance, Role.auditor, Role.admin):
        assert seen.get(role), f"{role} read nothing: the test proves nothing for it"
    r = await h.get(f"/api/cases/{case_id}", headers=bearer(Role.finance, OWN))
    assert r.json()["person_id"] == masked
    r = await h.get(f"/api/cases/{case_id}", headers=bearer(Role.township_approver, OWN))
    assert r.json()["person_id"] == pid
    # the auditor reads the department record with the ID masked; the service account whole
    r = await h.get(f"/api/reference-data/hrss/{pid}", headers=bearer(Role.auditor, OWN))
    assert r.status_code == 200 and r.json()["person_id"] == masked
    r = await h.get(f"/api/reference-data/hrss/{pid}", headers=bearer(Role.service))
    assert r.json()["person_id"] == pid


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


async def test_no_log_line_and_no_exported_span_carries_a_full_national_id(
        stack: EmbeddedStack, client: StackClient, paid: tuple[str, str]):
    pid, case_id = paid
    # requests whose URL names the person: the front door's forwarding log line and every service's
    # server span record the path with the ID in it
    for _ in range(2):
        r = await client.http.get(f"/api/reference-data/hrss/{pid}", headers=bearer(Role.service))
        assert r.status_code == 200
    masked = mask_national_id(pid)
    logs, traces = stack.data_dir / "logs", stack.data_dir / "traces"

    async def written() -> bool:
        return any(masked in p.read_text(errors="replace") for p in _files(traces)) and \
            any(masked in p.read_text(errors="replace") for p in _files(logs))
    await wait_for(written, timeout=20, interval=0.5)

    id_shaped = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dX](?![0-9A-Za-z])")
    for folder in (logs, traces):
        files = _files(folder)
        assert files, f"nothing in {folder}"
        for path in files:
            text = path.read_text(errors="replace")
            assert pid not in text, f"{path} carries {pid}"
            # nor any other valid national ID (every stack test of the session shares these folders)
            found = {m for m in id_shaped.findall(text) if id_check_character(m[:17]) == m[17]}
            assert not found, (path, sorted(found)[:5])
    lines = sum(p.read_text(errors="replace").count(masked) for p in _files(logs))
    spans = sum(p.read_text(errors="replace").count(masked) for p in _files(traces))
    print(f"\nmasked ID {masked}: {lines} log occurrences, {spans} span occurrences, 0 full")
    assert lines >= 2 and spans >= 2
