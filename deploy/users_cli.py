"""``doudi users add|list|disable``: the local accounts people sign in with at the front door (``/login``),
over the same HTTP routes as everything else (``/api/accounts``, a province-wide administrator; in the
embedded default a development admin token, else ``DOUDI_TOKEN``), so every change is authorised and
audited the same way.

An account that decides money (``DECIDING_ROLES``) needs ``--person-id``: the official's own national ID is
registered in the officials registry (``PUT /api/officials/{username}``) under the account's username, role
and jurisdiction, since a decision is signed only with the person id the registry holds.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from deploy.admin_cli import _check, _client, register_official

users_app = typer.Typer(help="Local accounts for signing in at the front door (/login)", no_args_is_help=True)
console = Console()

ROLES = ("clerk", "township_approver", "county_approver", "committee", "finance", "auditor", "admin")
# who decides money: a decision is signed with the registered person id (services/approval/officials.py)
DECIDING_ROLES = frozenset({"township_approver", "county_approver", "committee", "finance", "admin"})


def _role(value: str) -> str:
    if value not in ROLES:
        raise typer.BadParameter(f"{value!r} is no role a person signs in as (one of: {', '.join(ROLES)})")
    return value


def _region(value: str) -> str:
    from shared.auth import validate_jurisdiction

    try:
        validate_jurisdiction(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise typer.BadParameter("no password on standard input", param_hint="--password-stdin")
        return line
    if not sys.stdin.isatty():
        raise typer.BadParameter("no terminal to ask for the password: use --password-stdin or --no-password")
    value: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return value


@users_app.command("add")
def add(username: str = typer.Argument(..., help="the name typed at /login (letters, digits, . _ @ -)"),
        role: str = typer.Option(..., callback=_role, help=", ".join(ROLES)),
        region: str = typer.Option(..., callback=_region,
                                   help="jurisdiction: a region-code prefix (64, 6401, 640104, …) or '*'"),
        name: str = typer.Option("", help="the name shown and recorded (default: the username)"),
        person_id: str = typer.Option("", help="the official's own national ID, registered in the officials "
                                               "registry (needed for " + ", ".join(sorted(DECIDING_ROLES)) + ")"),
        password_stdin: bool = typer.Option(False, "--password-stdin",
                                            help="read the password from the first line of standard input"),
        no_password: bool = typer.Option(False, "--no-password",
                                         help="signs in through OIDC only (the provider names this username)"),
        ) -> None:
    """Create an account (asks for the password twice unless --password-stdin or --no-password)."""
    if role in DECIDING_ROLES and not person_id:
        raise typer.BadParameter(f"a {role} decides money: give the official's own national ID, registered in "
                                 "the officials registry with the account", param_hint="--person-id")
    if no_password and password_stdin:
        raise typer.BadParameter("choose one of --password-stdin and --no-password")
    body: dict[str, Any] = {"username": username, "display_name": name or username, "role": role,
                            "region": region}
    if not no_password:
        body["password"] = _password(password_stdin)
    with _client() as c:
        if person_id:  # first: the registry validates the ID; a failure leaves no account behind
            register_official(c, username, person_id=person_id, name=name or username, roles=[role],
                              region="" if region == "*" else region)
        account = _check(c.post("/api/accounts", json=body))
    registered = " (registered in the officials registry)" if person_id else ""
    console.print(f"account {account['username']}: {account['role']} for {account['region']}{registered}")


@users_app.command("list")
def list_users() -> None:
    """Every account: role, jurisdiction, how it signs in, disabled or not."""
    with _client() as c:
        rows = _check(c.get("/api/accounts"))
    table = Table(title=f"{len(rows)} account(s)")
    for col in ("username", "name", "role", "region", "signs in with", "disabled"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["username"], r["display_name"], r["role"], r["region"], r["signs_in_with"],
                      "disabled" if r["disabled"] else "")
    console.print(table)


@users_app.command("disable")
def disable(username: str = typer.Argument(...)) -> None:
    """Disable an account: its sessions end at once and it cannot sign in again. (An official registered
    under the same name stays in the registry, for the record: `doudi admin officials register --inactive`.)"""
    with _client() as c:
        account = _check(c.post(f"/api/accounts/{username}/disable"))
    console.print(f"account {account['username']} disabled")
