"""The sensor: waits for a Contact Center Insights operation and pushes its decoded response."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from airflow.sdk.bases.sensor import PokeReturnValue

from ccai_airflow import lineage
from ccai_airflow.compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    conf,
)
from ccai_airflow.core.names import (
    parse_operation_name,
    validate_impersonation_chain,
    validate_response_type,
    validate_seconds,
    validate_subscription,
    validate_transport,
)
from ccai_airflow.core.outcome import Outcome
from ccai_airflow.core.polling import DEFAULT_POLLING
from ccai_airflow.core.progress import log_progress
from ccai_airflow.core.xcom import DEFAULT_MAX_XCOM_BYTES, no_issue_model_name
from ccai_airflow.exceptions import ContactCenterInsightsOperationFailedError
from ccai_airflow.links import ContactCenterInsightsOperationLink
from ccai_airflow.waiting import OperationWaitMixin

__all__ = ["ContactCenterInsightsOperationFailedError", "ContactCenterInsightsOperationSensor"]


class ContactCenterInsightsOperationSensor(OperationWaitMixin, BaseSensorOperator):
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
    :param cancel_on_kill: cancel the operation when the task is killed or times out before it is
        done (default False). Never on a reschedule or a triggerer restart.
    :param response_fields: push only these fields of the response (dotted camelCase paths, e.g.
        ``["name", "trainingStats.analyzedConversationsCount"]``); default: all of it.
    :param expected_response_type: the type the response must have, as its ``@type`` names it: the type URL
        ``"type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel"`` or the bare message name
        ``"google.cloud.contactcenterinsights.v1.IssueModel"``. A success of another type fails the task (in
        every mode, without retries; skips it with ``soft_fail``), naming the operation and both types.
        Default None: any type.
    :param max_xcom_bytes: fail (never truncate) when the XComs would be larger; None: no limit.
    :param notification_subscription: with ``deferrable``, a Pub/Sub subscription (``projects/P/subscriptions/S``)
        of the topic the location's notification for this operation goes to (ExportInsightsData,
        IngestConversations, UploadConversation, CreateAnalysis): a message ends the wait at once
        (``ccai_airflow.hooks.wakeups``); ``poke_interval`` applies only while Pub/Sub does not answer.
    :param asset_events: on success, record an asset event for the issue model when the response is an
        ``IssueModel``, through the task's alias ``task.asset_alias`` (docs/assets.md); False: none.
    :param poke_interval: seconds between polls, in every mode (the trigger gets it as its
        ``poll_interval``). Not set: adaptive polling, about a tenth of the operation's age, from 2 s
        up to 10 min (``polling.DEFAULT_POLLING``).
    """

    template_fields: Sequence[str] = ("operation_name", "impersonation_chain", "gcp_conn_id")
    operator_extra_links = (ContactCenterInsightsOperationLink(),)
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
        cancel_on_kill: bool = False,
        response_fields: Sequence[str] | None = None,
        max_xcom_bytes: int | None = DEFAULT_MAX_XCOM_BYTES,
        asset_events: bool = True,
        notification_subscription: str | None = None,
        expected_response_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        # poke_interval set: a fixed cadence in every mode. Not set: the adaptive DEFAULT_POLLING.
        self.poll_interval = validate_seconds("poke_interval", kwargs.get("poke_interval"), zero_ok=False)
        validate_seconds("timeout", kwargs.get("timeout"), zero_ok=True)
        if self.poll_interval is None:
            kwargs["poke_interval"] = DEFAULT_POLLING.initial
        super().__init__(**kwargs)
        self._first_poke_at: float | None = None
        self.operation_name = operation_name
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.transport = validate_transport(transport)
        self.api_endpoint = api_endpoint
        self.deferrable = deferrable
        self.init_wait_options(cancel_on_kill, response_fields, max_xcom_bytes, asset_events)
        self.notification_subscription = validate_subscription(notification_subscription)
        self.expected_response_type = validate_response_type(expected_response_type)
        if "{{" not in str(operation_name):
            parse_operation_name(operation_name)
        if "{{" not in str(impersonation_chain):
            validate_impersonation_chain(impersonation_chain)

    @property
    def wait_timeout(self) -> float | None:  # type: ignore[override]
        return float(self.timeout) if self.timeout is not None else None

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render, then validate: a bad name fails here, before any API call."""
        super().render_template_fields(context, jinja_env)
        parse_operation_name(self.operation_name)
        validate_impersonation_chain(self.impersonation_chain)

    def asset_resources(self, outcome: Outcome | None) -> Sequence[lineage.DatasetRef]:
        """An operation of any kind: the issue model when the response is one (CreateIssueModel's)."""
        response = (outcome.response if outcome is not None else None) or {}
        if str(response.get("@type", "")).endswith(".IssueModel") and response.get("name"):
            return (lineage.issue_model(str(response["name"])),)
        return ()

    def succeeded(self, context: Any, outcome: Outcome) -> None:
        """A sensor waits on any kind of operation: say once why a downstream task would read ``issue_model_name``
        as None."""
        why = no_issue_model_name(outcome, self.response_fields)
        if why is not None:
            self.log.info("%s", why)

    # -- poke and reschedule --------------------------------------------------------------------
    def poke(self, context: Any) -> bool | PokeReturnValue:
        # Transient errors are retried within the poke, but not past the sensor's deadline (read from
        # task_state_store once per try, by execute, not at every poke).
        wait = self._wait or self.begin_wait(context, self.operation_name, self.poll_interval, self.wait_timeout)
        if self._first_poke_at is None:
            self._first_poke_at = time.time()
        outcome = wait.look()
        if not outcome.done:
            log_progress(self.log, outcome, wait.tally)
            self._schedule_next_poke(outcome.elapsed_seconds(), wait.end_time)
            return False
        return PokeReturnValue(is_done=True, xcom_value=self.finish(context, self.wait_ended(outcome)))

    def _schedule_next_poke(self, age: float | None, deadline: float | None) -> None:
        """Adaptive polling in poke and reschedule modes, through ``poke_interval``, which the base sensor
        reads after every poke: the policy's delay for the operation's age, never past the deadline."""
        if self.poll_interval is not None or self.exponential_backoff:
            return  # the user's cadence (or the base sensor's backoff) stands
        now = time.time()
        delay = DEFAULT_POLLING.delay(age if age is not None else now - (self._first_poke_at or now))
        self.poke_interval = delay if deadline is None else min(delay, max(deadline - now, 0.0) + 0.1)

    # -- deferrable ---------------------------------------------------------------------------
    def execute(self, context: Any) -> Any:
        ContactCenterInsightsOperationLink.persist(context=context, operation_name=self.operation_name)
        if not self.deferrable:
            with self.cancel_if_abandoned(
                self.begin_wait(context, self.operation_name, self.poll_interval, self.wait_timeout)
            ):
                return super().execute(context)
        with self._soft_fail():
            return self.wait(context, self.operation_name, self.poll_interval, self.timeout, deferrable=True)

    @contextmanager
    def _soft_fail(self) -> Iterator[None]:
        """Turn a failure or timeout into a skip on the deferrable path, as BaseSensorOperator does for poke."""
        try:
            yield
        except (AirflowFailException, AirflowSensorTimeout) as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping due to soft_fail/never_fail: {exc}") from exc
            raise
