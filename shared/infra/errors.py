"""What a service's inner layers (stores, infra helpers, the service layer) raise when a request cannot be
served, without knowing HTTP: the app factory (``shared/infra/process.py``, ``install_error_handlers``)
maps each to its status code once, for every service. Only the HTTP layer (routes, ``shared/auth.py``)
raises ``HTTPException`` itself.

``detail`` is what the person reads (Chinese first where a person reads it, as the routes' own answers);
it becomes the JSON ``{"detail": ...}`` FastAPI gives an ``HTTPException``, so the wire does not change.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A request the domain refuses; ``status`` is its HTTP answer (set by each subclass)."""

    status: ClassVar[int] = 400

    def __init__(self, detail: Any, *, headers: dict[str, str] | None = None):
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail
        self.headers = headers


class NotFound(DomainError):
    """The thing asked for does not exist, or is not (or no longer) there to act on (404)."""

    status = 404


class Conflict(DomainError):
    """The thing exists but is not in a state that allows this (409): a workflow's validator refused an
    update, a decision above the tier's authority, a duplicate with other content."""

    status = 409


class Refused(DomainError):
    """The caller may not do this (403), decided below the HTTP layer (e.g. a jurisdiction only the store
    knows)."""

    status = 403


class Unprocessable(DomainError):
    """A well-formed request the domain cannot take (422), naming the field."""

    status = 422
