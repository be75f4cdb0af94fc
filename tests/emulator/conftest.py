"""Fixtures of the emulator's tests: the generated client on each transport, and fault injection both ways."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcAsyncIOTransport,
)

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.control import EmulatorControl
from tests.emulator.clients import Client, Inject, _grpc_client, _rest_client


@pytest.fixture
def grpc_client(emulator: Emulator) -> Iterator[Client]:
    client, close = _grpc_client(emulator)
    yield client
    close()


@pytest.fixture
def rest(emulator: Emulator) -> Iterator[Client]:
    client, close = _rest_client(emulator)
    yield client
    close()


@pytest.fixture(params=["grpc", "rest"])
def client(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Client]:
    """The same test over the gRPC and the REST transport."""
    made, close = (_grpc_client if request.param == "grpc" else _rest_client)(emulator)
    yield made
    close()


@pytest.fixture(params=["grpc", "rest"])
def api(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Client]:
    """``client`` by the name the rule tests use."""
    made, close = (_grpc_client if request.param == "grpc" else _rest_client)(emulator)
    yield made
    close()


@pytest.fixture
async def async_client(emulator: Emulator) -> AsyncIterator[ci.ContactCenterInsightsAsyncClient]:
    channel = grpc.aio.insecure_channel(emulator.grpc_target)
    yield ci.ContactCenterInsightsAsyncClient(
        transport=ContactCenterInsightsGrpcAsyncIOTransport(channel=channel)
    )
    await channel.close()


@pytest.fixture(params=["in-process", "http"])
def inject(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Inject]:
    """``inject_fault`` as ``Emulator`` has it, or through ``EmulatorControl`` over the HTTP controls."""
    if request.param == "in-process":
        yield emulator.inject_fault
        return
    with EmulatorControl(emulator.rest_url) as control:
        yield control.inject_fault
