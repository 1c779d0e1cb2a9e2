"""Temporal clients for every process: pydantic payloads and OpenTelemetry tracing."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

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


async def connect_temporal(address: str, namespace: str) -> Client:
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=data_converter(),
        interceptors=[TracingInterceptor()],
    )
