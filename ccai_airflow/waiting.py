"""What the sensor and the operators share: the hook, the deferral, and finishing an outcome.

One code path: whether a task waited by poking, by rescheduling or in the triggerer, and
whether it is the sensor or an operator that started the operation, the result goes through
:meth:`OperationWaitMixin.finish`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, AirflowSensorTimeout

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operations import Outcome, Status, log_progress, xcom_values
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger

# The scheduler's own deferral timeout is a backstop only: the trigger's end_time fires first and
# reports a clean "timeout" event.
DEFERRAL_TIMEOUT_GRACE_S = 60.0


class ContactCenterInsightsOperationFailedError(AirflowFailException):
    """The operation finished with an error, or the API refused to say (permanent error). No retry:
    waiting again on the same operation cannot change the answer."""


class ContactCenterInsightsOperationRetryableError(AirflowException):
    """Raised by operators: a task retry starts the operation again, so Airflow's retries apply."""


class OperationWaitMixin:
    """Mixed into the sensor and the operators. Needs the attributes set by ``init_wait``."""

    gcp_conn_id: str
    impersonation_chain: str | Sequence[str] | None
    transport: str
    api_endpoint: str | None
    failure_error: type[Exception] = ContactCenterInsightsOperationFailedError
    log: Any

    @cached_property
    def hook(self) -> ContactCenterInsightsHook:
        return ContactCenterInsightsHook(
            gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain,
            transport=self.transport, api_endpoint=self.api_endpoint,
        )

    def wait(
        self, context: Any, operation_name: str, poll_interval: float | None, timeout: float | None,
        deferrable: bool,
    ) -> Any:
        """Wait for the operation and finish; deferrable: look once, then hand over to the triggerer."""
        if deferrable:
            outcome = self.hook.poll(operation_name)
            if not outcome.done:
                log_progress(self.log, outcome)
                self.defer_until_done(operation_name, poll_interval, timeout)
        else:
            outcome = self.hook.wait_for_operation(operation_name, timeout=timeout, poll_interval=poll_interval)
        return self.finish(context, outcome)

    def defer_until_done(self, operation_name: str, poll_interval: float | None, timeout: float | None) -> None:
        """Hand the wait to the triggerer; ``execute_complete`` runs when it is over."""
        end_time = None if timeout is None else time.time() + timeout
        self.defer(  # type: ignore[attr-defined]
            trigger=ContactCenterInsightsOperationTrigger(
                operation_name=operation_name, poll_interval=poll_interval, gcp_conn_id=self.gcp_conn_id,
                impersonation_chain=self.impersonation_chain, transport=self.transport,
                api_endpoint=self.api_endpoint, end_time=end_time,
            ),
            method_name="execute_complete",
            timeout=None if timeout is None else timedelta(seconds=timeout + DEFERRAL_TIMEOUT_GRACE_S),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Finish after the trigger, exactly as a poke that found the operation done."""
        return self.finish(context, Outcome.from_event(event))

    def finish(self, context: Any, outcome: Outcome) -> Any:
        """Push the XComs of a success and return the response; raise for anything else."""
        if outcome.status is Status.TIMEOUT:
            raise AirflowSensorTimeout(f"Timed out waiting: {outcome.describe_failure()}")
        if outcome.status is not Status.SUCCEEDED:
            raise self.failure_error(outcome.describe_failure())
        ti = context["ti"]
        for key, value in xcom_values(outcome).items():
            ti.xcom_push(key=key, value=value)
        self.log.info("Operation %s succeeded.", outcome.operation_name)
        return outcome.response
