"""The sensor: waits for a Contact Center Insights operation and pushes its decoded response."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    conf,
)
from airflow.sdk.bases.sensor import PokeReturnValue

from ccai_airflow.hooks import ContactCenterInsightsHook, validate_impersonation_chain, validate_transport
from ccai_airflow.operations import Outcome, Status, parse_operation_name, xcom_values
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger, log_progress

# The scheduler's own deferral timeout is a backstop only: the trigger's end_time fires first and
# reports a clean "timeout" event.
_DEFERRAL_TIMEOUT_GRACE_S = 60.0


class ContactCenterInsightsOperationFailedError(AirflowFailException):
    """The operation finished with an error, or the API refused to tell its state (permanent error)."""


class ContactCenterInsightsOperationSensor(BaseSensorOperator):
    """Wait for a Contact Center Insights long-running operation to be done.

    On success ``return_value`` is the decoded ``response`` as the REST API shows it; key
    ``operation`` holds the whole decoded operation; ``issue_model_name`` and ``training_stats``
    are pushed when the response is an ``IssueModel``. A failed operation, or a permanent API error
    (NOT_FOUND, PERMISSION_DENIED, ...), fails the task at once without retries (skips it with
    ``soft_fail``); transient errors are retried and never fail it.

    :param operation_name: ``projects/{project}/locations/{location}/operations/{id}`` (templated).
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account (or chain) to impersonate (templated).
    :param transport: ``grpc`` (default) or ``rest``.
    :param api_endpoint: optional endpoint override.
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    template_fields: Sequence[str] = ("operation_name", "impersonation_chain", "gcp_conn_id")
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        operation_name: str,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        transport: str = "grpc",
        api_endpoint: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.operation_name = operation_name
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.transport = validate_transport(transport)
        self.api_endpoint = api_endpoint
        self.deferrable = deferrable
        if self.poke_interval <= 0:
            raise ValueError(f"Invalid poke_interval {self.poke_interval!r}: expected seconds > 0.")
        if self.timeout is not None and self.timeout < 0:
            raise ValueError(f"Invalid timeout {self.timeout!r}: expected seconds >= 0.")
        if "{{" not in str(operation_name):
            parse_operation_name(operation_name)
        if "{{" not in str(impersonation_chain):
            validate_impersonation_chain(impersonation_chain)

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render, then validate: a bad name fails here, before any API call."""
        super().render_template_fields(context, jinja_env)
        parse_operation_name(self.operation_name)
        validate_impersonation_chain(self.impersonation_chain)

    @cached_property
    def hook(self) -> ContactCenterInsightsHook:
        return ContactCenterInsightsHook(
            gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain,
            transport=self.transport, api_endpoint=self.api_endpoint,
        )

    # -- poke and reschedule --------------------------------------------------------------------
    def poke(self, context: Any) -> bool | PokeReturnValue:
        outcome = self.hook.poll(self.operation_name)
        if not outcome.done:
            log_progress(self.log, outcome)
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(context, outcome))

    # -- deferrable -----------------------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        with self._soft_fail():
            outcome = self.hook.poll(self.operation_name)
            if outcome.done:
                return self._finish(context, outcome)
        log_progress(self.log, outcome)
        end_time = time.time() + self.timeout
        self.defer(
            trigger=ContactCenterInsightsOperationTrigger(
                operation_name=self.operation_name, poll_interval=self.poke_interval,
                gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain,
                transport=self.transport, api_endpoint=self.api_endpoint, end_time=end_time,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + _DEFERRAL_TIMEOUT_GRACE_S),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Finish after the trigger: the same outcome handling as poke (soft_fail is applied by Airflow)."""
        return self._finish(context, Outcome.from_event(event))

    # -- shared ---------------------------------------------------------------------------------
    def _finish(self, context: Any, outcome: Outcome) -> Any:
        """Push the XComs of a success and return the response; raise for anything else."""
        if outcome.status is Status.TIMEOUT:
            raise AirflowSensorTimeout(
                f"Sensor timed out after {self.timeout} s: {outcome.describe_failure()}"
            )
        if outcome.status is not Status.SUCCEEDED:
            raise ContactCenterInsightsOperationFailedError(outcome.describe_failure())
        ti = context["ti"]
        for key, value in xcom_values(outcome).items():
            ti.xcom_push(key=key, value=value)
        self.log.info("Operation %s succeeded.", outcome.operation_name)
        return outcome.response

    def _soft_fail(self) -> Any:
        return _SoftFail(self.soft_fail or getattr(self, "never_fail", False))


class _SoftFail:
    """Turn a failure/timeout into a skip, as BaseSensorOperator does for poke, on the deferrable path."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self.enabled and isinstance(exc, AirflowFailException | AirflowSensorTimeout):
            raise AirflowSkipException(f"Skipping due to soft_fail: {exc}") from exc
