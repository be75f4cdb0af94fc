"""What keeps thousands of triggers in one triggerer cheap: calls in flight, one connection look-up, no re-decoding."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from ccai_airflow.core import retrying
from ccai_airflow.core.names import parse_operation_name
from ccai_airflow.core.outcome import Status
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook, ContactCenterInsightsHook, shared_state
from ccai_airflow.hooks.clients import Endpoint
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.helpers import first_event, start_create


@pytest.mark.parametrize(("limit", "expected_peak"), [(4, 4), (64, 24)])
async def test_get_operation_calls_in_flight_are_capped_per_event_loop(
    emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch, limit: int, expected_peak: int
) -> None:
    monkeypatch.setattr(shared_state, "MAX_INFLIGHT_POLLS", limit)
    emulator_env.set_operation_seconds(0)
    names = [start_create() for _ in range(24)]
    emulator_env.inject_fault("GetOperation", code="OK", latency_s=0.2)  # every answer takes 0.2 s

    events = await asyncio.gather(*(
        first_event(ContactCenterInsightsOperationTrigger(operation_name=n, poll_interval=1), timeout=60)
        for n in names
    ))

    assert [e["status"] for e in events] == ["succeeded"] * 24
    assert emulator_env.call_counts()["GetOperation"] == 24  # the capped calls waited; none was lost
    assert emulator_env.peak_in_flight("GetOperation") == expected_peak


async def test_triggers_started_together_read_the_connection_once(
    emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = {"conn_type": "google_cloud_platform", "extra": {"requests_per_second": "1000"}}
    monkeypatch.setenv("AIRFLOW_CONN_CCAI_SHARED_RATE", json.dumps(connection))
    shared_state.reset()  # as in a new triggerer process
    reads: list[str] = []
    get_field = ContactCenterInsightsHook._get_field

    def counting_get_field(self: ContactCenterInsightsHook, name: str, default: Any = None) -> Any:
        reads.append(name)
        return get_field(self, name, default)

    monkeypatch.setattr(ContactCenterInsightsHook, "_get_field", counting_get_field)
    emulator_env.set_operation_seconds(0)
    names = [start_create() for _ in range(100)]

    events = await asyncio.gather(*(
        first_event(ContactCenterInsightsOperationTrigger(operation_name=n, gcp_conn_id="ccai_shared_rate"))
        for n in names
    ))

    assert {e["status"] for e in events} == {"succeeded"}
    assert reads.count("requests_per_second") == 1
    endpoint = Endpoint("grpc", None, emulator_env.grpc_target)
    assert {("ccai_shared_rate", None, endpoint): 1000.0} == shared_state.completed_rate_lookups()


async def test_an_unchanged_running_operation_is_not_decoded_again(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(3600)
    name = start_create()
    hook = ContactCenterInsightsAsyncHook()

    first, second = await hook.poll(name), await hook.poll(name)
    assert first.status is Status.RUNNING
    assert second is first  # same bytes from the server: the previous outcome, not a second decoding
    assert second.metadata["request"]["issueModel"]["displayName"] == "topics"

    emulator_env.advance_clock(3600)
    done = await hook.poll(name)
    assert done.status is Status.SUCCEEDED
    assert done.response["displayName"] == "topics"
    assert emulator_env.call_counts()["GetOperation"] == 3


@pytest.mark.parametrize("transport", ["grpc", "rest"])
async def test_an_attempt_without_an_answer_is_abandoned_and_retried(
    emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    """A call hung on a broken connection must not hold its place in flight and in the budget for ever."""
    monkeypatch.setattr(retrying, "ATTEMPT_TIMEOUT_S", 0.5)
    emulator_env.set_operation_seconds(0)
    name = start_create(transport)
    emulator_env.inject_fault("GetOperation", code="OK", latency_s=3, count=None, rate=1.0)
    hook = ContactCenterInsightsAsyncHook(transport=transport, requests_per_second=1000)
    task = asyncio.create_task(hook.poll(name))
    await asyncio.sleep(1.2)  # the first attempt timed out at 0.5 s and a retry is on its way
    emulator_env.clear_faults()
    outcome = await asyncio.wait_for(task, 30)

    assert outcome.status is Status.SUCCEEDED
    assert emulator_env.call_counts()["GetOperation"] >= 2
    budget = await hook.request_budget(parse_operation_name(name).project)
    assert budget is not None and budget.in_flight == 0  # the abandoned attempt gave its place back
