"""The hooks against the emulator: typed methods, shared clients, sync and async alike, retries, credentials."""

from __future__ import annotations

import asyncio
import inspect
import json
import time

import pytest
from google.longrunning import operations_pb2

from ccai_airflow.core.names import InvalidOperationNameError
from ccai_airflow.core.outcome import outcome_of
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook, ContactCenterInsightsHook
from tests.conftest import PARENT
from tests.helpers import create_model, start_create

RETRY_LOG = "Transient error from Contact Center Insights, retrying"


def captured(capfd: pytest.CaptureFixture[str]) -> str:
    output = capfd.readouterr()
    return output.out + output.err


async def test_one_client_per_connection_and_endpoint(emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Against the emulator too, a connection must exist to be used.
    monkeypatch.setenv("AIRFLOW_CONN_OTHER", json.dumps({"conn_type": "google_cloud_platform"}))
    hooks = [ContactCenterInsightsAsyncHook() for _ in range(50)]
    clients = await asyncio.gather(*(hook.get_conn() for hook in hooks))
    other = await ContactCenterInsightsAsyncHook(gcp_conn_id="other").get_conn()

    assert len({id(client) for client in clients}) == 1
    assert other is not clients[0]


async def test_sync_and_async_hooks_agree(emulator_env: Emulator) -> None:
    emulator_env.fail_next_operations(1, code="INTERNAL", message="boom")
    failed, succeeded = start_create(), start_create()
    await asyncio.sleep(0.5)
    for name in (failed, succeeded, f"{PARENT}/operations/404"):
        assert ContactCenterInsightsHook().poll(name) == await ContactCenterInsightsAsyncHook().poll(name)
    operation = ContactCenterInsightsHook().get_operation(succeeded)
    assert outcome_of(operation) == await ContactCenterInsightsAsyncHook().poll(succeeded)


async def test_invalid_name_makes_no_call(emulator_env: Emulator) -> None:
    with pytest.raises(InvalidOperationNameError):
        await ContactCenterInsightsAsyncHook().get_operation("projects/p/locations/l/operations/../../x")
    with pytest.raises(InvalidOperationNameError):
        ContactCenterInsightsHook().get_operation("projects/p/locations/l/operations/")
    assert emulator_env.call_counts() == {}


def test_list_operations_pages_and_filters(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(600)  # still running when listed, however loaded the machine
    names = {start_create() for _ in range(3)}
    hook = ContactCenterInsightsHook()

    running = {op.name for op in hook.list_operations(PARENT, filter="done=false")}
    assert names <= running
    hook.cancel_operation(sorted(names)[0])
    done = {op.name for op in hook.list_operations(PARENT, filter="done=true")}
    assert done == {sorted(names)[0]}
    with pytest.raises(ValueError, match="Invalid parent 'projects/p'"):
        hook.list_operations("projects/p")


@pytest.mark.parametrize("transport", ["grpc", "rest"])
async def test_a_page_of_operations_in_the_budget_on_either_transport(emulator_env: Emulator, transport: str) -> None:
    emulator_env.set_operation_seconds(600)
    names = {start_create() for _ in range(3)}
    emulator_env.inject_fault(rpc="ListOperations", code="UNAVAILABLE", count=1)  # transient: retried
    hook = ContactCenterInsightsAsyncHook(transport=transport)

    first = await hook.list_operations_page(PARENT, filter="done=false", page_size=2)
    second = await hook.list_operations_page(PARENT, filter="done=false", page_size=2,
                                             page_token=first.next_page_token)

    assert {op.name for op in [*first.operations, *second.operations]} == names
    assert len(first.operations) == 2 and not second.next_page_token
    assert emulator_env.call_counts()["ListOperations"] == 3
    with pytest.raises(ValueError, match="Invalid parent 'projects/p'"):
        await hook.list_operations_page("projects/p")


def test_backoff_retries_a_poll_until_it_succeeds(emulator_env: Emulator, capfd: pytest.CaptureFixture[str]) -> None:
    hook = ContactCenterInsightsHook()
    name = create_model(hook, "backoff").name
    emulator_env.inject_fault(rpc="GetOperation", code="UNAVAILABLE", rate=1.0, count=4)
    capfd.readouterr()

    started = time.monotonic()
    operation = hook.get_operation(name)
    elapsed = time.monotonic() - started

    assert isinstance(operation, operations_pb2.Operation)
    assert operation.name == name
    assert emulator_env.call_counts()["GetOperation"] == 5
    assert captured(capfd).count(RETRY_LOG) == 4
    # Jittered sleeps drawn from [0, 1], [0, 2], [0, 4] and [0, 8] s: some backoff, at most their sum.
    assert 0.5 < elapsed < 15 + 5


@pytest.mark.parametrize("method", ["get_operation", "cancel_operation", "poll"])
def test_sync_and_async_hooks_take_the_same_arguments(method: str) -> None:
    sync = inspect.signature(getattr(ContactCenterInsightsHook, method))
    async_ = inspect.signature(getattr(ContactCenterInsightsAsyncHook, method))

    assert list(sync.parameters) == list(async_.parameters)
    assert [p.default for p in sync.parameters.values()] == [p.default for p in async_.parameters.values()]
    assert inspect.iscoroutinefunction(getattr(ContactCenterInsightsAsyncHook, method))
