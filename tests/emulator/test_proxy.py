"""The TCP relay in front of the gRPC server (``proxy.GrpcProxy``): a ``drop`` fault resets the faulted call's
connection only, the channel reconnects, and every connection a client opens is counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcAsyncIOTransport,
    ContactCenterInsightsGrpcTransport,
)

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.control import EmulatorControl
from tests.conftest import PARENT
from tests.emulator.clients import Client, Inject, error_of, start_create

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


def _recovers(call: Callable[[], Any]) -> Any:
    """``call``'s result once the channel has a new connection.

    A call that gRPC sent before it noticed the reset fails UNAVAILABLE too (as after a real front end's
    drop), so the first call after a drop may still fail; within a few tries the channel has reconnected.
    """
    for _ in range(20):
        try:
            return call()
        except exceptions.ServiceUnavailable:
            time.sleep(0.05)
    return call()


def test_grpc_dropped_connection_is_unavailable_then_recovers(
    inject: Inject, grpc_client: Client, emulator: Emulator
) -> None:
    name = start_create(grpc_client)
    inject("GetOperation", drop=True, count=1, latency_s=0.1)  # the call is in progress when its connection goes
    err = error_of(lambda: grpc_client.get_operation(request={"name": name}, retry=None))
    assert isinstance(err, exceptions.ServiceUnavailable), err
    assert err.grpc_status_code == grpc.StatusCode.UNAVAILABLE
    assert "Injected fault" not in err.message, "the answer never left: the client saw its connection go"
    assert _recovers(lambda: grpc_client.get_operation(request={"name": name}, retry=None)).name == name
    for _ in range(3):  # the channel connected again; later calls work
        assert grpc_client.get_operation(request={"name": name}, retry=None).name == name


async def test_grpc_asyncio_dropped_connection(inject: Inject, emulator: Emulator) -> None:
    channel = grpc.aio.insecure_channel(emulator.grpc_target)
    client = ci.ContactCenterInsightsAsyncClient(transport=ContactCenterInsightsGrpcAsyncIOTransport(channel=channel))
    try:
        inject("ListIssueModels", drop=True, count=1)
        with pytest.raises(exceptions.ServiceUnavailable):
            await client.list_issue_models(parent=PARENT, retry=None)
        for _ in range(20):  # see _recovers
            try:
                assert (await client.list_issue_models(parent=PARENT, retry=None)).issue_models == []
                break
            except exceptions.ServiceUnavailable:
                await asyncio.sleep(0.05)
        assert (await client.list_issue_models(parent=PARENT, retry=None)).issue_models == []
    finally:
        await channel.close()


def test_drop_only_cuts_the_faulted_calls_connection(emulator: Emulator, grpc_client: Client) -> None:
    # Its own connection for sure: channels to one target may otherwise share one through gRPC's global pool.
    channel = grpc.insecure_channel(emulator.grpc_target, options=[("grpc.use_local_subchannel_pool", 1)])
    other, close = Client(transport=ContactCenterInsightsGrpcTransport(channel=channel)), channel.close
    try:
        assert other.list_issue_models(parent=PARENT).issue_models == []  # connected
        emulator.inject_fault("GetIssueModel", drop=True, count=1)
        err = error_of(lambda: grpc_client.get_issue_model(name=f"{PARENT}/issueModels/1", retry=None))
        assert isinstance(err, exceptions.ServiceUnavailable)
        for _ in range(5):  # the other channel's connection was not touched: no failure, not even one
            assert other.list_issue_models(parent=PARENT, retry=None).issue_models == []
    finally:
        close()


def test_the_emulator_counts_the_connections_clients_open(emulator: Emulator) -> None:
    def own_channel() -> tuple[Client, Callable[[], None]]:  # not shared through gRPC's global subchannel pool
        channel = grpc.insecure_channel(emulator.grpc_target, options=[("grpc.use_local_subchannel_pool", 1)])
        return Client(transport=ContactCenterInsightsGrpcTransport(channel=channel)), channel.close

    before = emulator.grpc_connections()
    first, close_first = own_channel()
    second, close_second = own_channel()
    try:
        for _ in range(3):
            first.list_issue_models(parent=PARENT)
        assert emulator.grpc_connections() - before == 1  # many calls, one connection
        second.list_issue_models(parent=PARENT)
        assert emulator.grpc_connections() - before == 2
        emulator.inject_fault("ListIssueModels", drop=True, count=1)
        assert isinstance(error_of(lambda: first.list_issue_models(parent=PARENT, retry=None)),
                          exceptions.ServiceUnavailable)
        _recovers(lambda: first.list_issue_models(parent=PARENT, retry=None))
        assert emulator.grpc_connections() - before == 3  # the dropped channel connected again
        with EmulatorControl(emulator.rest_url) as control:
            assert control.grpc_connections() == emulator.grpc_connections()
    finally:
        close_first()
        close_second()
