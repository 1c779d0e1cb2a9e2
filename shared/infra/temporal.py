"""Temporal clients for every process: pydantic payloads and OpenTelemetry tracing."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from shared.infra.codec import AesGcmCodec, load_keys, sealed

# Registered on the namespace (doudi up, docker-compose temporal-setup); visible in the Temporal UI.
SEARCH_ATTRIBUTES = {
    "DoudiPathway": "Keyword",
    "DoudiRegion": "Keyword",
    "DoudiStalled": "Bool",
}


def data_converter() -> DataConverter:
    """pydantic payloads, sealed with the AES-GCM codec (shared/infra/codec.py)."""
    from shared.config import get_settings

    settings = get_settings()
    keys, current = load_keys(settings.codec_keys, settings.data_dir)
    return sealed(pydantic_data_converter, AesGcmCodec(keys, current))


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime whose SDK metrics (workflow and activity task latencies, failures, sticky cache,
    pollers) Prometheus scrapes at ``http://<bind_address>/metrics``; counters end in ``_total`` and
    durations are in seconds, as Prometheus names them."""
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=bind_address, counters_total_suffix=True, durations_as_seconds=True)))


async def connect_temporal(address: str, namespace: str, *, runtime: Runtime | None = None) -> Client:
    """``runtime``: the process's Temporal runtime (``metrics_runtime`` to export the SDK's metrics); the
    SDK's default runtime otherwise."""
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=data_converter(),
        interceptors=[TracingInterceptor()],
        runtime=runtime,
    )
