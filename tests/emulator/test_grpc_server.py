"""The gRPC front end (``grpc_server.py``): a handler for every RPC of the routes table at its method path, errors
answered as the call's gRPC status and message, calls served concurrently."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import pytest
from google.api_core import exceptions
from google.protobuf import empty_pb2

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.routes import INSIGHTS, RPCS
from tests.conftest import PARENT
from tests.emulator.clients import Client, Inject, error_of

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


@pytest.fixture
def channel(emulator: Emulator) -> Iterator[grpc.Channel]:
    """A bare channel: calls by method path, without the generated client."""
    with grpc.insecure_channel(emulator.grpc_target) as made:
        yield made


def test_every_served_rpc_has_a_handler_at_its_method_path(emulator: Emulator, channel: grpc.Channel) -> None:
    for rpc in RPCS:
        call = channel.unary_unary(f"/{rpc.service}/{rpc.name}", request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=lambda raw: raw)
        try:
            call(rpc.request_type(), timeout=10)  # empty: most are refused, by the emulator's contract, not gRPC
        except grpc.RpcError as err:
            assert err.code() != grpc.StatusCode.UNIMPLEMENTED, (rpc.name, err.details())
    assert emulator.call_counts() == {rpc.name: 1 for rpc in RPCS}, "each call reached its own RPC"


def test_an_unserved_method_is_unimplemented(emulator: Emulator, channel: grpc.Channel) -> None:
    call = channel.unary_unary(f"/{INSIGHTS}/CreateView", request_serializer=lambda m: m.SerializeToString())
    with pytest.raises(grpc.RpcError) as info:
        call(empty_pb2.Empty(), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert emulator.call_counts() == {}


def test_errors_are_the_calls_grpc_status_and_message(emulator: Emulator, grpc_client: Client) -> None:
    name = f"{PARENT}/issueModels/424242"
    err = error_of(lambda: grpc_client.get_issue_model(name=name, retry=None))
    assert err.grpc_status_code == grpc.StatusCode.NOT_FOUND and name in err.message
    emulator.inject_fault("ListIssueModels", code="ABORTED", count=1)
    err = error_of(lambda: grpc_client.list_issue_models(parent=PARENT, retry=None))
    assert isinstance(err, exceptions.Aborted) and "ListIssueModels" in err.message


async def test_calls_are_served_concurrently(emulator: Emulator) -> None:
    emulator.inject_fault("ListIssueModels", code="OK", latency_s=0.5)
    async with grpc.aio.insecure_channel(emulator.grpc_target) as channel:
        call = channel.unary_unary(f"/{INSIGHTS}/ListIssueModels", request_serializer=lambda m: m.SerializeToString())
        request = next(rpc.request_type for rpc in RPCS if rpc.name == "ListIssueModels")(parent=PARENT)
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(call(request, timeout=30) for _ in range(50)))
        took = asyncio.get_running_loop().time() - started
    assert emulator.peak_in_flight("ListIssueModels") == 50
    assert took < 5, f"50 calls of 0.5 s each took {took:.1f} s: not served concurrently"


def test_html_option_leaves_grpc_answering_its_code(inject: Inject, grpc_client: Client) -> None:
    inject("ListIssueModels", code="UNAVAILABLE", http_status=502, body="html", count=1)
    err = error_of(lambda: grpc_client.list_issue_models(parent=PARENT, retry=None))
    assert isinstance(err, exceptions.ServiceUnavailable)
