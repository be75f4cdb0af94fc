"""What a task keeps across its tries (Airflow 3.3+'s ``task_state_store``), and the deadline rules built on
it: a wait's ``timeout`` counts from the first try's start, ``execution_timeout`` from this try's.

Before Airflow 3.3 nothing keeps the first try's start: ``timeout`` counts from the start of each try.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

__all__ = ["WAIT_STARTED_KEY", "deadline", "has_task_state", "set_task_state", "task_state", "timeout_is_final"]

# Where the start of the first try's wait is kept, so that a timeout is measured from the first try across
# retries, reschedules and triggerer restarts.
WAIT_STARTED_KEY = "ccai_wait_started_at"


def has_task_state(context: Any) -> bool:
    """Whether Airflow keeps state across this task's tries (``task_state_store``, Airflow 3.3+)."""
    return context.get("task_state_store") is not None


def task_state(context: Any, key: str) -> Any:
    """``key`` from the task instance's ``task_state_store`` (Airflow 3.3+); None where there is none."""
    store = context.get("task_state_store")
    return store.get(key) if store is not None else None


def set_task_state(context: Any, key: str, value: Any) -> bool:
    """Keep ``value`` across the task's tries; False where Airflow has no ``task_state_store`` (before 3.3)."""
    store = context.get("task_state_store")
    if store is None:
        return False
    store.set(key, value)
    return True


def deadline(
    context: Any, timeout: float | None, execution_timeout: timedelta | None, now: float | None = None
) -> tuple[float | None, float]:
    """The wait's absolute deadline (None: none) and when it started (the first try's start where Airflow
    keeps it, else now): ``timeout`` from that start, ``execution_timeout`` from now, whichever comes first."""
    now = time.time() if now is None else now
    started = task_state(context, WAIT_STARTED_KEY)
    if not isinstance(started, int | float) or isinstance(started, bool):
        started = now
        set_task_state(context, WAIT_STARTED_KEY, started)
    ends = [] if timeout is None else [started + timeout]
    if execution_timeout is not None:
        ends.append(now + execution_timeout.total_seconds())
    return (min(ends) if ends else None), float(started)


def timeout_is_final(context: Any, timeout: float | None, this_wait_started: float | None) -> bool:
    """Whether a timed-out wait is final (our ``timeout``, from the first try) rather than this try's
    ``execution_timeout`` (which Airflow's retries may follow).

    Where Airflow keeps no state, ``this_wait_started`` (carried by the trigger across a deferral: a resumed
    task's ``start_date`` is the resumption's) stands for the first try's start, else the try's start date.
    """
    started = task_state(context, WAIT_STARTED_KEY)
    if started is None and not has_task_state(context):
        started = this_wait_started
        start_date = getattr(context.get("ti"), "start_date", None)
        if started is None and start_date is not None:
            started = start_date.timestamp()
    return timeout is None or not isinstance(started, int | float) or time.time() >= started + timeout
