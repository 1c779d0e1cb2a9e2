"""Configuration for every doudi process, read from ``DOUDI_*`` environment variables.

The embedded default (``doudi up`` / ``make run``) passes these to each child process; in a
multi-host deployment (docker-compose.yml) they come from the container environment.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Only valid where DOUDI_ENV=embedded: a secret anyone can read in the source must never sign a
# production token.
DEV_JWT_SECRET = "doudi-embedded-development-secret-not-for-production"

TASK_QUEUE_WORKFLOWS = "doudi-cases"
TASK_QUEUE_INTAKE = "intake"
TASK_QUEUE_VERIFICATION = "verification"
TASK_QUEUE_APPROVAL = "approval"
TASK_QUEUE_PAYMENT = "payment"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOUDI_", extra="ignore")

    env: Literal["embedded", "test", "production"] = "embedded"
    data_dir: Path = Path(".data")

    database_url: str = "postgresql://postgres@127.0.0.1:55432/doudi"
    # Folded into database_url below. In the embedded default, when neither gives one, the password the
    # supervisor generated into <data_dir>/postgres-password is used (deploy/embedded.py).
    database_password: SecretStr | None = None
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream_replicas: int = 1  # 3 on the compose cluster
    # This process's NATS user (shared/infra/nats_permissions.py); folded into nats_url below so every
    # connection authenticates. Set per process by the embedded stack and by docker-compose.yml.
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "doudi"
    temporal_ui_url: str = "http://127.0.0.1:8233"

    jwt_secret: str = DEV_JWT_SECRET
    # kid:base64key[,...]: seals Temporal payloads (shared/infra/codec.py); generated under data_dir if unset
    codec_keys: str | None = None
    jwt_issuer: str = "doudi"

    # Sign-in at the front door (services/operations/session.py, oidc.py). Local practice of the embedded
    # default, not policy: a session lasts a working day; 5 wrong passwords for one name lock it 15 minutes.
    session_hours: int = 8
    sign_in_max_failures: int = 5
    sign_in_lockout_minutes: int = 15
    session_cookie_secure: bool | None = None  # the cookies' Secure flag; None: set outside the embedded default
    # OIDC for a real deployment (empty issuer: no OIDC sign-in). The claim ``oidc_username_claim`` of the
    # provider's verified ID token names the local account (``doudi users add --no-password``) whose role and
    # jurisdiction the session carries; a name with no account, or a disabled one, is refused.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_url: str = ""  # default: the front door's own /auth/oidc/callback as the browser reached it
    oidc_username_claim: str = "preferred_username"
    oidc_scope: str = "openid profile email"

    # Request bodies (shared/infra/process.py, BodyLimitMiddleware): 413 beyond these, before buffering.
    max_body_bytes: int = 1024 * 1024             # every JSON route
    max_import_bytes: int = 64 * 1024 * 1024      # POST /api/enrolments/import (NDJSON, streamed)
    max_import_line_bytes: int = 64 * 1024        # one household per import line
    max_codec_body_bytes: int = 8 * 1024 * 1024   # /codec/* (the Temporal UI's batches of sealed payloads)

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # The workflow worker's Temporal SDK metrics, Prometheus text on this port (0: none; the worker serves no
    # HTTP of its own). docker-compose sets the registry's port (shared/services.py, ``metrics_port``).
    metrics_port: int = 0

    # Where the front door (operations) forwards the routes other services own.
    intake_url: str = "http://127.0.0.1:8101"
    verification_url: str = "http://127.0.0.1:8102"
    approval_url: str = "http://127.0.0.1:8103"
    payment_url: str = "http://127.0.0.1:8104"

    # none | console | otlp | jsonl:<path>
    otel_exporter: str = "none"

    # The processes' event loop: uvloop (libuv; faster sockets for asyncpg, NATS and HTTP) or the standard
    # library's asyncio (a fallback, and the storm bench's comparison).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"

    # The stalled-case sweep: how often, and how long a system step may go without progress.
    stall_sweep_seconds: int = 60
    stuck_step_seconds: int = 300

    # The straight-through lane (docs/adr/0021): emergency cases reported within this many ms of each other are
    # settled together; a case alone in its window starts its own workflow. 0: every case its own workflow. 350:
    # at a steady 10 reports a second, lanes of four (ADR 0021, "the window").
    lane_window_ms: int = 350

    # Named crash points for fault-injection tests (shared/faults.py); empty in normal runs.
    fault_points: str = ""

    @model_validator(mode="after")
    def _nats_credentials(self) -> Settings:
        if self.nats_user and self.nats_password is not None:
            self.nats_url = nats_url_with_credentials(self.nats_url, self.nats_user,
                                                      self.nats_password.get_secret_value())
        return self

    @model_validator(mode="after")
    def _database_password(self) -> Settings:
        password = self.database_password.get_secret_value() if self.database_password is not None else None
        if password is None and self.env != "production" and urlsplit(self.database_url).password is None:
            stored = self.data_dir / "postgres-password"
            if stored.is_file():
                password = stored.read_text().strip()
        if password:
            self.database_url = database_url_with_password(self.database_url, password)
        return self

    @model_validator(mode="after")
    def _refuse_development_secret(self) -> Settings:
        if self.env == "production" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("DOUDI_JWT_SECRET must be set to a real secret outside the embedded default")
        if self.env == "production" and len(self.jwt_secret) < 32:
            raise ValueError("DOUDI_JWT_SECRET must be at least 32 characters")
        if self.env == "production" and not self.codec_keys:
            raise ValueError("DOUDI_CODEC_KEYS must be set outside the embedded default "
                             "(personal data in Temporal)")
        return self


def nats_url_with_credentials(nats_url: str, user: str, password: str) -> str:
    """Every server of a comma-separated NATS URL with ``user:password@`` (replacing any there)."""
    out = []
    for part in nats_url.split(","):
        url = urlsplit(part.strip())
        host = url.netloc.rsplit("@", 1)[-1]
        out.append(urlunsplit((url.scheme, f"{quote(user, safe='')}:{quote(password, safe='')}@{host}",
                               url.path, url.query, url.fragment)))
    return ",".join(out)


def database_url_with_password(database_url: str, password: str) -> str:
    """``database_url`` with ``password`` for its user (replacing any there)."""
    url = urlsplit(database_url)
    user, _, host = url.netloc.rpartition("@")
    user = user.split(":", 1)[0] or "postgres"
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit((url.scheme, netloc, url.path, url.query, url.fragment))


@cache
def get_settings() -> Settings:
    return Settings()
