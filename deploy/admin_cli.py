"""``doudi admin``: the operations team's commands, over the same HTTP routes as the console (so every
action is authorised and audited the same way)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from deploy.api_client import answer, api_client

admin_app = typer.Typer(help="Stalled cases, escalation, replay, dead letters", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-lettered inbound events", no_args_is_help=True)
admin_app.add_typer(dlq_app, name="dlq")
officials_app = typer.Typer(help="The officials registry: who decides (person id, roles, jurisdiction)",
                            no_args_is_help=True)
admin_app.add_typer(officials_app, name="officials")
console = Console()


def _client() -> httpx.Client:
    """An administrator's client (deploy/api_client.py): a dev admin token in the embedded default."""
    return api_client("admin", os.environ.get("USER", "admin-cli"), timeout=60)


def _check(r: httpx.Response) -> Any:
    return answer(r)


@admin_app.command("list-stalled")
def list_stalled(sweep: bool = typer.Option(False, help="run the sweep first")) -> None:
    """Cases with no progress past their deadline or their step's time."""
    with _client() as c:
        if sweep:
            _check(c.post("/api/admin/sweep"))
        rows = _check(c.get("/api/admin/stalled"))
    table = Table(title=f"{len(rows)} stalled case(s)")
    for col in ("case", "pathway", "stage", "region", "since", "why"):
        table.add_column(col)
    for r in rows:
        why = "\n".join(w for w in (r["stalled_reason"], r.get("stalled_reason_zh")) if w)  # English, then 中文
        table.add_row(r["case_id"], r["pathway"], r["stage"], r["region_code"] or "",
                      str(r["stalled_at"] or ""), why)
    console.print(table)


@admin_app.command()
def escalate(case_id: str, reason: str = typer.Option(..., help="why (audited)")) -> None:
    """Raise a case waiting for the county to one matter, one discussion (一事一议)."""
    with _client() as c:
        console.print(_check(c.post(f"/api/cases/{case_id}/escalate", json={"reason": reason})))


@admin_app.command()
def replay(case_id: str, retry: bool = typer.Option(False, "--retry", help="re-run the failed step"),
           reset: bool = typer.Option(False, "--reset",
                                      help="reset to the last good workflow task (after a fix)"),
           reason: str = typer.Option(..., help="why (audited)")) -> None:
    """Re-drive a stalled case."""
    if retry == reset:
        raise typer.BadParameter("choose exactly one of --retry and --reset")
    with _client() as c:
        console.print(_check(c.post(f"/api/cases/{case_id}/replay",
                                    json={"mode": "retry" if retry else "reset", "reason": reason})))


@dlq_app.command("list")
def dlq_list() -> None:
    with _client() as c:
        rows = _check(c.get("/api/admin/dlq"))
    table = Table(title=f"{len(rows)} dead letter(s)")
    for col in ("seq", "subject", "event", "reason", "redelivered"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["seq"]), r["original_subject"] or r["subject"], r["event_id"] or "",
                      r["reason"] or "", r.get("redelivery") or "")
    console.print(table)


@dlq_app.command()
def redeliver(seq: int, reason: str = typer.Option(..., help="why (audited)"),
              corrected: Path | None = typer.Option(None, exists=True, dir_okay=False, readable=True,
                                                    help="a JSON file with the corrected CloudEvent"),
              ) -> None:
    body: dict[str, Any] = {"reason": reason}
    if corrected is not None:
        try:
            body["corrected"] = json.loads(corrected.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise typer.BadParameter(f"{corrected} is not JSON: {exc}", param_hint="--corrected") from None
    with _client() as c:
        console.print(_check(c.post(f"/api/admin/dlq/{seq}/redeliver", json=body)))


@dlq_app.command()
def approve(seq: int, reason: str = typer.Option(..., help="why (audited)")) -> None:
    """The second official approves a corrected redelivery that changes a person or an amount (four eyes)."""
    with _client() as c:
        console.print(_check(c.post(f"/api/admin/dlq/{seq}/approve", json={"reason": reason})))


def register_official(c: httpx.Client, subject: str, *, person_id: str, name: str, roles: list[str],
                      region: str) -> Any:
    return _check(c.put(f"/api/officials/{subject}", json={
        "person_id": person_id, "name": name, "roles": roles, "jurisdiction": region or "*"}))


@officials_app.command("register")
def officials_register(subject: str,
                       person_id: str = typer.Option(..., help="the official's own national ID"),
                       name: str = typer.Option(..., help="the official's name"),
                       role: list[str] = typer.Option(..., help="a role the official acts in (repeatable)"),
                       region: str = typer.Option("", help="jurisdiction: a region-code prefix "
                                                           "(empty = everywhere)"),
                       inactive: bool = typer.Option(False, help="no longer acts (kept for the record)"),
                       ) -> None:
    """Register (or update) an official: conflict of interest and committee membership are checked
    against this person id; an official not registered cannot decide money."""
    with _client() as c:
        if inactive:
            console.print(_check(c.put(f"/api/officials/{subject}", json={
                "person_id": person_id, "name": name, "roles": role, "jurisdiction": region or "*",
                "active": False})))
        else:
            console.print(register_official(c, subject, person_id=person_id, name=name, roles=role,
                                            region=region))


@officials_app.command("show")
def officials_show(subject: str) -> None:
    with _client() as c:
        console.print(_check(c.get(f"/api/officials/{subject}")))
