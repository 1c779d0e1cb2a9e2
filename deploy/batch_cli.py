"""``doudi batch start|status|list|cancel``: batch subsidies through the HTTP API.

The API's base URL comes from ``DOUDI_API_URL`` (default ``http://127.0.0.1:8000``); the bearer token
from ``DOUDI_TOKEN``, or, in the embedded default only, a development finance token.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from deploy.api_client import answer, api_client

batch_app = typer.Typer(help="Batch subsidies: one-time living subsidy and price-linkage subsidy to a whole "
                             "region", no_args_is_help=True)
console = Console()
FINAL = ("completed", "cancelled", "rejected")


def _client(role: str = "finance", timeout: float = 30.0) -> httpx.Client:
    return api_client(role, f"dev-{role}", timeout=timeout, ttl_s=3600)


def _answer(response: httpx.Response) -> dict[str, Any]:
    out: dict[str, Any] = answer(response)
    return out


def _iso_date(value: str) -> str:
    """A YYYY-MM-DD option, refused in one line naming the format (2022/09/30 is not one)."""
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD (e.g. 2022-09-30)") from None


def _yuan(fen: int | None) -> str:
    return "-" if fen is None else f"¥{fen // 100:,}.{fen % 100:02d}"


@batch_app.command()
def start(
    measure: str = typer.Option(..., help="one_time_living_subsidy or price_linkage"),
    region: str = typer.Option(..., help="region prefix: province (64), prefecture (6401), county (640104)"),
    snapshot: str = typer.Option(..., callback=_iso_date, help="snapshot date YYYY-MM-DD: who is a recipient then"),
    amount: int | None = typer.Option(None,
                                      help="fen per person (price linkage; packs without a fixed amount)"),
    categories: str | None = typer.Option(None, help="comma-separated (default: the measure's own)"),
    month: str | None = typer.Option(None, help="price linkage: the month YYYY-MM (default: the snapshot's)"),
    chunk_size: int = typer.Option(5000, help="payments per chunk (one transaction each)"),
    follow: bool = typer.Option(True, help="follow the progress until the batch is done"),
) -> None:
    """Start a batch (idempotent: the same request answers the same batch id)."""
    body: dict[str, Any] = {"measure": measure, "region_prefix": region,
                            "snapshot_on": snapshot, "chunk_size": chunk_size}
    if amount is not None:
        body["amount_fen_per_person"] = amount
    if categories:
        body["categories"] = [c.strip() for c in categories.split(",") if c.strip()]
    if month:
        body["month"] = month
    with _client() as http:
        accepted = _answer(http.post("/api/batches", json=body))
    created = "started" if accepted["created"] else "exists"
    console.print(f"batch [bold]{accepted['batch_id']}[/bold] {created} ({accepted['status']})")
    if follow:
        _follow(accepted["batch_id"])


@batch_app.command()
def status(
    batch_id: str = typer.Argument(...),
    follow: bool = typer.Option(True, help="follow with a progress bar until the batch is done"),
    interval: float = typer.Option(0.5, help="seconds between polls"),
) -> None:
    """Show a batch; by default follow its progress bar until it completes, is cancelled or rejected."""
    if follow:
        _follow(batch_id, interval)
    else:
        with _client() as http:
            _print(_answer(http.get(f"/api/batches/{batch_id}")))


@batch_app.command("list")
def list_batches(status_: str | None = typer.Option(None, "--status"), limit: int = typer.Option(20)) -> None:
    """Batches in your jurisdiction, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if status_:
        params["status"] = status_
    with _client() as http:
        items = _answer(http.get("/api/batches", params=params))["items"]
    # plain lines, not a table: a table narrower than its ids cuts them, and an id is copied from here
    rows = [("batch", "measure", "region", "snapshot", "status", "paid", "amount")]
    rows += [(b["batch_id"], b["measure"], b["region_prefix"], b["snapshot_on"], b["status"],
              f"{b['paid_count']:,}/{(b['expected_payments'] or 0):,}", _yuan(b["paid_fen"])) for b in items]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@batch_app.command()
def approve(batch_id: str = typer.Argument(...),
            reason: str = typer.Option(..., help="why the amount is right (kept with the batch)")) -> None:
    """Four eyes: approve, as a second finance official (DOUDI_TOKEN of another person than who started it),
    a batch whose amount a person set; it starts then."""
    with _client() as http:
        _print(_answer(http.post(f"/api/batches/{batch_id}/approve", json={"reason": reason})))


@batch_app.command()
def cancel(batch_id: str = typer.Argument(...),
           reason: str = typer.Option(..., help="why (kept with the batch)")) -> None:
    """Cancel a batch: no further chunk starts; what was paid stays paid."""
    with _client() as http:
        _print(_answer(http.post(f"/api/batches/{batch_id}/cancel", json={"reason": reason})))


def _print(b: dict[str, Any]) -> None:
    table = Table(title=f"batch {b['batch_id']}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    policy = b.get("policy") or {}
    rows = [
        ("measure", f"{b['measure']} in {b['region_prefix']}, snapshot {b['snapshot_on']}"
                    + (f", month {b['month']}" if b.get("month") else "")),
        ("status", f"{b['status']}: {b['note']}"),
        ("amount", b["amount_note"]),
        ("policy", f"{policy.get('pack_id', '-')} {policy.get('pack_version', '')}"),
        ("cohort", f"{b['total'] if b['total'] is not None else b['loaded_rows']:,} recipients"
                   + (f", {b['payable']:,} payable" if b["payable"] is not None else " (loading)")),
        ("paid", f"{b['paid_count']:,} of {(b['expected_payments'] or 0):,} payments, {_yuan(b['paid_fen'])}"
                 f" of {_yuan(b['expected_fen'])} ({b['percent']}%)"),
        ("chunks", f"{b['chunks_done']}/{b['chunk_count'] or '-'} of {b['chunk_size']:,}"),
    ]
    for inst in b["installments"]:
        rows.append((f"installment {inst['sequence']}",
                     f"{inst['month']} {inst['status']}: {inst['paid_count']:,}/{inst['expected_payments']:,}"
                     + (f", {inst['stopped']} stopped" if inst["stopped"] else "")))
    for a in b["amounts"]:
        rows.append((f"amount (inst. {a['installment']})",
                     f"{_yuan(a['amount_fen'])} x {a['recipients']:,}: {a['reason']}"))
    if b["payment_events"]:
        rows.append(("payment events", f"{b['payment_events_published']:,} published"))
    for k, v in rows:
        table.add_row(k, str(v))
    console.print(table)


def _follow(batch_id: str, interval: float = 0.5) -> None:
    with _client() as http:
        b = _answer(http.get(f"/api/batches/{batch_id}"))
        with Progress(TextColumn("[bold]{task.fields[stage]}"), BarColumn(), MofNCompleteColumn(),
                      TaskProgressColumn(), TextColumn("{task.fields[money]}"), TimeElapsedColumn(),
                      console=console, transient=False) as bar:
            task = bar.add_task("batch", total=None, stage=b["status"], money="")
            while True:
                loading = b["status"] in ("planned", "loading") and b["total"] is None
                total = b["expected_payments"] if not loading else None
                done = b["paid_count"] if not loading else b["loaded_rows"]
                bar.update(task, total=total, completed=done,
                           stage=f"{b['status']}" + (" (rows loaded)" if loading else ""),
                           money=_yuan(b["paid_fen"]))
                if b["status"] in FINAL:
                    break
                time.sleep(interval)
                b = _answer(http.get(f"/api/batches/{batch_id}"))
    _print(b)
