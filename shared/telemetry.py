"""One ``setup_telemetry(service_name)`` for every process: traces (and the provider FastStream's
``NatsTelemetryMiddleware`` and Temporal's ``TracingInterceptor`` use).

Exporter from ``DOUDI_OTEL_EXPORTER``: ``none`` (default), ``console``, ``otlp`` (endpoint from the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT``), or ``jsonl:<dir>`` (one file per process, for tests that
check a whole trace crosses every process).

No national ID leaves a process in full through a log line or a span: ``setup_telemetry`` installs a
log record factory that masks every 18-character ID in the message and its traceback, and every span
exporter is wrapped so that span names, attributes, events and status descriptions are masked
(``shared.auth.mask_ids``: first 6 + ``********`` + last 4).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Status

from shared.auth import mask_ids

_configured = False


# ---- masking: logs -------------------------------------------------------------------------------------

_masking_installed = False


def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: leave it to the handler's own error path
        return
    record.msg, record.args = mask_ids(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_ids(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_ids(record.stack_info)


def install_log_masking() -> None:
    """Every log record of this process (whichever logger or handler) leaves with its IDs masked."""
    global _masking_installed
    if _masking_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _mask_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _masking_installed = True


# ---- masking: traces -----------------------------------------------------------------------------------

def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_ids(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_value(v) for v in value)
    return value


def masked_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` whose name, attributes, events and status description carry no full ID."""
    status = span.status
    if status.description:
        status = Status(status.status_code, mask_ids(status.description))
    return ReadableSpan(
        name=mask_ids(span.name), context=span.get_span_context(), parent=span.parent, resource=span.resource,
        attributes={k: _mask_value(v) for k, v in (span.attributes or {}).items()},
        events=[Event(mask_ids(e.name), {k: _mask_value(v) for k, v in (e.attributes or {}).items()},
                      e.timestamp) for e in span.events],
        links=span.links, kind=span.kind, status=status, start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope)


class MaskingSpanExporter(SpanExporter):
    """Wraps any exporter: what it exports has every national ID masked."""

    def __init__(self, inner: SpanExporter):
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([masked_span(s) for s in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per finished span to ``<dir>/<service>-<pid>.jsonl``."""

    def __init__(self, directory: Path, service_name: str):
        directory.mkdir(parents=True, exist_ok=True)
        self._path = directory / f"{service_name}-{os.getpid()}.jsonl"
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for s in spans:
            ctx = s.get_span_context()
            if ctx is None:  # a span without a context cannot be placed in a trace
                continue
            lines.append(json.dumps({
                "service": s.resource.attributes.get("service.name"),
                "name": s.name,
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
                "attributes": {k: str(v) for k, v in (s.attributes or {}).items()},
            }, ensure_ascii=False))
        if not lines:
            return SpanExportResult.SUCCESS
        with self._lock, self._path.open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def setup_telemetry(service_name: str, exporter: str | None = None) -> TracerProvider:
    global _configured
    if _configured:
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        return provider
    from shared.config import get_settings

    install_log_masking()
    exporter = exporter or get_settings().otel_exporter
    provider = TracerProvider(resource=Resource.create({"service.name": f"doudi-{service_name}"}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(MaskingSpanExporter(ConsoleSpanExporter())))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(MaskingSpanExporter(OTLPSpanExporter())))
    elif exporter.startswith("jsonl:"):
        provider.add_span_processor(SimpleSpanProcessor(MaskingSpanExporter(
            JsonLinesSpanExporter(Path(exporter[6:]), service_name))))
    elif exporter != "none":
        raise ValueError(f"DOUDI_OTEL_EXPORTER={exporter!r}: use none, console, otlp or jsonl:<dir>")
    trace.set_tracer_provider(provider)
    _configured = True
    return provider
