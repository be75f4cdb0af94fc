"""Fault injection and call counting (``faults.Faults``): status codes, rates, latency, and the shapes of a
Google front end's failures (HTML 502/503, 429 + Retry-After), in process and over the HTTP controls."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT
from tests.emulator.clients import Client, Inject, _grpc_client, error_of, start_create, trained_model

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


# -- status codes, rates, latency, counts ----------------------------------------------------------
def test_fault_fails_every_call_until_cleared(client: Client, emulator: Emulator) -> None:
    name = start_create(client)
    emulator.inject_fault(rpc="GetOperation", code="UNAVAILABLE", rate=1.0)
    for _ in range(3):
        err = error_of(lambda: client.get_operation(request={"name": name}, retry=None))
        assert isinstance(err, exceptions.ServiceUnavailable)
        assert "GetOperation" in err.message
    assert emulator.call_counts()["GetOperation"] == 3, "faulted calls are counted"
    emulator.clear_faults()
    assert client.get_operation(request={"name": name}, retry=None).name == name
    assert emulator.call_counts()["GetOperation"] == 4


async def test_fault_over_grpc_asyncio(
    emulator: Emulator, async_client: ci.ContactCenterInsightsAsyncClient
) -> None:
    emulator.inject_fault(rpc="*", code="RESOURCE_EXHAUSTED", rate=1.0)
    with pytest.raises(exceptions.ResourceExhausted):
        await async_client.list_issue_models(parent=PARENT, retry=None)
    emulator.clear_faults()
    assert (await async_client.list_issue_models(parent=PARENT)).issue_models == []


def _fault_pattern(emu: Emulator, rate: float, calls: int) -> list[bool]:
    client, close = _grpc_client(emu)
    try:
        name = start_create(client)
        emu.inject_fault(rpc="GetOperation", code="UNAVAILABLE", rate=rate)
        pattern = []
        for _ in range(calls):
            try:
                assert client.get_operation(request={"name": name}, retry=None).name == name
                pattern.append(False)
            except exceptions.ServiceUnavailable:
                pattern.append(True)
        return pattern
    finally:
        close()


def test_partial_fault_rate_is_seeded(emulator: Emulator) -> None:
    pattern = _fault_pattern(emulator, 0.3, 50)
    assert 0 < sum(pattern) < 50, pattern
    assert 5 <= sum(pattern) <= 25, f"about 30% of 50 calls should fail, got {sum(pattern)}"
    assert emulator.call_counts()["GetOperation"] == 50
    with Emulator(operation_seconds=0.3, seed=1234) as twin:
        assert _fault_pattern(twin, 0.3, 50) == pattern, "the same seed draws the same faults"


def test_latency_only_fault_slows_calls(client: Client, emulator: Emulator) -> None:
    name = start_create(client)
    emulator.inject_fault(rpc="GetOperation", code="OK", rate=1.0, latency_s=0.2)
    started = time.monotonic()
    for _ in range(2):
        assert client.get_operation(request={"name": name}, retry=None).name == name
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    client.list_issue_models(parent=PARENT)
    assert time.monotonic() - started < 0.2, "other RPCs are not slowed"


def test_call_counts_count_every_rpc(client: Client, emulator: Emulator) -> None:
    assert emulator.call_counts() == {}
    model = trained_model(client)
    client.get_issue_model(name=model.name)
    error_of(lambda: client.get_issue_model(name=f"{PARENT}/issueModels/9"))
    counts = emulator.call_counts()
    assert counts["CreateIssueModel"] == 1
    assert counts["GetIssueModel"] == 2, "failed calls count too"
    assert counts["GetOperation"] >= 1


# -- REST: the front end's HTML error page ---------------------------------------------------------
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


# -- REST: 429 with Retry-After --------------------------------------------------------------------
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


# -- the front-end options are checked like the old ones -------------------------------------------
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
