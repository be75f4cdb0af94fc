"""The task log of a wait: one progress line when the counters change, not one per poll; the tally of a wait."""

from __future__ import annotations

import logging
import time

import pytest

from ccai_airflow.core.outcome import Outcome, Status
from ccai_airflow.core.progress import WaitTally, log_progress
from ccai_airflow.core.wait import OperationWait
from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.conftest import PARENT
from tests.helpers import create_model, first_event

NAME = f"{PARENT}/operations/1"
RUNNING = "running; elapsed"


def running(**counters: int) -> Outcome:
    metadata = {"createTime": "2026-01-01T00:00:00Z", **{k: str(v) for k, v in counters.items()}}
    return Outcome(Status.RUNNING, NAME, {"name": NAME, "done": False, "metadata": metadata})


def test_a_line_only_when_the_counters_change(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test_progress")
    tally = WaitTally(NAME)
    polls = [running(completedAnalysesCount=0)] * 3 + [running(completedAnalysesCount=5)] * 2 + [
        running(completedAnalysesCount=5, failedAnalysesCount=1), running(completedAnalysesCount=0)]
    with caplog.at_level(logging.INFO, logger="test_progress"):
        for outcome in polls:
            log_progress(log, outcome, tally)
    lines = [r.getMessage() for r in caplog.records if RUNNING in r.getMessage()]
    assert len(lines) == 4, lines
    assert lines[1].endswith("completedAnalysesCount=5")
    assert lines[2].endswith("completedAnalysesCount=5, failedAnalysesCount=1")


def test_a_poll_that_outlasted_its_retries_is_a_warning_every_time(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test_progress")
    tally = WaitTally(NAME)
    stuck = Outcome(Status.RUNNING, NAME, None, error_code="UNAVAILABLE", error_message="down")
    with caplog.at_level(logging.INFO, logger="test_progress"):
        for _ in range(3):
            log_progress(log, stuck, tally)
    assert [r.levelname for r in caplog.records] == ["WARNING"] * 3


def test_the_summary_names_what_the_wait_cost() -> None:
    tally = WaitTally(NAME, started=100.0, polls=7, retries={"UNAVAILABLE": 2, "RESOURCE_EXHAUSTED": 1},
                      budget_wait_s=1.25)
    done = Outcome(Status.SUCCEEDED, NAME, {"name": NAME, "done": True})
    assert tally.summary(done, now=142.0) == (
        f"Operation {NAME} succeeded after 42.0 s of waiting: 7 polls, 3 transient retries "
        "(RESOURCE_EXHAUSTED x1, UNAVAILABLE x2), 1.2 s waiting for the request budget."
    )
    assert WaitTally.from_event(NAME, tally.to_event()).to_event() == tally.to_event()
    assert WaitTally.from_event(NAME, "garbage").polls == 0


def test_a_long_wait_with_no_new_counters_logs_one_line(
    emulator_env: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    emulator_env.set_operation_seconds(1.0)
    hook = ContactCenterInsightsHook()
    name = create_model(hook, "quiet").name
    capfd.readouterr()
    wait = OperationWait(name, poll_interval=0.1, poll=hook.poll)
    outcome = wait.run(hook.log)
    assert outcome.status is Status.SUCCEEDED
    output = capfd.readouterr()
    lines = [line for line in (output.out + output.err).splitlines() if RUNNING in line]
    polls = wait.tally.polls
    assert polls >= 5, "the wait should have polled several times"
    assert len(lines) == 1, lines
    assert polls == emulator_env.call_counts()["GetOperation"]


async def test_the_trigger_carries_the_tally_of_the_whole_wait(emulator_env: Emulator) -> None:
    emulator_env.set_operation_seconds(0.8)
    name = create_model(ContactCenterInsightsHook(), "tally").name
    emulator_env.inject_fault(rpc="GetOperation", code="UNAVAILABLE", count=1)
    before = WaitTally(name, started=time.time() - 5, polls=1, deferred_at=time.time() - 1)
    trigger = ContactCenterInsightsOperationTrigger(operation_name=name, poll_interval=0.2,
                                                    wait_tally=before.to_event())
    assert trigger.serialize()[1]["wait_tally"] == before.to_event()

    event = await first_event(trigger)

    assert event["status"] == "succeeded"
    wait = event["wait"]
    calls = emulator_env.call_counts()["GetOperation"]
    assert wait["retries"] == {"UNAVAILABLE": 1}
    assert wait["polls"] == 1 + calls - 1, "the worker's poll plus the trigger's answered calls"
    assert (wait["started"], wait["deferred_at"]) == (before.started, before.deferred_at)


def test_a_trigger_refuses_a_tally_that_is_not_a_dict() -> None:
    with pytest.raises(ValueError, match=r"Invalid wait_tally 'x': expected a dict"):
        ContactCenterInsightsOperationTrigger(operation_name=NAME, wait_tally="x")  # type: ignore[arg-type]
