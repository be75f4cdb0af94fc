"""How a wait survives the failures of a Google front end, through the hooks and the real client.

The emulator answers them as Google's front ends do (docs/emulator.md): an HTML 502/503 page instead
of the JSON error, a 429 with Retry-After, a gRPC connection reset mid-call. Each is transient: the
poll retries it and gets the operation.
"""

from __future__ import annotations

import asyncio

import pytest
import requests
from google.api_core import exceptions
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from ccai_airflow.core import retrying
from ccai_airflow.core.budget import RequestBudget
from ccai_airflow.core.outcome import Status
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook, ContactCenterInsightsHook
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.helpers import first_event, start_create


def poll(transport: str, mode: str, name: str, **options: float) -> Status:
    if mode == "sync":
        return ContactCenterInsightsHook(transport=transport, **options).poll(name).status  # type: ignore[arg-type]
    hook = ContactCenterInsightsAsyncHook(transport=transport, **options)  # type: ignore[arg-type]
    return asyncio.run(hook.poll(name)).status


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("http_status", "code"), [(502, "UNAVAILABLE"), (503, "UNAVAILABLE")])
def test_an_html_error_page_from_the_front_end_is_retried(
    emulator_env: Emulator, mode: str, http_status: int, code: str
) -> None:
    emulator_env.set_operation_seconds(0)
    name = start_create("rest")
    emulator_env.inject_fault("GetOperation", code=code, http_status=http_status, body="html", count=2)

    assert poll("rest", mode, name) is Status.SUCCEEDED
    assert emulator_env.call_counts()["GetOperation"] == 3


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_429_with_retry_after_holds_the_projects_budget_until_then(emulator_env: Emulator, mode: str) -> None:
    emulator_env.set_operation_seconds(0)
    name = start_create("rest")
    emulator_env.inject_fault("GetOperation", code="RESOURCE_EXHAUSTED", headers={"Retry-After": "3"}, count=1)

    # A budget far above what one poll needs: the wait comes from the server's Retry-After, not from pacing.
    assert poll("rest", mode, name, requests_per_second=1000) is Status.SUCCEEDED
    first, second = emulator_env.call_times("GetOperation")[-2:]
    assert second - first >= 3.0  # never earlier than the server asked (the backoff alone is at most 2 s)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_grpc_connection_reset_mid_call_is_retried(emulator_env: Emulator, mode: str) -> None:
    emulator_env.set_operation_seconds(0)
    name = start_create("grpc")
    emulator_env.inject_fault("GetOperation", drop=True, latency_s=0.2, count=1)

    assert poll("grpc", mode, name) is Status.SUCCEEDED
    assert emulator_env.call_counts()["GetOperation"] >= 2


async def test_a_trigger_waits_through_every_front_end_failure(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(0.5)
    name = start_create("rest")
    emulator_env.inject_fault("GetOperation", code="UNAVAILABLE", http_status=502, body="html", count=1)
    emulator_env.inject_fault("GetOperation", code="RESOURCE_EXHAUSTED", headers={"Retry-After": "1"}, count=1)

    event = await first_event(
        ContactCenterInsightsOperationTrigger(operation_name=name, poll_interval=0.2, transport="rest"), timeout=60
    )

    assert event["status"] == "succeeded"
    assert event["operation"]["response"]["displayName"] == "topics"


# -- the pieces, without a server ---------------------------------------------------------------
def test_a_polls_retries_never_outlast_the_callers_deadline() -> None:
    assert retrying.retry_seconds(None) == retrying.RETRY_TIMEOUT_S
    assert retrying.retry_seconds(5.0) == 5.0
    assert retrying.retry_seconds(-3.0) == 0.0
    kwargs = retrying.poll_retry(None, 7.5)
    assert kwargs["timeout"] == 7.5 and kwargs["predicate"](exceptions.ServiceUnavailable("x"))
    assert not kwargs["predicate"](exceptions.NotFound("x"))


def test_retry_after_reads_the_header_and_retry_info_and_caps_them() -> None:
    response = requests.Response()
    response.headers["Retry-After"] = "7"
    assert retrying.retry_after(exceptions.TooManyRequests("slow down", response=response)) == 7.0
    response.headers["Retry-After"] = "100000"
    assert retrying.retry_after(exceptions.TooManyRequests("x", response=response)) == retrying.MAX_RETRY_AFTER_S
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=3))
    assert retrying.retry_after(exceptions.ResourceExhausted("x", details=[info])) == 3.0
    assert retrying.retry_after(exceptions.ResourceExhausted("no hint")) is None
    assert retrying.retry_after(ValueError("not an API error")) is None


def test_a_server_that_asks_to_wait_holds_the_whole_budget() -> None:
    budget = RequestBudget(100.0)
    info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2))
    with pytest.raises(exceptions.ResourceExhausted), retrying.honour_retry_after(budget):
        raise exceptions.ResourceExhausted("quota", details=[info])
    assert budget._reserve() > 1.9, "the next request waits out the server's two seconds"
