"""`doudi` fails in one line with a non-zero exit code, never a traceback; it finds the stack from the data
folder's endpoints.json; `doudi up` refuses a data folder another stack holds. No stack is needed here."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from deploy import admin_cli, batch_cli, enrolment_cli
from deploy.api_client import ApiError, answer
from deploy.cli import app
from deploy.endpoints import (
    ENDPOINTS_FILE,
    Endpoints,
    StackAlreadyRunning,
    hold_lock,
    mark_stopped,
    read_endpoints,
    release_lock,
    write_endpoints,
)
from services.intake.roster_import import _checked_line
from shared.config import get_settings
from shared.contracts.events import INBOUND_EVENTS
from shared.infra.nats_permissions import load_passwords
from tests.support import household, national_id


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("DOUDI_API_URL", "DOUDI_TOKEN", "DOUDI_NATS_URL", "DOUDI_NATS_USER", "DOUDI_NATS_PASSWORD",
                 "DOUDI_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOUDI_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def endpoints_at(api_port: int, nats_port: int) -> Endpoints:
    return Endpoints(pid=1, api_url=f"http://127.0.0.1:{api_port}", nats_url=f"nats://127.0.0.1:{nats_port}",
                     temporal_address="127.0.0.1:1", temporal_ui_url="http://127.0.0.1:2",
                     postgres_url="postgresql://postgres@127.0.0.1:3/doudi", services={})


def run(*args: str) -> tuple[int, str]:
    """Exit code and stderr of `doudi <args>`."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


def assert_one_line(err: str, *contains: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for text in contains:
        assert text in lines[0], err


def test_a_bad_snapshot_date_is_one_line_naming_the_option(data_dir: Path):
    code, err = run("batch", "start", "--measure", "one_time_living_subsidy", "--region", "64",
                    "--snapshot", "2022/09/30")
    assert code == 2
    assert_one_line(err, "--snapshot", "2022/09/30", "YYYY-MM-DD")


def test_a_missing_corrected_file_is_one_line_naming_it(data_dir: Path):
    code, err = run("admin", "dlq", "redeliver", "7", "--reason", "fixed", "--corrected",
                    str(data_dir / "nope.json"))
    assert code == 2
    assert_one_line(err, "--corrected", "nope.json")


def test_a_corrected_file_that_is_not_json_is_one_line(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    bad = data_dir / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    code, err = run("admin", "dlq", "redeliver", "7", "--reason", "fixed", "--corrected", str(bad))
    assert code == 2
    assert_one_line(err, "bad.json", "not JSON")


def test_the_commands_find_the_stack_in_the_data_folder_and_an_unreachable_one_is_one_line(data_dir: Path):
    api = free_port()  # nothing listens: the stack named by endpoints.json is down
    write_endpoints(data_dir, endpoints_at(api, free_port()))
    code, err = run("admin", "list-stalled")
    assert code == 1
    assert_one_line(err, "cannot reach the doudi API", f"127.0.0.1:{api}", str(data_dir))


def test_api_url_and_the_env_outrank_the_data_folder(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    write_endpoints(data_dir, endpoints_at(free_port(), free_port()))
    chosen = free_port()
    code, err = run("--api-url", f"http://127.0.0.1:{chosen}", "admin", "list-stalled")
    assert code == 1
    assert_one_line(err, f"127.0.0.1:{chosen}")
    env = free_port()
    monkeypatch.setenv("DOUDI_API_URL", f"http://127.0.0.1:{env}")
    code, err = run("admin", "list-stalled")
    assert_one_line(err, f"127.0.0.1:{env}")


def test_a_stopped_stack_s_endpoints_are_not_used(data_dir: Path):
    write_endpoints(data_dir, endpoints_at(free_port(), free_port()))
    mark_stopped(data_dir)
    assert json.loads((data_dir / ENDPOINTS_FILE).read_text())["status"] == "stopped"
    assert read_endpoints(data_dir) is None


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> Callable[..., httpx.Client]:
    return lambda *a, **k: httpx.Client(base_url="http://doudi.test", transport=httpx.MockTransport(handler))


def test_an_http_error_prints_the_server_s_detail_in_one_line(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(admin_cli, "_client", mock_client(
        lambda r: httpx.Response(403, json={"detail": "需要管理员角色 (admin role required)"})))
    code, err = run("admin", "list-stalled")
    assert code == 1
    assert_one_line(err, "403", "需要管理员角色 (admin role required)")


def test_validation_errors_are_field_and_message():
    response = httpx.Response(422, json={"detail": [
        {"loc": ["body", "snapshot_on"], "msg": "Input should be a valid date", "type": "date_from_datetime"},
        {"loc": ["query", "limit"], "msg": "too big"}]})
    with pytest.raises(ApiError) as refused:
        answer(response)
    assert str(refused.value) == "422 snapshot_on: Input should be a valid date; limit: too big"


def test_batch_list_never_cuts_an_id(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    batch_id = "batch-one_time_living_subsidy-640104-2022-09-30-" + "f" * 32
    item = {"batch_id": batch_id, "measure": "one_time_living_subsidy", "region_prefix": "640104",
            "snapshot_on": "2022-09-30", "status": "completed", "paid_count": 3, "expected_payments": 3,
            "paid_fen": 90000}
    monkeypatch.setattr(batch_cli, "_client", mock_client(lambda r: httpx.Response(200, json={"items": [item]})))
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["batch", "list"])
    assert result.exit_code == 0, result.output
    assert any(line.split()[0] == batch_id for line in result.stdout.splitlines()), result.stdout


def test_publish_validates_against_the_contract_naming_the_field(data_dir: Path):
    code, err = run("publish", "health.quarantined", json.dumps({"person_id": national_id()}), "--id", "e-1")
    assert code == 2
    assert_one_line(err, "data.region_code", "data.quarantined_on")
    code, err = run("publish", "health.quarantined", "{not json", "--id", "e-1")
    assert code == 2
    assert_one_line(err, "not JSON")


def test_publish_help_lists_every_event_name():
    result = CliRunner().invoke(app, ["publish", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    for name in INBOUND_EVENTS:
        assert name in result.stdout


def test_publish_to_an_unreachable_stack_exits_in_one_line(data_dir: Path):
    load_passwords(data_dir)  # the data folder of a stack that is not running
    write_endpoints(data_dir, endpoints_at(free_port(), free_port()))
    data = {"person_id": national_id(), "region_code": "640104", "quarantined_on": "2022-08-10"}
    code, err = run("publish", "health.quarantined", json.dumps(data), "--id", "e-2")
    assert code == 1
    assert_one_line(err, "cannot reach NATS", str(data_dir))


def test_debug_shows_the_traceback(data_dir: Path):
    result = CliRunner().invoke(app, ["--debug", "--api-url", f"http://127.0.0.1:{free_port()}",
                                      "admin", "list-stalled"])
    assert isinstance(result.exception, httpx.ConnectError)


def test_the_lock_refuses_a_second_holder_naming_the_folder_and_the_api(data_dir: Path):
    first = hold_lock(data_dir)
    try:
        write_endpoints(data_dir, endpoints_at(8123, 4223))
        with pytest.raises(StackAlreadyRunning) as refused:
            hold_lock(data_dir)
        assert str(data_dir.resolve()) in str(refused.value) and "http://127.0.0.1:8123" in str(refused.value)
        # `doudi up` is refused before it starts anything
        code, err = run("up", "--data-dir", str(data_dir), "--api-port", str(free_port()))
        assert code == 1
        assert_one_line(err, "already runs", str(data_dir.resolve()), "http://127.0.0.1:8123")
    finally:
        release_lock(first)
    release_lock(hold_lock(data_dir))  # free again once the first holder is gone


def test_a_wrong_id_check_character_in_an_import_is_a_field_error_not_a_500():
    pid = national_id("640104")
    wrong = pid[:-1] + ("0" if pid[-1] != "0" else "1")
    line: dict[str, Any] = {"household": household(wrong, categories=["dibao"]), "enrolled_from": "2022-01"}
    errors = _checked_line(json.dumps(line).encode(), lambda region: True)
    assert isinstance(errors, list)
    json.dumps(errors)  # the 422 answer carries them: they must be JSON (a ValueError in ctx was a 500)
    assert errors[0]["loc"] == ("household", "members", 0, "person_id")
    assert "check character" in errors[0]["msg"]


def test_import_names_the_refused_line_and_field_in_its_first_line(data_dir: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    pid = national_id("640104")
    wrong = pid[:-1] + ("0" if pid[-1] != "0" else "1")
    good = {"household": household(national_id("640104"), categories=["dibao"]), "enrolled_from": "2022-01"}
    bad: dict[str, Any] = {"household": household(wrong, categories=["dibao"]), "enrolled_from": "2022-01"}
    errors = _checked_line(json.dumps(bad).encode(), lambda region: True)
    # what POST /api/enrolments/import answers for it (services/intake/enrolment_routes.py)
    detail = {"message": "1 line(s) refused; nothing imported", "lines": [{"line": 2, "errors": errors}]}
    monkeypatch.setattr(enrolment_cli, "_client", mock_client(
        lambda r: httpx.Response(422, content=json.dumps({"detail": detail}))))
    ndjson = data_dir / "roster.ndjson"
    ndjson.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    code, err = run("import", str(ndjson))
    assert code == 1
    assert_one_line(err, "nothing imported", "line 2", "household.members.0.person_id", "check character")
    code, err = run("import", str(data_dir / "missing.ndjson"))
    assert code == 2
    assert_one_line(err, "missing.ndjson")
