"""What the sensor and the operators share: the hook, the deadline, the deferral, cancellation,
and finishing an outcome.

One code path: whether a task waited by poking, by rescheduling or in the triggerer, and
whether it is the sensor or an operator that started the operation, every wait ends in
:meth:`OperationWaitMixin.wait_ended` (one summary line of what it cost) and its result goes through
:meth:`OperationWaitMixin.finish`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property
from typing import Any

from ccai_airflow import metrics
from ccai_airflow.compat import (
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowTaskTimeout,
    TaskDeferred,
)
from ccai_airflow.core.cancelling import cancel_logged
from ccai_airflow.core.names import validate_flag
from ccai_airflow.core.outcome import Outcome, Status
from ccai_airflow.core.progress import WaitTally, log_progress
from ccai_airflow.core.xcom import (
    DEFAULT_MAX_XCOM_BYTES,
    XComTooLargeError,
    validate_max_xcom_bytes,
    validate_response_fields,
    xcoms_of,
)
from ccai_airflow.exceptions import ContactCenterInsightsOperationFailedError, ContactCenterInsightsXComTooLargeError
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger

__all__ = ["OperationWaitMixin", "has_task_state", "set_task_state", "task_state"]

# The scheduler's own deferral timeout is a backstop only: the trigger's end_time fires first and
# reports a clean "timeout" event.
DEFERRAL_TIMEOUT_GRACE_S = 60.0
# Where the start of the first try's wait is kept (task_state_store), so that a timeout is measured
# from the first try across retries, reschedules and triggerer restarts.
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


class OperationWaitMixin:
    """Mixed into the sensor and the operators. Needs the attributes below set by their __init__."""

    gcp_conn_id: str
    impersonation_chain: str | Sequence[str] | None
    transport: str
    api_endpoint: str | None
    cancel_on_kill: bool = False
    response_fields: Sequence[str] | None = None
    max_xcom_bytes: int | None = DEFAULT_MAX_XCOM_BYTES
    failure_error: type[Exception] = ContactCenterInsightsOperationFailedError
    execution_timeout: timedelta | None
    log: Any
    wait_timeout: float | None = None
    _waiting_on: str | None = None
    _wait_started: float | None = None
    _last_status: Status | None = None
    _last_outcome: Outcome | None = None  # what finish() was given: ccai_airflow.lineage reads it
    _cancel_requested: bool = False

    def init_wait_options(
        self, cancel_on_kill: bool, response_fields: Sequence[str] | None, max_xcom_bytes: int | None
    ) -> None:
        """Validate and keep the options every waiter has."""
        self.cancel_on_kill = validate_flag("cancel_on_kill", cancel_on_kill)
        self.response_fields = validate_response_fields(response_fields)
        self.max_xcom_bytes = validate_max_xcom_bytes(max_xcom_bytes)

    @cached_property
    def hook(self) -> ContactCenterInsightsHook:
        return ContactCenterInsightsHook(
            gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain,
            transport=self.transport, api_endpoint=self.api_endpoint,
        )

    # -- deadline ------------------------------------------------------------------------------
    def end_time(self, context: Any, timeout: float | None) -> float | None:
        """Absolute deadline: ``timeout`` from the first try's start, ``execution_timeout`` from this try's.

        The first start is kept in ``task_state_store`` (Airflow 3.3+), so retries and trigger restarts do
        not reset it; before 3.3 ``timeout`` counts from the start of each try.
        """
        now = time.time()
        started = task_state(context, WAIT_STARTED_KEY)
        if not isinstance(started, int | float):
            started = now
            set_task_state(context, WAIT_STARTED_KEY, started)
        self._wait_started = float(started)
        ends = [] if timeout is None else [started + timeout]
        if self.execution_timeout is not None:
            ends.append(now + self.execution_timeout.total_seconds())
        return min(ends) if ends else None

    # -- waiting -------------------------------------------------------------------------------
    def wait(
        self, context: Any, operation_name: str, poll_interval: float | None, timeout: float | None,
        deferrable: bool,
    ) -> Any:
        """Wait for the operation and finish; deferrable: look once, then hand over to the triggerer."""
        end_time = self.end_time(context, timeout)
        with self.cancel_if_abandoned(operation_name):
            return self.finish(context, self.wait_step(operation_name, poll_interval, end_time, deferrable))

    def wait_step(
        self, operation_name: str, poll_interval: float | None, end_time: float | None, deferrable: bool,
        method_name: str = "execute_complete",
    ) -> Outcome:
        """Wait in this worker until done or ``end_time``; deferrable: look once, then defer (resuming in
        ``method_name``) unless it is done already."""
        tally = self.hook.tally(operation_name)
        if self._wait_started is not None:
            tally.started = self._wait_started
        if deferrable:
            outcome = self.hook.poll(operation_name)
            if not outcome.done:
                log_progress(self.log, outcome, tally)
                self.log.info("Waiting for %s in the triggerer until end_time=%s.", operation_name, end_time)
                self.defer_until_done(operation_name, poll_interval, end_time, method_name)
        else:
            remaining = None if end_time is None else max(end_time - time.time(), 0.0)
            outcome = self.hook.wait_for_operation(operation_name, timeout=remaining, poll_interval=poll_interval)
        return self.wait_ended(outcome)

    def defer_until_done(
        self, operation_name: str, poll_interval: float | None, end_time: float | None,
        method_name: str = "execute_complete",
    ) -> None:
        """Hand the wait to the triggerer; ``method_name`` runs when it is over.

        What the continuation needs comes from the trigger's event and the server, not from the deferral's
        kwargs: ``dag.test`` (and so ``airflow dags test``) drops those on resume.
        """
        tally = self.hook.tally(operation_name)
        tally.deferred_at = time.time()
        self.defer(  # type: ignore[attr-defined]
            trigger=ContactCenterInsightsOperationTrigger(
                operation_name=operation_name, poll_interval=poll_interval, gcp_conn_id=self.gcp_conn_id,
                impersonation_chain=self.impersonation_chain, transport=self.transport,
                api_endpoint=self.api_endpoint, end_time=end_time, cancel_on_kill=self.cancel_on_kill,
                wait_tally=tally.to_event(),
            ),
            method_name=method_name,
            timeout=None if end_time is None else timedelta(
                seconds=max(end_time - time.time(), 0.0) + DEFERRAL_TIMEOUT_GRACE_S
            ),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Finish after the trigger, exactly as a poke that found the operation done."""
        return self.finish(context, self.resumed(event))

    def resumed(self, event: dict[str, Any]) -> Outcome:
        """The outcome of a trigger's event; the wait's cost (the triggerer's polls included) comes with it."""
        outcome = Outcome.from_event(event)
        tally = self.hook.track(WaitTally.from_event(outcome.operation_name, event.get("wait")))
        if tally.deferred_at is not None:
            metrics.deferred(time.time() - tally.deferred_at)
        if self._wait_started is None:
            self._wait_started = tally.started  # this try's wait started in the worker that deferred
        return self.wait_ended(outcome)

    def wait_ended(self, outcome: Outcome) -> Outcome:
        """Every wait ends here, in whichever mode it waited: one line of what it cost."""
        self._last_status = outcome.status
        self.log.info("%s", self.hook.tally(outcome.operation_name).summary(outcome))
        return outcome

    # -- cancellation --------------------------------------------------------------------------
    @contextmanager
    def cancel_if_abandoned(self, operation_name: str) -> Iterator[None]:
        """With ``cancel_on_kill``: cancel the operation if the wait ends before it is done
        (timeout, ``execution_timeout``, any other interruption).

        Handing the wait over (deferral, reschedule) is not the end of it: no cancel then.
        """
        self._waiting_on = operation_name
        try:
            yield
        except (TaskDeferred, AirflowRescheduleException):
            raise
        except BaseException as exc:
            if self._last_status in (None, Status.RUNNING, Status.TIMEOUT):
                self.cancel_if_asked(f"the wait ended with {type(exc).__name__}")
            raise

    def on_kill(self) -> None:
        """The task was killed while waiting in a worker: cancel the operation if asked to."""
        self.cancel_if_asked("the task was killed")

    def cancel_if_asked(self, why: str) -> None:
        name = self._waiting_on
        if not self.cancel_on_kill or name is None or self._cancel_requested:
            return
        self._cancel_requested = True  # a timeout can also call on_kill: cancel once
        with cancel_logged(self.log, name, why):
            self.hook.cancel_operation(name)

    # -- finishing -----------------------------------------------------------------------------
    def finish(self, context: Any, outcome: Outcome) -> Any:
        """Push the XComs of a success and return the response; raise for anything else."""
        self._last_status = outcome.status
        self._last_outcome = outcome
        if outcome.status is Status.TIMEOUT:
            raise self.timeout_error(context, f"Timed out waiting: {outcome.describe_failure()}")
        if outcome.status is not Status.SUCCEEDED:
            raise self.failure_error(outcome.describe_failure())
        try:
            values = xcoms_of(outcome, self.response_fields, self.max_xcom_bytes)
        except XComTooLargeError as exc:
            raise ContactCenterInsightsXComTooLargeError(str(exc)) from None
        ti = context["ti"]
        for key, value in values.items():
            if key != "return_value":
                ti.xcom_push(key=key, value=value)
        self.log.info("Operation %s succeeded.", outcome.operation_name)
        return values["return_value"]

    def timeout_error(self, context: Any, message: str) -> BaseException:
        """Our ``timeout`` (from the first try) is final; ``execution_timeout`` lets Airflow's retries apply.

        Before Airflow 3.3 nothing keeps the first try's start: ``timeout`` counts from this try's start.
        """
        started = task_state(context, WAIT_STARTED_KEY)
        if started is None and not has_task_state(context):
            # This try's wait: its start, carried by the trigger across a deferral (a resumed task's start_date
            # is the resumption's), else the try's start.
            started = self._wait_started
            start_date = getattr(context.get("ti"), "start_date", None)
            if started is None and start_date is not None:
                started = start_date.timestamp()
        timeout = self.wait_timeout
        if timeout is None or not isinstance(started, int | float) or time.time() >= started + timeout:
            return AirflowSensorTimeout(message)
        return AirflowTaskTimeout(f"{message} (execution_timeout={self.execution_timeout})")
