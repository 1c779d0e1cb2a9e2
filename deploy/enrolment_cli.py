"""``doudi import`` and ``doudi cycle start|status|schedule``: enrolled households through the HTTP API
(``DOUDI_API_URL``; ``DOUDI_TOKEN``, or a development admin token in the embedded default)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from deploy.batch_cli import _answer, _client

cycle_app = typer.Typer(help="Monthly benefit cycles of enrolled households (set-based review and payment)",
                        no_args_is_help=True)
console = Console()


def import_enrolments(file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="NDJSON: one {household, kind, enrolled_from, ...} per line"),
) -> None:
    """Import existing recipient households (all or nothing; refused lines are listed with the field)."""
    with _client("admin", timeout=600.0) as http:
        r = http.post("/api/enrolments/import", content=file.read_bytes(),
                      headers={"Content-Type": "application/x-ndjson"})
        if r.status_code == 422 and isinstance(detail := r.json().get("detail"), dict):
            _refused(detail)
        out = _answer(r)
    console.print(f"{out['lines']} households: {out['enrolled']} enrolled, "
                  f"{out['already_enrolled']} already enrolled")


def _refused(detail: dict[str, Any]) -> None:
    """The first refused line and field on the error line; every further one (up to 50) listed below it."""
    refused = [f"line {line['line']}: {'.'.join(map(str, e.get('loc', []))) or '(line)'}: {e['msg']}"
               for line in detail.get("lines", []) for e in line["errors"]]
    typer.echo(f"doudi import: {detail.get('message', 'refused')}"
               + (f": {refused[0]}" if refused else ""), err=True)
    for more in refused[1:50]:
        typer.echo(f"  {more}", err=True)
    raise typer.Exit(1)


@cycle_app.command()
def start(region: str = typer.Argument(..., help="region prefix, e.g. 64 or 640104"),
          period: str = typer.Argument(..., help="YYYY-MM"),
          follow: bool = typer.Option(True, help="wait for the review figures")) -> None:
    """Start (or find) the region's cycle for a period."""
    with _client("admin") as http:
        out = _answer(http.post("/api/enrolments/cycles", json={"region_prefix": region, "period": period}))
        console.print(f"cycle {out['cycle_id']} started")
        if follow:
            for _ in range(600):
                r = http.get(f"/api/enrolments/cycles/{out['cycle_id']}")
                if r.status_code == 200:
                    _print(r.json())
                    return
                time.sleep(1)


@cycle_app.command()
def status(cycle_id: str = typer.Argument(...)) -> None:
    with _client("admin") as http:
        _print(_answer(http.get(f"/api/enrolments/cycles/{cycle_id}")))


@cycle_app.command()
def schedule(region: str = typer.Argument(..., help="region prefix")) -> None:
    """Run the region's cycle every month (a Temporal Schedule)."""
    with _client("admin") as http:
        out = _answer(http.put(f"/api/enrolments/cycles/schedules/{region}"))
    console.print(f"schedule {out['schedule_id']}: {out['cron']} ({out['timezone']})"
                  f"{'' if out['created'] else ', already there'}")


def _print(c: dict) -> None:
    t = Table(title=f"cycle {c['cycle_id']}")
    for k in ("region_prefix", "period", "enrolled", "due", "continued", "cases_opened", "on_roll"):
        t.add_row(k, str(c[k]))
    t.add_row("roll", f"¥{c['roll_fen'] / 100:,.2f}")
    console.print(t)
