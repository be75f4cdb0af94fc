"""OperationWait: the step, counting, the cancel rule, the finish, and the trigger kwargs' exact round trip."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest

from ccai_airflow.core.outcome import Outcome, Status, outcome_of
from ccai_airflow.core.progress import WaitTally
from ccai_airflow.core.wait import Ending, OperationWait, finish_outcome
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsAsyncHook, ContactCenterInsightsHook
from tests.helpers import create_model
from tests.operation_fixtures import OP_NAME, failed_operation, running_operation, succeeded_operation

LOG = logging.getLogger("test_wait")


class RecordingMeter:
    """Records what a wait reports, so the counts it hands Airflow's Stats can be checked without StatsD."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def polled(self, outcome: Outcome, first_done: bool) -> None:
        self.calls.append(("polled", (outcome.status, first_done)))

    def retried(self, code: str) -> None:
        self.calls.append(("retried", code))

    def budget_waited(self, seconds: float) -> None:
        self.calls.append(("budget_waited", seconds))

    def deferred(self, seconds: float) -> None:
        self.calls.append(("deferred", round(seconds)))


# -- into and out of the triggerer -------------------------------------------------------------
def test_trigger_kwargs_round_trip_exactly_through_json() -> None:
    tally = WaitTally(OP_NAME, started=1796160000.0, polls=3, retries={"UNAVAILABLE": 2}, budget_wait_s=0.5,
                      deferred_at=1796160001.25)
    wait = OperationWait(OP_NAME, end_time=1796163600.5, poll_interval=7.0, cancel_on_kill=True, tally=tally)

    kwargs = json.loads(json.dumps(wait.to_trigger_kwargs()))
    again = OperationWait.from_trigger_kwargs(kwargs)

    assert again == wait
    assert again.to_trigger_kwargs() == wait.to_trigger_kwargs() == kwargs
    counts = again.tally
    assert (counts.polls, counts.retries, counts.deferred_at) == (3, {"UNAVAILABLE": 2}, 1796160001.25)
    assert again != OperationWait(OP_NAME, end_time=1796163600.5, poll_interval=7.0, cancel_on_kill=True)


def test_kwargs_without_the_keys_added_later_load_with_their_defaults() -> None:
    # The oldest trigger kwargs carried only the name, the interval and the deadline.
    wait = OperationWait.from_trigger_kwargs({"operation_name": OP_NAME, "poll_interval": None, "end_time": None})

    assert (wait.cancel_on_kill, wait.end_time, wait.tally.polls) == (False, None, 0)
    assert wait.to_trigger_kwargs()["wait_tally"]["retries"] == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operation_name": "operations/1"}, r"Invalid operation name 'operations/1'"),
        ({"operation_name": OP_NAME, "end_time": "soon"}, r"Invalid end_time 'soon': expected Unix seconds"),
        ({"operation_name": OP_NAME, "end_time": True}, r"Invalid end_time True"),
        ({"operation_name": OP_NAME, "poll_interval": 0}, r"Invalid poll_interval 0"),
        ({"operation_name": OP_NAME, "cancel_on_kill": "yes"}, r"Invalid cancel_on_kill 'yes'"),
        ({"operation_name": OP_NAME, "wait_tally": [1]}, r"Invalid wait_tally \[1\]: expected a dict"),
    ],
)
def test_bad_kwargs_name_the_value_and_what_was_expected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OperationWait.from_trigger_kwargs(kwargs)


# -- the step ----------------------------------------------------------------------------------
def test_the_step_sleeps_while_running_and_finishes_when_done_or_past_the_deadline() -> None:
    wait = OperationWait(OP_NAME, end_time=1000.0, poll_interval=5.0, tally=WaitTally(OP_NAME, started=900.0))
    running = outcome_of(running_operation())

    assert wait.step(running, now=990.0).sleep == 5.0
    assert wait.step(running, now=998.0).sleep == pytest.approx(2.0), "never past the deadline"
    timed_out = wait.step(running, now=1000.0)
    assert timed_out.finished and timed_out.outcome.status is Status.TIMEOUT
    assert "end_time=1000.0" in (timed_out.outcome.error_message or "")
    done = wait.step(outcome_of(succeeded_operation()), now=2000.0)
    assert done.finished and done.outcome.status is Status.SUCCEEDED
    assert wait.remaining(now=400.0) == 600.0 and wait.remaining(now=1500.0) == 0.0


def test_a_wait_counts_its_polls_and_reports_the_first_done_once() -> None:
    meter = RecordingMeter()
    wait = OperationWait(OP_NAME, meter=meter)
    for operation in (running_operation(), succeeded_operation(), succeeded_operation()):
        wait.observe(outcome_of(operation))
    wait.retried("UNAVAILABLE")
    wait.budget_waited(0.0001)  # the pacing's rounding: not counted
    wait.budget_waited(0.25)

    assert wait.tally.polls == 3
    assert wait.tally.retries == {"UNAVAILABLE": 1}
    assert wait.tally.budget_wait_s == 0.25
    assert [c for c in meter.calls if c[0] == "polled"] == [
        ("polled", (Status.RUNNING, False)), ("polled", (Status.SUCCEEDED, True)),
        ("polled", (Status.SUCCEEDED, False)),
    ]
    assert ("retried", "UNAVAILABLE") in meter.calls and ("budget_waited", 0.25) in meter.calls


def test_resuming_reports_how_long_the_task_was_deferred() -> None:
    meter = RecordingMeter()
    wait = OperationWait(OP_NAME, meter=meter)
    wait.deferring(now=100.0)
    wait.resumed(now=130.0)
    assert meter.calls == [("deferred", 30)]


# -- the finish --------------------------------------------------------------------------------
def test_the_finish_pushes_a_success_and_names_every_other_ending() -> None:
    pushed = finish_outcome(outcome_of(succeeded_operation()))
    assert pushed.ending is Ending.PUSH and pushed.values["return_value"]["@type"].endswith("IssueModel")

    failed = finish_outcome(outcome_of(failed_operation()))
    assert failed.ending is Ending.FAILED and failed.values == {} and failed.error

    timeout = OperationWait(OP_NAME, end_time=1.0).step(outcome_of(running_operation()), now=2.0).outcome
    assert finish_outcome(timeout).ending is Ending.TIMEOUT

    too_large = finish_outcome(outcome_of(succeeded_operation()), max_xcom_bytes=10)
    assert too_large.ending is Ending.TOO_LARGE and "max_xcom_bytes=10" in too_large.error


@pytest.mark.parametrize("expected", ["google.cloud.contactcenterinsights.v1.IssueModel",
                                      "type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel"])
def test_the_finish_pushes_a_success_of_the_expected_response_type_in_either_form(expected: str) -> None:
    pushed = finish_outcome(outcome_of(succeeded_operation()), expected_response_type=expected)

    assert pushed.ending is Ending.PUSH and pushed.values["return_value"]["@type"].endswith(".v1.IssueModel")


def test_the_finish_fails_a_success_of_another_type_naming_the_operation_and_both_types() -> None:
    wrong = finish_outcome(outcome_of(succeeded_operation()),
                           expected_response_type="google.cloud.contactcenterinsights.v1.ExportInsightsDataResponse")

    assert wrong.ending is Ending.FAILED and wrong.values == {}
    assert wrong.error == (
        f"Operation {OP_NAME} succeeded, but its response is of @type "
        "'type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel', not the expected "
        "'type.googleapis.com/google.cloud.contactcenterinsights.v1.ExportInsightsDataResponse' "
        "(expected_response_type): is it the operation this task should wait for?"
    )
    # A failed operation keeps its own error: the type is only checked on a success.
    failed = finish_outcome(outcome_of(failed_operation()), expected_response_type="google.protobuf.Empty")
    assert "expected_response_type" not in failed.error


# -- against the emulator: the hook's poll and cancel, sync and async ------------------------
def cancels(emulator: Emulator) -> int:
    return emulator.call_counts().get("CancelOperation", 0)


def test_a_wait_runs_through_the_hooks_poll_until_done(emulator_env: Emulator) -> None:
    hook = ContactCenterInsightsHook()
    name = create_model(hook, "wait-sync").name
    emulator_env.inject_fault(rpc="GetOperation", code="UNAVAILABLE", count=1)
    wait = OperationWait(name, poll_interval=0.05, poll=hook.poll, cancel=hook.cancel_operation, cancel_on_kill=True)

    outcome = wait.run(LOG)

    assert outcome.status is Status.SUCCEEDED
    assert wait.tally.retries == {"UNAVAILABLE": 1}, "the hook told the wait of its retry"
    assert wait.tally.polls == emulator_env.call_counts()["GetOperation"] - 1
    wait.cancel_abandoned(LOG, "too late")
    assert cancels(emulator_env) == 0, "a succeeded operation is never cancelled"


def test_past_its_deadline_a_wait_cancels_once_when_asked_to(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(60)
    hook = ContactCenterInsightsHook()
    name = create_model(hook, "wait-deadline").name
    wait = OperationWait(name, end_time=time.time() + 0.3, poll_interval=0.05, poll=hook.poll,
                         cancel=hook.cancel_operation, cancel_on_kill=True)

    assert wait.run(LOG).status is Status.TIMEOUT
    wait.cancel_abandoned(LOG, "the task was killed")  # a kill after the timeout: still one cancel

    assert cancels(emulator_env) == 1
    assert hook.get_operation(name).error.code == 1  # CANCELLED


def test_the_async_wait_takes_the_same_steps_through_the_async_hook(emulator_env: Emulator) -> None:
    name = create_model(ContactCenterInsightsHook(), "wait-async").name
    emulator_env.set_operation_seconds(60)
    late = create_model(ContactCenterInsightsHook(), "wait-async-late").name

    async def both() -> tuple[Outcome, Outcome]:
        hook = ContactCenterInsightsAsyncHook()
        done = OperationWait(name, poll_interval=0.05, poll=hook.poll)
        stuck = OperationWait(late, end_time=time.time() + 0.3, poll_interval=0.05, poll=hook.poll,
                              cancel=hook.cancel_operation, cancel_on_kill=True)
        return await done.arun(LOG, asyncio.sleep), await stuck.arun(LOG, asyncio.sleep)

    done, stuck = asyncio.run(both())

    assert (done.status, stuck.status) == (Status.SUCCEEDED, Status.TIMEOUT)
    assert cancels(emulator_env) == 1


def test_a_wait_without_a_poll_function_says_so() -> None:
    with pytest.raises(TypeError, match=f"The wait for {OP_NAME} was handed no poll function"):
        OperationWait(OP_NAME).look()
