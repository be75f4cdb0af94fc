"""What the sensor and the operators share: they hand their wait to an :class:`OperationWait` and finish it.

One code path: whether a task waited by poking, by rescheduling or in the triggerer, and whether it is
the sensor or an operator that started the operation, the task builds one ``OperationWait``
(:meth:`OperationWaitMixin.begin_wait`), every wait ends in :meth:`OperationWaitMixin.wait_ended` (one
summary line of what it cost) and its result goes through :meth:`OperationWaitMixin.finish`. What is
Airflow's stays here: the task's deadline across tries (``task_state``), the deferral, the XCom push and
which Airflow exception a timeout raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from functools import cached_property, partial
from typing import Any

from ccai_airflow import metrics
from ccai_airflow.asset_events import AssetEventsMixin
from ccai_airflow.compat import (
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowTaskTimeout,
    TaskDeferred,
)
from ccai_airflow.core.names import validate_flag
from ccai_airflow.core.outcome import Outcome
from ccai_airflow.core.progress import WaitTally
from ccai_airflow.core.wait import Ending, OperationWait, finish_outcome
from ccai_airflow.core.xcom import DEFAULT_MAX_XCOM_BYTES, validate_max_xcom_bytes, validate_response_fields
from ccai_airflow.exceptions import ContactCenterInsightsOperationFailedError, ContactCenterInsightsXComTooLargeError
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.hooks.params import HookParams
from ccai_airflow.task_state import deadline, timeout_is_final
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger

__all__ = ["OperationWaitMixin"]

# The scheduler's own deferral timeout is a backstop only: the trigger's end_time fires first and
# reports a clean "timeout" event.
DEFERRAL_TIMEOUT_GRACE_S = 60.0


class OperationWaitMixin(AssetEventsMixin):
    """Mixed into the sensor and the operators; their ``__init__`` sets the connection and the options."""

    gcp_conn_id: str
    impersonation_chain: str | Sequence[str] | None
    transport: str
    api_endpoint: str | None
    execution_timeout: timedelta | None
    defer: Callable[..., Any]  # BaseOperator's
    cancel_on_kill: bool = False
    response_fields: Sequence[str] | None = None
    max_xcom_bytes: int | None = DEFAULT_MAX_XCOM_BYTES
    expected_response_type: str | None = None  # the type URL a success must have (the sensor's option)
    failure_error: type[Exception] = ContactCenterInsightsOperationFailedError
    wait_timeout: float | None = None
    notification_subscription: str | None = None  # wakes a deferred wait (``ccai_airflow.hooks.wakeups``)
    _wait: OperationWait | None = None  # this try's wait
    _last_outcome: Outcome | None = None  # what finish() was given: ccai_airflow.lineage reads it

    def init_wait_options(self, cancel_on_kill: bool, response_fields: Sequence[str] | None,
                          max_xcom_bytes: int | None, asset_events: bool) -> None:
        """Validate and keep the options every waiter has."""
        self.cancel_on_kill = validate_flag("cancel_on_kill", cancel_on_kill)
        self.response_fields = validate_response_fields(response_fields)
        self.max_xcom_bytes = validate_max_xcom_bytes(max_xcom_bytes)
        self.init_asset_events(asset_events)

    def hook_params(self) -> HookParams:
        return HookParams(self.gcp_conn_id, self.impersonation_chain, self.transport, self.api_endpoint)

    @cached_property
    def hook(self) -> ContactCenterInsightsHook:
        return ContactCenterInsightsHook(**self.hook_params().to_kwargs())

    # -- the wait ------------------------------------------------------------------------------
    def begin_wait(
        self, context: Any, operation_name: str, poll_interval: float | None, timeout: float | None
    ) -> OperationWait:
        """This try's wait for ``operation_name``: its deadline from the first try's start (``task_state``)."""
        end_time, started = deadline(context, timeout, self.execution_timeout)
        return self._bind(OperationWait(
            operation_name, end_time=end_time, poll_interval=poll_interval, cancel_on_kill=self.cancel_on_kill,
            notification_subscription=self.notification_subscription, tally=WaitTally(operation_name, started=started),
        ))

    def _bind(self, wait: OperationWait) -> OperationWait:
        wait.poll, wait.cancel, wait.meter = self.hook.poll, self.hook.cancel_operation, metrics
        self._wait = wait
        return wait

    def wait(
        self, context: Any, operation_name: str, poll_interval: float | None, timeout: float | None,
        deferrable: bool,
    ) -> Any:
        """Wait for the operation and finish; deferrable: look once, then hand over to the triggerer."""
        wait = self.begin_wait(context, operation_name, poll_interval, timeout)
        with self.cancel_if_abandoned(wait):
            return self.finish(context, self.wait_step(wait, deferrable))

    def wait_step(self, wait: OperationWait, deferrable: bool, method_name: str = "execute_complete") -> Outcome:
        """Wait in this worker until done or the deadline; deferrable: look once, then defer (resuming in
        ``method_name``) unless it is done already."""
        if not deferrable:
            return wait.run(self.log)
        return wait.look_or_hand_over(self.log, partial(self.defer_until_done, method_name=method_name))

    def defer_until_done(self, wait: OperationWait, method_name: str = "execute_complete") -> None:
        """Hand the wait to the triggerer; ``method_name`` runs when it is over.

        What the continuation needs comes from the trigger's event and the server, not from the deferral's
        kwargs: ``dag.test`` (and so ``airflow dags test``) drops those on resume.
        """
        self.log.info("Waiting for %s in the triggerer until end_time=%s.", wait.name, wait.end_time)
        wait.deferring()
        remaining = wait.remaining()
        self.defer(
            trigger=ContactCenterInsightsOperationTrigger.for_wait(wait, self.hook_params()),
            method_name=method_name,
            timeout=None if remaining is None else timedelta(seconds=remaining + DEFERRAL_TIMEOUT_GRACE_S),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Finish after the trigger, exactly as a poke that found the operation done."""
        return self.finish(context, self.resumed(event))

    def resumed(self, event: dict[str, Any]) -> Outcome:
        """The outcome of a trigger's event; the wait's cost (the triggerer's polls included) comes with it."""
        outcome = Outcome.from_event(event)
        tally = WaitTally.from_event(outcome.operation_name, event.get("wait"))
        wait = self._bind(OperationWait(outcome.operation_name, cancel_on_kill=self.cancel_on_kill, tally=tally))
        wait.resumed()
        return self.wait_ended(outcome)

    def wait_ended(self, outcome: Outcome) -> Outcome:
        """Every wait ends here, in whichever mode it waited: one line of what it cost."""
        self.log.info("%s", (self._wait or OperationWait(outcome.operation_name)).tally.summary(outcome))
        return outcome

    # -- cancellation (the rule is the wait's) ---------------------------------------------------
    @contextmanager
    def cancel_if_abandoned(self, wait: OperationWait) -> Iterator[None]:
        """With ``cancel_on_kill``: cancel the operation if the wait ends before it is done
        (timeout, ``execution_timeout``, any other interruption).

        Handing the wait over (deferral, reschedule) is not the end of it: no cancel then.
        """
        try:
            yield
        except (TaskDeferred, AirflowRescheduleException):
            raise
        except BaseException as exc:
            wait.cancel_abandoned(self.log, f"the wait ended with {type(exc).__name__}")
            raise

    def on_kill(self) -> None:
        """The task was killed while waiting in a worker: cancel the operation if asked to."""
        if self._wait is not None:
            self._wait.cancel_abandoned(self.log, "the task was killed")

    # -- finishing -----------------------------------------------------------------------------
    def finish(self, context: Any, outcome: Outcome) -> Any:
        """Push the XComs of a success, record its asset events and return the response; raise for anything else."""
        self._last_outcome = outcome
        if self._wait is not None:
            self._wait.last_status = outcome.status
        done = finish_outcome(outcome, self.response_fields, self.max_xcom_bytes, self.expected_response_type)
        if done.ending is Ending.TIMEOUT:
            raise self.timeout_error(context, done.error)
        if done.ending is Ending.FAILED:
            raise self.failure_error(done.error)
        if done.ending is Ending.TOO_LARGE:
            raise ContactCenterInsightsXComTooLargeError(done.error)
        ti = context["ti"]
        for key, value in done.values.items():
            if key != "return_value":
                ti.xcom_push(key=key, value=value)
        self.log.info("Operation %s succeeded.", outcome.operation_name)
        self.succeeded(context, outcome)
        self.record_asset_events(context, outcome)
        return done.values["return_value"]

    def succeeded(self, context: Any, outcome: Outcome) -> None:
        """After the push of a success, before its asset events: what an operator learns from it (links, names)."""

    def timeout_error(self, context: Any, message: str) -> BaseException:
        """Our ``timeout`` (from the first try) is final; ``execution_timeout`` lets Airflow's retries apply."""
        started = self._wait.tally.started if self._wait is not None else None
        if timeout_is_final(context, self.wait_timeout, started):
            return AirflowSensorTimeout(message)
        return AirflowTaskTimeout(f"{message} (execution_timeout={self.execution_timeout})")
