"""The task's side of a wait (OperationWaitMixin): one OperationWait per try, the deferral, the finish."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ccai_airflow import metrics
from ccai_airflow.compat import AirflowSensorTimeout, AirflowTaskTimeout, TaskDeferred
from ccai_airflow.core.outcome import Outcome, outcome_of
from ccai_airflow.emulator import Emulator
from ccai_airflow.exceptions import (
    ContactCenterInsightsOperationFailedError,
    ContactCenterInsightsOperationRetryableError,
    ContactCenterInsightsXComTooLargeError,
)
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import ContactCenterInsightsCreateIssueModelOperator
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.helpers import first_event, start_create
from tests.operation_fixtures import failed_operation, running_operation, succeeded_operation


class TaskInstance:
    """The one method of Airflow's task instance that finish() calls, recording what was pushed."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def sensor(**kwargs: Any) -> ContactCenterInsightsOperationSensor:
    return ContactCenterInsightsOperationSensor(task_id="wait", operation_name=start_create(), **kwargs)


def test_a_try_begins_one_wait_bound_to_the_tasks_hook(emulator_env: Emulator) -> None:
    task = sensor(timeout=600, cancel_on_kill=True, poke_interval=3)
    wait = task.begin_wait({}, task.operation_name, task.poll_interval, task.wait_timeout)

    assert task._wait is wait
    assert (wait.name, wait.poll_interval, wait.cancel_on_kill) == (task.operation_name, 3.0, True)
    assert wait.end_time is not None and 590 < wait.end_time - time.time() <= 600
    assert wait.meter is metrics
    assert wait.look().operation_name == task.operation_name
    assert emulator_env.call_counts()["GetOperation"] == 1 and wait.tally.polls == 1


def test_deferring_hands_the_whole_wait_to_the_trigger(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(60)
    task = sensor(timeout=120, deferrable=True, gcp_conn_id="google_cloud_default", transport="rest")
    wait = task.begin_wait({}, task.operation_name, None, 120)
    wait.look()

    with pytest.raises(TaskDeferred) as deferred:
        task.defer_until_done(wait)

    trigger = deferred.value.trigger
    assert isinstance(trigger, ContactCenterInsightsOperationTrigger)
    kwargs = trigger.serialize()[1]
    assert kwargs == {**wait.to_trigger_kwargs(), **task.hook_params().to_kwargs()}
    assert kwargs["wait_tally"]["polls"] == 1 and kwargs["wait_tally"]["deferred_at"] is not None
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() > 120


async def test_resuming_carries_the_triggers_count_into_the_summary_line(
    emulator_env: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    task = sensor()
    trigger = ContactCenterInsightsOperationTrigger(operation_name=task.operation_name, poll_interval=0.1)
    event = await first_event(trigger)

    capfd.readouterr()
    outcome = task.resumed(event)
    logged = "".join(capfd.readouterr())

    assert outcome.done and task._wait is not None
    assert task._wait.tally.polls == event["wait"]["polls"] >= 1
    polls = event["wait"]["polls"]
    assert f"Operation {task.operation_name} succeeded after" in logged and f"{polls} polls" in logged


def test_a_success_pushes_its_xcoms_and_returns_the_response(emulator_env: Emulator) -> None:
    ti = TaskInstance()
    response = sensor().finish({"ti": ti}, outcome_of(succeeded_operation()))
    assert response["@type"].endswith("IssueModel")
    assert {"operation", "issue_model_name", "training_stats"} <= set(ti.pushed)


@pytest.mark.parametrize(
    ("outcome", "options", "error"),
    [
        (outcome_of(failed_operation()), {}, ContactCenterInsightsOperationFailedError),
        (outcome_of(succeeded_operation()), {"max_xcom_bytes": 10}, ContactCenterInsightsXComTooLargeError),
    ],
)
def test_every_other_ending_raises_its_error_and_pushes_nothing(
    emulator_env: Emulator, outcome: Outcome, options: dict[str, Any], error: type[Exception]
) -> None:
    ti = TaskInstance()
    with pytest.raises(error):
        sensor(**options).finish({"ti": ti}, outcome)
    assert ti.pushed == {}


def test_an_operator_fails_a_failed_operation_with_a_retryable_error(emulator_env: Emulator) -> None:
    operator = ContactCenterInsightsCreateIssueModelOperator(task_id="create", issue_model={}, project_id="p")
    with pytest.raises(ContactCenterInsightsOperationRetryableError):
        operator.finish({"ti": TaskInstance()}, outcome_of(failed_operation()))


def test_a_spent_timeout_is_final_and_an_execution_timeout_is_retryable(emulator_env: Emulator) -> None:
    task = sensor(timeout=1)
    wait = task.begin_wait({}, task.operation_name, None, 1)
    timed_out = wait.step(outcome_of(running_operation()), now=time.time() + 5).outcome

    with pytest.raises(AirflowTaskTimeout, match="execution_timeout"):
        task.finish({}, timed_out)  # this try's wait began a moment ago: the 1 s timeout is not spent
    wait.tally.started -= 10
    with pytest.raises(AirflowSensorTimeout, match="Timed out waiting"):
        task.finish({}, timed_out)


def test_on_kill_cancels_the_wait_of_this_try_only_when_asked(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(60)
    quiet, asked = sensor(), sensor(cancel_on_kill=True)
    for task in (quiet, asked):
        task.begin_wait({}, task.operation_name, None, None)
        task.on_kill()

    assert emulator_env.call_counts().get("CancelOperation", 0) == 1
    assert ContactCenterInsightsHook().get_operation(asked.operation_name).error.code == 1  # CANCELLED
