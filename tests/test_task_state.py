"""What a task keeps across tries, and the deadline rules on it: ``timeout`` from the first try's start."""

from __future__ import annotations

import datetime
import time
from types import SimpleNamespace
from typing import Any

import pytest

from ccai_airflow.task_state import (
    WAIT_STARTED_KEY,
    deadline,
    has_task_state,
    set_task_state,
    task_state,
    timeout_is_final,
)

pytestmark = pytest.mark.airflow_independent  # no Airflow code runs here


class Store:
    """The two methods of Airflow 3.3's ``task_state_store`` that the provider uses, over a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


def test_without_a_store_nothing_is_kept_and_nothing_fails() -> None:
    context: dict[str, Any] = {}
    assert not has_task_state(context)
    assert set_task_state(context, "k", 1) is False
    assert task_state(context, "k") is None


def test_the_first_tries_start_is_kept_and_the_timeout_counts_from_it() -> None:
    context = {"task_state_store": Store()}
    first_end, first_start = deadline(context, 3600, None, now=1000.0)
    assert (first_end, first_start) == (4600.0, 1000.0)
    assert task_state(context, WAIT_STARTED_KEY) == 1000.0

    later_end, later_start = deadline(context, 3600, None, now=2000.0)  # a retry, or a reschedule
    assert (later_end, later_start) == (4600.0, 1000.0)


def test_execution_timeout_counts_from_this_try_and_the_nearer_deadline_wins() -> None:
    context = {"task_state_store": Store()}
    deadline(context, 3600, None, now=1000.0)
    end, _ = deadline(context, 3600, datetime.timedelta(minutes=5), now=2000.0)
    assert end == 2300.0
    end, _ = deadline(context, 3600, datetime.timedelta(hours=2), now=2000.0)
    assert end == 4600.0
    assert deadline({}, None, None, now=5.0) == (None, 5.0)


def test_a_timeout_is_final_only_once_the_first_tries_timeout_has_passed() -> None:
    now = time.time()
    kept = {"task_state_store": Store()}
    kept["task_state_store"].set(WAIT_STARTED_KEY, now - 100)
    assert timeout_is_final(kept, 60, None), "the first try started 100 s ago: the 60 s timeout is spent"
    assert not timeout_is_final(kept, 600, None), "an execution_timeout: Airflow's retries may follow"
    assert timeout_is_final(kept, None, None), "no timeout of ours: nothing to retry against"


def test_without_a_store_this_waits_start_stands_for_the_first_tries() -> None:
    now = time.time()
    assert timeout_is_final({}, 60, now - 100)
    assert not timeout_is_final({}, 60, now - 10)
    ti = SimpleNamespace(start_date=datetime.datetime.fromtimestamp(now - 100, datetime.UTC))
    assert timeout_is_final({"ti": ti}, 60, None), "else the try's start date"
