"""The trigger run as the triggerer runs it: an asyncio loop consuming run() against the emulator."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from typing import Any

import pytest
from google.protobuf import json_format

from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.conftest import PARENT
from tests.helpers import first_event, start_create

# The asyncio paths through Airflow: CI runs them on its other Python too (make pytest-python).
pytestmark = pytest.mark.python_smoke


def rebuild(trigger: ContactCenterInsightsOperationTrigger) -> ContactCenterInsightsOperationTrigger:
    """What the triggerer does: import the class path and call it with the serialized kwargs."""
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    json.dumps(kwargs)  # only JSON values may be stored in the trigger table
    return getattr(importlib.import_module(module), name)(**kwargs)  # type: ignore[no-any-return]


def test_serialize_round_trip() -> None:
    trigger = ContactCenterInsightsOperationTrigger(
        operation_name=f"{PARENT}/operations/42", poll_interval=5, gcp_conn_id="my_gcp",
        impersonation_chain=["a@p.iam.gserviceaccount.com", "b@p.iam.gserviceaccount.com"],
        transport="rest", api_endpoint="eu-contactcenterinsights.googleapis.com", end_time=1_900_000_000.5,
    )
    assert rebuild(trigger).serialize() == trigger.serialize()
    assert trigger.serialize()[0] == "ccai_airflow.triggers.ContactCenterInsightsOperationTrigger"


@pytest.mark.parametrize("bad", [{"poll_interval": 0}, {"poll_interval": -1}, {"poll_interval": "5"},
                                 {"transport": "http"}, {"operation_name": "operations/1"},
                                 {"impersonation_chain": "not-an-email"}, {"end_time": "tomorrow"}])
def test_bad_arguments_fail_at_construction(bad: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"operation_name": f"{PARENT}/operations/1", **bad}
    with pytest.raises(ValueError, match=repr(next(iter(bad.values())))):
        ContactCenterInsightsOperationTrigger(**kwargs)


@pytest.mark.parametrize("transport", ["grpc", "rest"])
async def test_success_event_holds_the_decoded_response(transport: str, emulator_env: Emulator) -> None:
    name = start_create(transport)
    event = await first_event(ContactCenterInsightsOperationTrigger(
        operation_name=name, poll_interval=0.1, transport=transport))

    assert json.loads(json.dumps(event)) == event
    assert event["status"] == "succeeded"
    assert event["operation_name"] == name
    model = ContactCenterInsightsHook().get_conn().get_issue_model(name=event["operation"]["response"]["name"])
    expected = json_format.MessageToDict(model._pb)
    response = dict(event["operation"]["response"])
    assert response.pop("@type") == "type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel"
    assert response == expected


async def test_failed_operation_is_never_success(emulator_env: Emulator) -> None:
    emulator_env.fail_next_operations(1, code="FAILED_PRECONDITION", message="Not enough conversations")
    event = await first_event(ContactCenterInsightsOperationTrigger(operation_name=start_create(), poll_interval=0.1))

    assert event["status"] == "failed"
    assert event["error_code"] == "FAILED_PRECONDITION"
    assert event["error_message"] == "Not enough conversations"
    assert "response" not in event["operation"]


async def test_permanent_error_ends_at_once(emulator_env: Emulator) -> None:
    event = await first_event(ContactCenterInsightsOperationTrigger(
        operation_name=f"{PARENT}/operations/999", poll_interval=0.1))

    assert event["status"] == "error"
    assert event["error_code"] == "NOT_FOUND"
    assert emulator_env.call_counts()["GetOperation"] == 1


async def test_transient_faults_are_retried(emulator_env: Emulator) -> None:
    name = start_create()
    emulator_env.inject_fault(rpc="GetOperation", code="UNAVAILABLE", rate=0.3)
    emulator_env.inject_fault(rpc="GetOperation", code="RESOURCE_EXHAUSTED", rate=0.1)
    triggers = [ContactCenterInsightsOperationTrigger(operation_name=name, poll_interval=0.1) for _ in range(20)]

    events = await asyncio.gather(*(first_event(t, timeout=120) for t in triggers))

    assert {e["status"] for e in events} == {"succeeded"}
    # The same outcome for every trigger; what each wait cost (its "wait" tally) is its own.
    assert len({json.dumps({**e, "wait": None}, sort_keys=True) for e in events}) == 1
    assert emulator_env.call_counts()["GetOperation"] > 20


async def test_deadline_gives_a_timeout_event(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(60)
    started = time.monotonic()
    event = await first_event(ContactCenterInsightsOperationTrigger(
        operation_name=start_create(), poll_interval=10, end_time=time.time() + 0.5))

    assert event["status"] == "timeout"
    assert time.monotonic() - started < 5, "the deadline must cut the poll interval short"


async def test_rebuilt_trigger_resumes_and_gives_the_same_result(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(1.0)
    trigger = ContactCenterInsightsOperationTrigger(
        operation_name=start_create(), poll_interval=0.1, end_time=time.time() + 60)
    first_run = asyncio.ensure_future(first_event(trigger))
    await asyncio.sleep(0.3)
    first_run.cancel()  # the triggerer stopped mid-wait
    with pytest.raises(asyncio.CancelledError):
        await first_run

    event = await first_event(rebuild(trigger))
    again = await first_event(rebuild(trigger))

    assert event["status"] == "succeeded"
    assert {**event, "wait": None} == {**again, "wait": None}
    assert emulator_env.call_counts().get("CancelOperation", 0) == 0




# -- a triggerer restarted across an upgrade ----------------------------------------------------
# The class path and kwargs of a trigger row as the release before OperationWait wrote them.
EARLIER_RELEASE_CLASSPATH = "ccai_airflow.triggers.ContactCenterInsightsOperationTrigger"


def earlier_release_kwargs(name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "operation_name": name, "poll_interval": 0.1, "gcp_conn_id": "google_cloud_default",
        "impersonation_chain": None, "transport": "grpc", "api_endpoint": None,
        "end_time": time.time() + 30, "cancel_on_kill": False,
        "wait_tally": {"started": time.time() - 60, "polls": 4, "retries": {"UNAVAILABLE": 1},
                       "budget_wait_s": 0.0, "deferred_at": time.time() - 59},
        **overrides,
    }


async def test_a_trigger_row_of_the_earlier_release_resumes_its_wait(emulator_env: Emulator, airflow_db: str) -> None:
    from airflow.models.trigger import Trigger

    try:  # where this Airflow's triggerer job imports it from
        from airflow._shared.module_loading import import_string
    except ImportError:
        from airflow.utils.module_loading import import_string  # type: ignore[no-redef]

    old = earlier_release_kwargs(start_create())
    row = Trigger(classpath=EARLIER_RELEASE_CLASSPATH, kwargs=old)  # as the trigger table stores it (encrypted)

    trigger = import_string(row.classpath)(**row.kwargs)  # what the triggerer does with the row

    assert trigger.serialize() == (EARLIER_RELEASE_CLASSPATH, old), "the same row when written back"
    event = await first_event(trigger)
    assert event["status"] == "succeeded"
    assert event["wait"]["polls"] > 4 and event["wait"]["retries"] == {"UNAVAILABLE": 1}, "counted on"
    assert event["wait"]["started"] == old["wait_tally"]["started"]


@pytest.mark.parametrize("missing", ["wait_tally", "cancel_on_kill", "end_time", "poll_interval"])
def test_a_trigger_row_without_a_later_key_loads_with_its_default(missing: str) -> None:
    old = earlier_release_kwargs(f"{PARENT}/operations/7")
    del old[missing]
    trigger = ContactCenterInsightsOperationTrigger(**old)
    defaults = {"cancel_on_kill": False, "end_time": None, "poll_interval": None}
    kwargs = trigger.serialize()[1]
    if missing == "wait_tally":
        assert kwargs["wait_tally"]["polls"] == 0
    else:
        assert kwargs[missing] == defaults[missing]
