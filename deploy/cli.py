"""The ``doudi`` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from deploy.api_client import choose_api_url
from deploy.batch_cli import batch_app
from deploy.cli_errors import OneLineErrors, show_tracebacks
from deploy.enrolment_cli import cycle_app, import_enrolments
from shared.contracts.events import INBOUND_EVENTS

app = typer.Typer(help="doudi (兜底): basic-living relief as durable, event-driven processes",
                  no_args_is_help=True, cls=OneLineErrors)
console = Console()
app.add_typer(batch_app, name="batch")
app.add_typer(cycle_app, name="cycle")
app.command("import")(import_enrolments)

from deploy.admin_cli import admin_app  # noqa: E402

app.add_typer(admin_app, name="admin")
from deploy.users_cli import users_app  # noqa: E402

app.add_typer(users_app, name="users")


@app.callback()
def root(api_url: str = typer.Option("", help="the stack's API (default: DOUDI_API_URL, else the endpoints.json "
                                              "`doudi up` wrote into DOUDI_DATA_DIR, else 127.0.0.1:8000)"),
         debug: bool = typer.Option(False, "--debug", envvar="DOUDI_DEBUG",
                                    help="show the traceback of a failure (otherwise one line)"),
         ) -> None:
    """doudi (兜底): basic-living relief as durable, event-driven processes."""
    choose_api_url(api_url)
    show_tracebacks(debug)


@app.command()
def up(
    data_dir: Path = typer.Option(Path(".data"), envvar="DOUDI_DATA_DIR", help="everything the system keeps"),
    api_port: int = typer.Option(8000, help="API and dashboard"),
    nats_port: int = typer.Option(4222),
    temporal_port: int = typer.Option(7233),
    temporal_ui_port: int = typer.Option(8233),
    postgres_port: int = typer.Option(55432),
    nats_nodes: int = typer.Option(1, help="NATS JetStream nodes: 1, or 3 or 5 for a cluster on loopback (client"
                                           " ports from --nats-port, routes +2000, monitoring +4000; streams with"
                                           " one replica per node; stored under nats-cluster/ in the data folder)"),
) -> None:
    """Start PostgreSQL, NATS, the Temporal dev server and every service; Ctrl-C stops them all."""
    from deploy.embedded import EmbeddedStack, Ports
    from deploy.endpoints import hold_lock, mark_stopped, release_lock, write_endpoints
    from deploy.nats_cluster import NatsCluster
    from shared.infra.process import configure_logging
    from shared.services import HTTP_BACKENDS

    configure_logging("doudi-up")
    ports = Ports(api=api_port, nats=nats_port, temporal=temporal_port, temporal_ui=temporal_ui_port,
                  postgres=postgres_port, nats_monitor=nats_port + 4000,
                  **{s.name: s.port_beside(api_port) for s in HTTP_BACKENDS})
    if nats_nodes not in (1, 3, 5):
        raise typer.BadParameter("1, 3 or 5 (a JetStream cluster needs an odd number of nodes)",
                                 param_hint="--nats-nodes")
    cluster = (NatsCluster.on_ports(data_dir / "nats-cluster", nats_nodes, client=nats_port, cluster=nats_port + 2000,
                                    monitor=nats_port + 4000) if nats_nodes > 1 else None)
    stack = EmbeddedStack(data_dir, ports, nats_cluster=cluster)
    # one stack per data folder: refused here, before anything starts (deploy/endpoints.py)
    lock = hold_lock(stack.data_dir)
    write_endpoints(stack.data_dir, stack.endpoints())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            starting = asyncio.create_task(stack.start())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                starting.cancel()
                return
            starting.result()
            table = Table(title="doudi is up (Ctrl-C stops everything)")
            table.add_column("what")
            table.add_column("where")
            for what, where in stack.urls().items():
                table.add_row(what, where)
            console.print(table)
            console.print("A token for the API: [bold]doudi dev-token --role clerk[/bold]")
            await stack.supervise(stop)
        finally:
            console.print("stopping…")
            await asyncio.to_thread(stack.stop)
            mark_stopped(stack.data_dir)
            release_lock(lock)
            console.print("stopped")

    asyncio.run(main())


@app.command("dev-token")
def dev_token(
    role: str = typer.Option(..., help="clerk, township_approver, county_approver, committee, finance, auditor,"
                                       " admin, service"),
    region: str = typer.Option("", help="jurisdiction: a region-code prefix (empty = everywhere)"),
    subject: str = typer.Option("", help="who (defaults to dev-<role>)"),
    ttl_hours: int = typer.Option(12),
    person_id: str = typer.Option("", help="also register the subject as an official with this national ID "
                                  "(the officials registry, through DOUDI_API_URL): needed to decide money"),
) -> None:
    """Print a bearer token valid for the embedded default."""
    from shared.auth import Role, issue_token, validate_jurisdiction
    from shared.config import get_settings

    if get_settings().env == "production":
        raise typer.BadParameter("dev-token is for the embedded default; production tokens come from your "
                                 "IdP")
    try:
        Role(role)
    except ValueError:
        raise typer.BadParameter(f"unknown role {role!r}") from None
    try:
        validate_jurisdiction(region or "*")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    subject = subject or f"dev-{role}"
    if person_id:
        from deploy.admin_cli import _client, register_official

        with _client() as c:
            register_official(c, subject, person_id=person_id, name=subject, roles=[role], region=region)
    typer.echo(issue_token(subject, role, region=region, ttl_s=ttl_hours * 3600))


@app.command()
def migrate() -> None:
    """Apply every service's SQL migrations to DOUDI_DATABASE_URL."""
    from deploy.embedded import EmbeddedStack
    from shared.config import get_settings
    from shared.infra.db import migrate as run_migrations

    settings = get_settings()

    async def main() -> None:
        for schema, folder in EmbeddedStack.migration_folders():
            applied = await run_migrations(settings.database_url, schema, folder)
            console.print(f"{schema}: {len(applied)} applied")

    asyncio.run(main())


PUBLISH_TIMEOUT_S = 30.0  # connecting and NATS's answer (publish, streams), whatever happens


@app.command()
def publish(
    name: str = typer.Argument(..., help=f"the event's name, one of: {', '.join(INBOUND_EVENTS)}"),
    data: str = typer.Argument(..., help="the data object as JSON"),
    event_id: str = typer.Option(..., "--id", help="the CloudEvents id (the same id twice is one event)"),
    as_source: str = typer.Option("", "--as", help="the source agency to publish as (health,"
                                  " hr_social_security, education, medical_insurance, civil_registry,"
                                  " emergency_management, price_authority); default: the agency that owns the"
                                  " event's family"),
    source: str = typer.Option("", help="the CloudEvents source (default urn:doudi:source:<agency>)"),
) -> None:
    """Publish an inbound CloudEvent on doudi.events.<name> as its source agency's NATS user (what that
    agency's system does). Another agency's event is refused by NATS: only its owner may publish it."""
    from nats import errors as nats_errors

    from shared.contracts.events import InvalidEvent, make_cloudevent, parse_inbound
    from shared.contracts.sources import BY_USER, owner_of
    from shared.infra.bus import connect

    if name not in INBOUND_EVENTS:
        raise typer.BadParameter(f"unknown event {name!r}; one of {', '.join(INBOUND_EVENTS)}")
    if as_source and as_source not in BY_USER:
        raise typer.BadParameter(f"unknown source agency {as_source!r}; one of {', '.join(BY_USER)}")
    agency = BY_USER[as_source] if as_source else owner_of(name)
    try:
        event = make_cloudevent(name, json.loads(data), event_id=event_id, source=source or agency.source_uri)
    except ValueError as exc:
        raise typer.BadParameter(f"DATA is not JSON: {exc}", param_hint="DATA") from None
    body = json.dumps(event, ensure_ascii=False).encode()
    try:  # what the consumers will check, checked before anything is sent
        parse_inbound(f"doudi.events.{name}", body)
    except InvalidEvent as exc:
        raise typer.BadParameter(f"{name} refused by its contract: {exc}") from None

    async def ignore(_: Exception) -> None:
        """nats-py logs every failed attempt with its traceback; the failure is reported once, in one line."""

    async def main() -> None:
        # one attempt per server: nats-py's max_reconnect_attempts=0 retries a refused server forever
        nc = await connect(_nats_url(agency.user), connect_timeout=5, max_reconnect_attempts=1,
                           allow_reconnect=False, error_cb=ignore)
        try:
            ack = await nc.jetstream(timeout=5).publish(f"doudi.events.{name}", body,
                                                        headers={"Nats-Msg-Id": event_id})
            console.print(f"published to {ack.stream} seq {ack.seq} as {agency.user}"
                          f"{' (duplicate)' if ack.duplicate else ''}")
        except nats_errors.TimeoutError:
            raise typer.BadParameter(f"NATS did not accept doudi.events.{name} from {agency.user!r}: only"
                                     f" {owner_of(name).user!r} may publish it") from None
        finally:
            await nc.close()

    asyncio.run(asyncio.wait_for(main(), timeout=PUBLISH_TIMEOUT_S))


def _nats_url(user: str | None = None) -> str:
    """NATS as this process's user (DOUDI_NATS_USER/PASSWORD) or else, for the embedded default, as
    ``user`` (``admin`` unless named) with the password the stack generated in the data folder."""
    from deploy.endpoints import read_endpoints
    from shared.config import get_settings, nats_url_with_credentials
    from shared.infra.nats_permissions import ADMIN, PASSWORDS_FILE, load_passwords

    settings = get_settings()
    if settings.nats_user:
        return settings.nats_url
    running = read_endpoints(settings.data_dir)
    server = running.nats_url if running and not os.environ.get("DOUDI_NATS_URL") else settings.nats_url
    user = user or ADMIN
    try:
        password = load_passwords(settings.data_dir, create=False)[user]
    except FileNotFoundError:
        raise typer.BadParameter(f"no {settings.data_dir / PASSWORDS_FILE}: set DOUDI_NATS_USER and "
                                 "DOUDI_NATS_PASSWORD, or DOUDI_DATA_DIR to the folder `doudi up` uses"
                                 ) from None
    return nats_url_with_credentials(server, user, password)


def stream_replicas() -> int:
    """Replicas per stream: DOUDI_NATS_STREAM_REPLICAS when set (compose), else one per server of the stack
    running on the data folder (``doudi up --nats-nodes 3``: 3), so that `doudi streams` never shrinks them."""
    from deploy.endpoints import read_endpoints
    from shared.config import get_settings

    settings = get_settings()
    running = read_endpoints(settings.data_dir)
    if "DOUDI_NATS_STREAM_REPLICAS" in os.environ or running is None or os.environ.get("DOUDI_NATS_URL"):
        return settings.nats_stream_replicas
    return len(running.nats_url.split(","))


@app.command()
def streams() -> None:
    """Create or update doudi's JetStream streams (needs the NATS admin user; `doudi up` does it itself)."""
    from shared.config import get_settings
    from shared.infra.bus import STREAMS, ensure_streams

    # nats-py logs each refused attempt with a traceback; a failure is reported once, in one line
    logging.getLogger("nats").setLevel(logging.CRITICAL)
    try:
        asyncio.run(asyncio.wait_for(ensure_streams(_nats_url(), replicas=stream_replicas()),
                                     timeout=PUBLISH_TIMEOUT_S))
    except TimeoutError:
        raise TimeoutError(f"NATS did not answer within {PUBLISH_TIMEOUT_S:.0f} s; is `doudi up` running on "
                           f"{get_settings().data_dir}?") from None
    console.print(f"streams ready: {', '.join(STREAMS)}")


if __name__ == "__main__":
    app()
