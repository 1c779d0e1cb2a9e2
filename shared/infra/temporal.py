"""Temporal clients for every process: pydantic payloads and OpenTelemetry tracing."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter

# Registered on the namespace (doudi up, docker-compose temporal-setup); visible in the Temporal UI.
SEARCH_ATTRIBUTES = {
    "DoudiPathway": "Keyword",
    "DoudiRegion": "Keyword",
    "DoudiStage": "Keyword",
    "DoudiStalled": "Bool",
}


async def connect_temporal(address: str, namespace: str) -> Client:
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=pydantic_data_converter,
        interceptors=[TracingInterceptor()],
    )
