"""One ``setup_telemetry(service_name)`` for every process: traces (and the provider FastStream's
``NatsTelemetryMiddleware`` and Temporal's ``TracingInterceptor`` use).

Exporter from ``DOUDI_OTEL_EXPORTER``: ``none`` (default), ``console``, ``otlp`` (endpoint from the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT``), or ``jsonl:<dir>`` (one file per process, for tests that
check a whole trace crosses every process).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

_configured = False


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
            lines.append(json.dumps({
                "service": s.resource.attributes.get("service.name"),
                "name": s.name,
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
                "attributes": {k: str(v) for k, v in (s.attributes or {}).items()},
            }, ensure_ascii=False))
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

    exporter = exporter or get_settings().otel_exporter
    provider = TracerProvider(resource=Resource.create({"service.name": f"doudi-{service_name}"}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter.startswith("jsonl:"):
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(Path(exporter[6:]), service_name)))
    elif exporter != "none":
        raise ValueError(f"DOUDI_OTEL_EXPORTER={exporter!r}: use none, console, otlp or jsonl:<dir>")
    trace.set_tracer_provider(provider)
    _configured = True
    return provider
