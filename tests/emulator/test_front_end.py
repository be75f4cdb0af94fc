"""Failures of a Google front end (HTML 502/503, 429 + Retry-After, a connection dropped mid-call), and the
control client, each through the real generated client, set in process and over the HTTP controls."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
import requests
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import (
    ContactCenterInsightsGrpcAsyncIOTransport,
    ContactCenterInsightsGrpcTransport,
)

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.control import EmulatorControl
from tests.conftest import PARENT
from tests.emulator.test_emulator import Client, _grpc_client, _rest_client, error_of, start_create

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent

Inject = Callable[..., Any]


@pytest.fixture(params=["in-process", "http"])
def inject(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Inject]:
    """``inject_fault`` as ``Emulator`` has it, or through ``EmulatorControl`` over the HTTP controls."""
    if request.param == "in-process":
        yield emulator.inject_fault
        return
    with EmulatorControl(emulator.rest_url) as control:
        yield control.inject_fault


@pytest.fixture
def rest(emulator: Emulator) -> Iterator[Client]:
    client, close = _rest_client(emulator)
    yield client
    close()


@pytest.fixture
def grpc_client(emulator: Emulator) -> Iterator[Client]:
    client, close = _grpc_client(emulator)
    yield client
    close()


# -- REST: the front end's HTML error page ------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "http_status", "raised"),
    [("UNAVAILABLE", 502, exceptions.BadGateway), ("UNAVAILABLE", None, exceptions.ServiceUnavailable)],
)
def test_rest_html_error_page(
    inject: Inject, rest: Client, code: str, http_status: int | None, raised: type[Exception]
) -> None:
    inject("ListIssueModels", code=code, http_status=http_status, body="html", count=1)
    err = error_of(lambda: rest.list_issue_models(parent=PARENT, retry=None))
    assert type(err) is raised, err
    assert err.response is not None and err.response.headers["Content-Type"].startswith("text/html")
    assert err.response.text.startswith("<!DOCTYPE html>")
    assert f"Error {err.code} (Server Error)" in err.response.text
    assert rest.list_issue_models(parent=PARENT, retry=None).issue_models == [], "count=1: the next call passes"


def test_html_option_leaves_grpc_answering_its_code(inject: Inject, grpc_client: Client) -> None:
    inject("ListIssueModels", code="UNAVAILABLE", http_status=502, body="html", count=1)
    err = error_of(lambda: grpc_client.list_issue_models(parent=PARENT, retry=None))
    assert isinstance(err, exceptions.ServiceUnavailable)


# -- REST: 429 with Retry-After -----------------------------------------------------------------
def test_rest_429_carries_retry_after(inject: Inject, rest: Client) -> None:
    name = start_create(rest)
    inject("GetOperation", code="RESOURCE_EXHAUSTED", headers={"Retry-After": "7"}, count=1)
    err = error_of(lambda: rest.get_operation(request={"name": name}, retry=None))
    # From the HTTP status alone the REST client picks TooManyRequests, the parent of ResourceExhausted: a caller
    # that catches ResourceExhausted only (as over gRPC) misses it.
    assert type(err) is exceptions.TooManyRequests and not isinstance(err, exceptions.ResourceExhausted)
    assert err.code == 429
    assert isinstance(err.response, requests.Response)
    assert err.response.headers["Retry-After"] == "7"
    assert err.response.json()["error"]["status"] == "RESOURCE_EXHAUSTED", "the JSON error body stays"
    assert rest.get_operation(request={"name": name}, retry=None).name == name


# -- gRPC: a connection dropped in the middle of a call ----------------------------------------
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


def test_rest_dropped_connection_is_a_connection_error(emulator: Emulator, rest: Client) -> None:
    """Over REST the client has no status to map: requests raises, not a GoogleAPICallError."""
    emulator.inject_fault("ListIssueModels", drop=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        rest.list_issue_models(parent=PARENT, retry=None)
    assert rest.list_issue_models(parent=PARENT, retry=None).issue_models == [], "a new connection serves"


# -- the new options are checked like the old ones ------------------------------------------------
BAD_OPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"http_status": 200}, "http_status 200"),
    ({"http_status": "502"}, "'502'"),
    ({"body": "xml"}, "'xml'"),
    ({"headers": {"Retry-After": 7}}, "Retry-After"),
    ({"headers": ["Retry-After"]}, "['Retry-After']"),
    ({"drop": True, "code": "INTERNAL"}, "'INTERNAL'"),
    ({"drop": "yes"}, "'yes'"),
    ({"code": "OK", "body": "html"}, "'OK'"),
]


@pytest.mark.parametrize(("options", "named"), BAD_OPTIONS)
def test_bad_front_end_options_are_invalid_argument(inject: Inject, options: dict[str, Any], named: str) -> None:
    with pytest.raises(exceptions.InvalidArgument) as info:
        inject("GetOperation", **options)
    assert named in info.value.message


def test_old_fault_api_still_works(emulator: Emulator, grpc_client: Client) -> None:
    fault = emulator.inject_fault("ListIssueModels", "UNAVAILABLE", 1.0, 0.0, 1)  # positional, as before
    shape = (fault.rpc, fault.code, fault.count, fault.drop, fault.body)
    assert shape == ("ListIssueModels", "UNAVAILABLE", 1, False, "json")
    assert isinstance(error_of(lambda: grpc_client.list_issue_models(parent=PARENT, retry=None)),
                      exceptions.ServiceUnavailable)


# -- the control client ---------------------------------------------------------------------------
CONTROLS = ["fail_next_operations", "inject_fault", "clear_faults", "call_counts", "call_times", "peak_in_flight",
            "quota_refusals", "grpc_connections", "set_quota", "advance_clock", "set_operation_seconds"]


@pytest.mark.parametrize("method", CONTROLS)
def test_control_client_mirrors_the_emulator(method: str) -> None:
    ours = inspect.signature(getattr(EmulatorControl, method)).parameters
    theirs = inspect.signature(getattr(Emulator, method)).parameters
    assert [(p.name, p.default, p.kind) for p in ours.values()] == [
        (p.name, p.default, p.kind) for p in theirs.values()
    ]


def test_control_client_round_trip(emulator: Emulator, grpc_client: Client) -> None:
    with EmulatorControl(emulator.rest_url) as control:
        control.set_operation_seconds(3600)
        name = start_create(grpc_client)
        control.advance_clock(3601)
        assert grpc_client.get_operation(request={"name": name}).done
        control.fail_next_operations(1, code="ABORTED", message="nope")
        assert grpc_client.get_operation(request={"name": start_create(grpc_client)}).done is False
        control.set_quota("ListIssueModels", per_second=1)
        grpc_client.list_issue_models(parent=PARENT, retry=None)
        with pytest.raises(exceptions.ResourceExhausted):
            grpc_client.list_issue_models(parent=PARENT, retry=None)
        assert control.quota_refusals("ListIssueModels") == 1
        assert control.quota_refusals("GetOperation") == 0
        control.set_quota("ListIssueModels", per_second=None)
        counts = control.call_counts()
        assert counts["CreateIssueModel"] == 2 and counts["ListIssueModels"] == 2
        assert len(control.call_times("ListIssueModels")) == 2
        assert control.peak_in_flight("ListIssueModels") == 1
        control.inject_fault("ListIssueModels")
        control.clear_faults()
        assert len(grpc_client.list_issue_models(parent=PARENT, retry=None).issue_models) == 1


def test_control_client_raises_the_api_error(emulator: Emulator) -> None:
    with EmulatorControl(emulator.rest_url) as control:
        with pytest.raises(exceptions.InvalidArgument, match="'Nope'"):
            control.call_times("Nope")
        with pytest.raises(exceptions.NotFound):
            control.request("GET", "nothing")
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        EmulatorControl("127.0.0.1:80")
