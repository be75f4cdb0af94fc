"""Timeouts measured from the first try, cancel_on_kill, and the XCom size guard."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from ccai_airflow.core.outcome import outcome_of
from ccai_airflow.core.xcom import select_fields
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.helpers import AIRFLOW_KEEPS_TASK_STATE, first_event, run_dag, start_create, states, xcom


def cancelled(emulator: Emulator) -> int:
    return emulator.call_counts().get("CancelOperation", 0)


# -- cancel_on_kill -----------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["cancel_poke", "cancel_reschedule", "cancel_deferrable",
                                      "cancel_execution_timeout"])
def test_cancel_on_kill_cancels_when_the_wait_ends_early(
    scenario: str, emulator_env: Emulator, airflow_db: str
) -> None:
    emulator_env.set_operation_seconds(60)

    dag_run = run_dag(f"ccai_test_guard_{scenario}")

    assert states(dag_run)["wait"] == "failed"
    assert cancelled(emulator_env) == 1  # once: not at every reschedule
    name = xcom(dag_run, "create_issue_model")
    operation = ContactCenterInsightsHook().get_operation(name)
    assert operation.done and operation.error.code == 1  # CANCELLED


def test_without_cancel_on_kill_the_operation_keeps_running(emulator_env: Emulator, airflow_db: str) -> None:
    emulator_env.set_operation_seconds(60)

    dag_run = run_dag("ccai_test_guard_no_cancel_deferrable")

    assert states(dag_run)["wait"] == "failed"
    assert cancelled(emulator_env) == 0
    assert not ContactCenterInsightsHook().get_operation(xcom(dag_run, "create_issue_model")).done


async def test_trigger_cancels_on_kill_and_at_its_deadline_but_not_on_restart(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(60)
    name = start_create()
    trigger = ContactCenterInsightsOperationTrigger(operation_name=name, poll_interval=0.1, cancel_on_kill=True)

    run = asyncio.ensure_future(first_event(trigger))  # a triggerer restart: the run is cancelled
    await asyncio.sleep(0.3)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await trigger.cleanup()
    assert cancelled(emulator_env) == 0

    await trigger.on_kill()  # a user marked the task failed
    assert cancelled(emulator_env) == 1

    second = start_create()
    event = await first_event(ContactCenterInsightsOperationTrigger(
        operation_name=second, poll_interval=0.1, end_time=time.time() + 0.3, cancel_on_kill=True))
    assert event["status"] == "timeout"
    assert cancelled(emulator_env) == 2
    assert ContactCenterInsightsHook().get_operation(second).error.code == 1


async def test_trigger_on_kill_without_cancel_on_kill_does_nothing(emulator_env: Emulator) -> None:
    trigger = ContactCenterInsightsOperationTrigger(operation_name=start_create(), poll_interval=0.1)
    await trigger.on_kill()
    assert cancelled(emulator_env) == 0


def test_sensor_on_kill_cancels_the_operation_it_waits_on(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(60)
    name = start_create()
    sensor = ContactCenterInsightsOperationSensor(task_id="wait", operation_name=name, cancel_on_kill=True)
    with pytest.raises(KeyboardInterrupt), sensor.cancel_if_abandoned(sensor.begin_wait({}, name, None, None)):
        raise KeyboardInterrupt  # the worker is being stopped
    sensor.on_kill()  # Airflow may also call on_kill for the same stop: still one cancel
    assert cancelled(emulator_env) == 1

    other = ContactCenterInsightsOperationSensor(task_id="wait", operation_name=name, cancel_on_kill=True)
    with other.cancel_if_abandoned(other.begin_wait({}, name, None, None)):
        other.on_kill()  # killed mid-wait
    assert cancelled(emulator_env) == 2


# -- timeout from the first try -----------------------------------------------------------------
def test_deferrable_timeout_is_measured_from_the_first_try(
    emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    emulator_env.set_operation_seconds(60)

    dag_run = run_dag("ccai_test_guard_first_try_deferrable")

    assert states(dag_run)["wait"] == "failed"
    assert dag_run.get_task_instance("wait").try_number == 2
    output = capfd.readouterr()
    pattern = r"in the triggerer until end_time=([0-9]+\.[0-9]+)"
    end_times = [float(t) for t in re.findall(pattern, output.out + output.err)]
    assert len(end_times) == 2, end_times
    if AIRFLOW_KEEPS_TASK_STATE:
        # Try 1: execution_timeout (4 s) binds. Try 2: the sensor timeout, 6 s after try 1 began.
        assert end_times[1] - end_times[0] == pytest.approx(2.0, abs=0.3)
    else:
        # Before 3.3 (no task_state_store) timeout counts from each try: execution_timeout binds in both.
        assert end_times[1] - end_times[0] >= 3.9


# -- XCom size ----------------------------------------------------------------------------------
def test_too_large_response_fails_with_size_and_the_way_out(
    emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag("ccai_test_guard_xcom_too_large")

    assert states(dag_run)["wait"] == "failed"
    output = capfd.readouterr()
    found = re.search(r"would take (\d+) bytes, over max_xcom_bytes=500; nothing was pushed", output.out + output.err)
    assert found and int(found.group(1)) > 500
    assert "response_fields=[...]" in output.out + output.err


def test_response_fields_push_only_what_was_asked(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_guard_xcom_fields")

    assert states(dag_run)["wait"] == "success"
    model = ContactCenterInsightsHook().get_issue_model(xcom(dag_run, "wait", "issue_model_name"))
    assert xcom(dag_run, "wait") == {
        "@type": "type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel",
        "name": model.name,
        "trainingStats": {"analyzedConversationsCount": str(model.training_stats.analyzed_conversations_count)},
    }
    assert xcom(dag_run, "wait", "training_stats") == {
        "analyzedConversationsCount": str(model.training_stats.analyzed_conversations_count)
    }
    assert xcom(dag_run, "wait", "operation")["response"] == xcom(dag_run, "wait")


def test_unknown_response_field_is_named(
    emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag("ccai_test_guard_xcom_bad_field")

    assert states(dag_run)["wait"] == "failed"
    output = capfd.readouterr()
    assert "Invalid response field 'trainingStats.nope': trainingStats has no 'nope'" in output.out + output.err


def test_select_fields_keeps_the_type_and_nested_paths(emulator_env: Emulator) -> None:
    name = start_create()
    time.sleep(0.5)
    outcome = outcome_of(ContactCenterInsightsHook().get_operation(name))
    selected = select_fields(outcome, ["state", "inputDataConfig.medium"])
    assert selected.response == {"@type": outcome.response["@type"], "state": "UNDEPLOYED",  # type: ignore[index]
                                 "inputDataConfig": {"medium": "CHAT"}}
    assert selected.operation["metadata"] == outcome.operation["metadata"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [({"response_fields": "name"}, "Invalid response_fields 'name'"),
     ({"response_fields": ["name", ""]}, "Invalid response_fields"),
     ({"max_xcom_bytes": 0}, "Invalid max_xcom_bytes 0"),
     ({"max_xcom_bytes": True}, "Invalid max_xcom_bytes True"),
     ({"cancel_on_kill": "yes"}, "Invalid cancel_on_kill 'yes'")],
)
def test_guard_options_are_validated(kwargs: dict[str, object], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        ContactCenterInsightsOperationSensor(
            task_id="wait", operation_name="projects/p/locations/l/operations/1", **kwargs  # type: ignore[arg-type]
        )
