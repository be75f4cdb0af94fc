"""A task retry after the worker died mid-wait does not start a second operation.

The name is kept in Airflow's ``task_state_store`` (per task instance, across tries; Airflow 3.3+);
before 3.3 the retry finds the operation by its request (``core.resume.adoptable``). A retry resumes
waiting on it while it is running or succeeded; if it failed, the retry starts a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.longrunning import operations_pb2

from ccai_airflow.core.outcome import Status
from ccai_airflow.core.resume import adoptable
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.task_state import has_task_state, set_task_state, task_state

__all__ = ["STATE_KEY", "resume_or_start"]

STATE_KEY = "ccai_operation_name"


def resume_or_start(
    context: Any, log: Any, hook: ContactCenterInsightsHook, parent: str, request: Any,
    start: Callable[[Any], operations_pb2.Operation],
) -> str:
    """The name of the earlier try's operation of ``request`` if it is running or succeeded; else ``start`` a new
    one and keep its name for the next try."""
    previous = task_state(context, STATE_KEY)
    if previous is None and not has_task_state(context) and _try_number(context) > 1:
        since = getattr(context.get("dag_run"), "start_date", None)
        previous = adoptable(hook.list_operations(parent), request, since)
        if previous is not None:
            log.info("Found operation %s with this task's request, started by an earlier try.", previous)
    if isinstance(previous, str):
        outcome = hook.poll(previous)
        if outcome.status in (Status.RUNNING, Status.SUCCEEDED):
            log.info("Resuming operation %s started by an earlier try (%s).", previous, outcome.status)
            return previous
        log.warning("Operation %s of an earlier try ended %s: %s; starting a new one.",
                    previous, outcome.status, outcome.error_message)
    operation = start(request)
    log.info("Started %s: operation %s", type(request).__name__.removesuffix("Request"), operation.name)
    set_task_state(context, STATE_KEY, operation.name)
    return str(operation.name)


def _try_number(context: Any) -> int:
    return int(getattr(context.get("ti"), "try_number", 1) or 1)
