"""Every failure of a `doudi` command is one line on stderr and a non-zero exit code, never a traceback
(``doudi --debug`` or ``DOUDI_DEBUG=1`` shows it): the typer app's group wraps every command it runs."""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer
from nats import errors as nats_errors
from typer.core import TyperGroup

from deploy.api_client import ApiError, base_url
from deploy.endpoints import StackAlreadyRunning, data_dir_from_env

_debug = False  # `doudi --debug`: this run re-raises (the root callback sets it)


def show_tracebacks(debug: bool) -> None:
    global _debug
    _debug = debug


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line an operator can act on."""
    if isinstance(exc, ApiError):
        return f"the API answered {exc.status}: {exc.detail}"
    if isinstance(exc, httpx.TransportError):
        url = exc.request.url if _has_request(exc) else base_url()
        return (f"cannot reach the doudi API at {url} ({type(exc).__name__}{': ' + str(exc) if str(exc) else ''})"
                f"; is `doudi up` running on {data_dir_from_env()}? (--api-url or DOUDI_API_URL names another)")
    if isinstance(exc, (nats_errors.NoServersError, nats_errors.TimeoutError, ConnectionRefusedError)):
        return (f"cannot reach NATS ({type(exc).__name__}); is `doudi up` running on {data_dir_from_env()}? "
                "(DOUDI_NATS_URL names another)")
    if isinstance(exc, typer.TyperException):  # click's usage errors (a bad option, a missing file)
        return exc.format_message()
    if isinstance(exc, StackAlreadyRunning):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, (ValueError, OSError, TimeoutError)) else f"{type(exc).__name__}: {text}"


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - httpx raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


def _debugging() -> bool:
    return _debug or os.environ.get("DOUDI_DEBUG", "") not in ("", "0")


class OneLineErrors(TyperGroup):
    """The top-level group: a command's exception becomes ``doudi: <one line>`` and exit code 1 (2 for a
    usage error, as click does)."""

    def invoke(self, ctx: Any) -> Any:  # typer.Context is narrower than the vendored click's Context
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if _debugging():
                raise
            usage = getattr(exc, "ctx", None)  # a usage error knows its command (`doudi batch start`)
            command = (usage.command_path if usage is not None else
                       f"doudi {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "doudi")
            typer.echo(f"{command}: " + " ".join(one_line(exc).split()), err=True)
            raise typer.Exit(exc.exit_code if isinstance(exc, typer.TyperException) else 1) from None
