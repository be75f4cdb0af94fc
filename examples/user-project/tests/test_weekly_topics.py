"""Tests of the DAG against the emulator, with only the installed package and pytest: no conftest."""

from __future__ import annotations

import time

import pytest
from weekly_topics import dag


def states(run):
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_the_model_is_trained_and_reported(ccai_emulator):
    ccai_emulator.seed_conversations(ccai_emulator.parent, 200)

    run = dag.test()

    assert states(run) == {"train": "success", "report": "success"}
    assert ccai_emulator.call_counts()["CreateIssueModel"] == 1


@pytest.mark.ccai_emulator(fail_next_operations={"n": 1, "code": "RESOURCE_EXHAUSTED"})
def test_a_failed_training_fails_the_task(ccai_emulator):
    run = dag.test()

    assert states(run) == {"train": "failed", "report": "upstream_failed"}


def test_each_test_starts_from_an_empty_emulator(ccai_emulator):
    # The tests above trained models and queued a failure; none of it is left.
    assert ccai_emulator.call_counts() == {}
    run = dag.test()
    assert states(run)["train"] == "success"


def test_six_hours_of_training_in_seconds(ccai_emulator):
    ccai_emulator.set_operation_seconds(6 * 3600)
    ccai_emulator.set_clock_rate(3600)  # an emulated hour each second

    started = time.monotonic()
    run = dag.test()

    assert states(run) == {"train": "success", "report": "success"}
    assert time.monotonic() - started < 60
