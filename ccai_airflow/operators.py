"""Operators that start Contact Center Insights long-running operations, and optionally wait.

Every operator: pushes the operation name (XCom key ``operation_name``) as soon as the operation
exists; with ``wait_for_completion=True`` (default) waits with the sensor's machinery
(``deferrable`` included) and returns the decoded response under the same XCom contract; with
``False`` returns the operation name so that a separate sensor can wait.

A task retry after the worker died mid-wait does not start a second operation: the name is kept
in Airflow's ``task_state_store`` (per task instance, across tries) and a retry resumes waiting on
it while it is running or succeeded. If it failed, the retry starts a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.google.cloud.links.base import BaseGoogleLink
from airflow.providers.google.cloud.operators.cloud_base import GoogleCloudBaseOperator
from airflow.providers.google.common.hooks.base_google import PROVIDE_PROJECT_ID
from google.api_core.gapic_v1.method import DEFAULT
from google.cloud.contact_center_insights_v1 import types
from google.longrunning import operations_pb2

from ccai_airflow.compat import conf
from ccai_airflow.exceptions import ContactCenterInsightsOperationRetryableError
from ccai_airflow.links import ContactCenterInsightsIssueModelLink, ContactCenterInsightsLink
from ccai_airflow.names import (
    child_name,
    validate_impersonation_chain,
    validate_location,
    validate_seconds,
    validate_transport,
)
from ccai_airflow.outcome import Status
from ccai_airflow.resume import adoptable
from ccai_airflow.waiting import OperationWaitMixin, has_task_state, set_task_state, task_state
from ccai_airflow.xcom import DEFAULT_MAX_XCOM_BYTES

__all__ = [
    "ContactCenterInsightsBulkAnalyzeConversationsOperator",
    "ContactCenterInsightsCreateIssueModelOperator",
    "ContactCenterInsightsDeleteIssueModelOperator",
    "ContactCenterInsightsDeployIssueModelOperator",
    "ContactCenterInsightsExportInsightsDataOperator",
    "ContactCenterInsightsIngestConversationsOperator",
    "ContactCenterInsightsStartOperationOperator",
    "ContactCenterInsightsUndeployIssueModelOperator",
]

STATE_KEY = "ccai_operation_name"


class ContactCenterInsightsStartOperationOperator(OperationWaitMixin, GoogleCloudBaseOperator):
    """Base of the operators: start one LRO, push its name, maybe wait. Subclasses build the request.

    :param project_id: Google Cloud project; defaults to the connection's project.
    :param location: Insights location, e.g. ``us-central1``.
    :param gcp_conn_id: the Google Cloud connection.
    :param impersonation_chain: service account (or chain) to impersonate.
    :param transport: ``grpc`` (default) or ``rest``.
    :param api_endpoint: optional endpoint override.
    :param wait_for_completion: wait for the operation and return its decoded response (default);
        if False, return the operation name at once.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between polls while waiting; None (default) polls adaptively,
        about a tenth of the operation's age (2 s to 10 min).
    :param wait_timeout: give up waiting after this many seconds (the operation keeps running).
    :param retry: retry policy of the start call (the library's default when not given).
    :param request_timeout: timeout in seconds of the start call.
    :param metadata: extra gRPC metadata of the start call.
    :param cancel_on_kill: cancel the operation when the task is killed or its wait times out.
    :param response_fields: push only these fields of the response (see the sensor).
    :param max_xcom_bytes: fail (never truncate) when the XComs would be larger; None: no limit.
    """

    template_fields: Sequence[str] = ("project_id", "location", "gcp_conn_id", "impersonation_chain")
    operator_extra_links: tuple[BaseGoogleLink, ...] = (ContactCenterInsightsLink(),)
    failure_error = ContactCenterInsightsOperationRetryableError

    def __init__(
        self,
        *,
        project_id: str = PROVIDE_PROJECT_ID,
        location: str = "us-central1",
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        transport: str = "grpc",
        api_endpoint: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | None = None,
        wait_timeout: float | None = None,
        retry: Any = DEFAULT,
        request_timeout: float | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        cancel_on_kill: bool = False,
        response_fields: Sequence[str] | None = None,
        max_xcom_bytes: int | None = DEFAULT_MAX_XCOM_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.init_wait_options(cancel_on_kill, response_fields, max_xcom_bytes)
        self.project_id = project_id
        self.location = location
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.transport = validate_transport(transport)
        self.api_endpoint = api_endpoint
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = validate_seconds("poll_interval", poll_interval, zero_ok=False)
        self.wait_timeout = validate_seconds("wait_timeout", wait_timeout, zero_ok=True)
        self.retry = retry
        self.request_timeout = request_timeout
        self.metadata = metadata

    # -- what subclasses say -------------------------------------------------------------------
    def build_request(self, parent: str) -> Any:
        """The request (a proto-plus message) for ``parent``, its fields validated: no call is made."""
        raise NotImplementedError

    def start(self, request: Any) -> operations_pb2.Operation:
        """Start the operation of ``request`` with the hook's typed method."""
        raise NotImplementedError

    def _call_options(self) -> dict[str, Any]:
        return {"retry": self.retry, "timeout": self.request_timeout, "metadata": self.metadata}

    # -- shared ---------------------------------------------------------------------------------
    @property
    def extra_links_params(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "location": self.location}

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render, then validate, so a bad templated value fails before any API call."""
        super().render_template_fields(context, jinja_env)
        validate_location(self.location)
        validate_impersonation_chain(self.impersonation_chain)

    def execute(self, context: Any) -> Any:
        name = self._resume_or_start(context)
        context["ti"].xcom_push(key="operation_name", value=name)
        ContactCenterInsightsLink.persist(context=context, project_id=self._project_id())
        if not self.wait_for_completion:
            return name
        return self.wait(context, name, self.poll_interval, self.wait_timeout, self.deferrable)

    def _project_id(self) -> str:
        project = self.project_id or self.hook.project_id
        if not project:
            raise ValueError(
                f"Invalid project_id {self.project_id!r}: set project_id on {self.task_id} or the 'project' "
                f"extra of connection {self.gcp_conn_id!r}."
            )
        return str(project)

    def _parent(self) -> str:
        return f"projects/{self._project_id()}/locations/{self.location}"

    def _resume_or_start(self, context: Any) -> str:
        """The operation of an earlier try if it is still running or succeeded; else a new one.

        Airflow 3.3+ keeps the name in ``task_state_store``. Before 3.3 a retry looks for it: the newest
        operation under the parent with the same request, started since the DAG run began (``adoptable``).
        """
        parent = self._parent()
        request = self.build_request(parent)
        previous = task_state(context, STATE_KEY)
        if previous is None and not has_task_state(context) and _try_number(context) > 1:
            previous = self._earlier_try_operation(context, parent, request)
        if isinstance(previous, str):
            outcome = self.hook.poll(previous)
            if outcome.status in (Status.RUNNING, Status.SUCCEEDED):
                self.log.info("Resuming operation %s started by an earlier try (%s).", previous, outcome.status)
                return previous
            self.log.warning("Operation %s of an earlier try ended %s: %s; starting a new one.",
                             previous, outcome.status, outcome.error_message)
        operation = self.start(request)
        self.log.info("%s started operation %s", type(self).__name__, operation.name)
        set_task_state(context, STATE_KEY, operation.name)
        return str(operation.name)

    def _earlier_try_operation(self, context: Any, parent: str, request: Any) -> str | None:
        since = getattr(context.get("dag_run"), "start_date", None)
        found = adoptable(self.hook.list_operations(parent), request, since)
        if found is not None:
            self.log.info("Found operation %s with this task's request, started by an earlier try.", found)
        return found


def _try_number(context: Any) -> int:
    return int(getattr(context.get("ti"), "try_number", 1) or 1)


def _field(request: Any, name: str) -> Any:
    """A field of a proto-plus request if it was set (None if not), to pass on to a typed hook method."""
    return getattr(request, name) if name in request else None


def _message(message_type: Any, value: Any, arg: str) -> Any:
    """A proto-plus message from a dict (or the message itself); unknown fields name the argument."""
    if isinstance(value, message_type):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"Invalid {arg} {value!r}: expected a dict or {message_type.__name__}.")
    try:
        return message_type(value)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"Invalid {arg} {value!r}: not a {message_type.__name__}: {exc}") from None


class _IssueModelOperator(ContactCenterInsightsStartOperationOperator):
    """Operators on one existing issue model, named by id or by full resource name."""

    request_type: type[Any]

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "issue_model_id")
    operator_extra_links = (ContactCenterInsightsLink(), ContactCenterInsightsIssueModelLink())

    def __init__(self, *, issue_model_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.issue_model_id = issue_model_id

    def _model_name(self, parent: str) -> str:
        return child_name(parent, "issueModels", self.issue_model_id, "issue_model_id")

    def build_request(self, parent: str) -> Any:
        return self.request_type(name=self._model_name(parent))

    def execute(self, context: Any) -> Any:
        ContactCenterInsightsIssueModelLink.persist(
            context=context, project_id=self._project_id(), location=self.location,
            issue_model_id=self._model_name(self._parent()).rsplit("/", 1)[-1],
        )
        return super().execute(context)


class ContactCenterInsightsCreateIssueModelOperator(ContactCenterInsightsStartOperationOperator):
    """Create (train) an issue model. Returns the ``IssueModel`` with its training stats.

    :param issue_model: the model to create, e.g. ``{"display_name": "weekly", "input_data_config":
        {"filter": 'start_time > "2026-01-01T00:00:00Z"'}}`` (templated).
    """

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "issue_model")
    template_fields_renderers = {"issue_model": "json"}
    operator_extra_links = (ContactCenterInsightsLink(), ContactCenterInsightsIssueModelLink())

    def __init__(self, *, issue_model: dict[str, Any] | types.IssueModel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.issue_model = issue_model

    def build_request(self, parent: str) -> Any:
        return types.CreateIssueModelRequest(
            parent=parent, issue_model=_message(types.IssueModel, self.issue_model, "issue_model")
        )

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.create_issue_model(request.parent, request.issue_model, **self._call_options())

    def finish(self, context: Any, outcome: Any) -> Any:
        response = super().finish(context, outcome)
        ContactCenterInsightsIssueModelLink.persist(
            context=context, project_id=self._project_id(), location=self.location,
            issue_model_id=str(response.get("name", "")).rsplit("/", 1)[-1],
        )
        return response


class ContactCenterInsightsDeployIssueModelOperator(_IssueModelOperator):
    """Deploy an issue model so that analyses label conversations with its issues."""

    request_type = types.DeployIssueModelRequest

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.deploy_issue_model(request.name, **self._call_options())


class ContactCenterInsightsUndeployIssueModelOperator(_IssueModelOperator):
    """Undeploy an issue model."""

    request_type = types.UndeployIssueModelRequest

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.undeploy_issue_model(request.name, **self._call_options())


class ContactCenterInsightsDeleteIssueModelOperator(_IssueModelOperator):
    """Delete an (undeployed) issue model. The response is ``google.protobuf.Empty``."""

    request_type = types.DeleteIssueModelRequest

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.delete_issue_model(request.name, **self._call_options())


class ContactCenterInsightsBulkAnalyzeConversationsOperator(ContactCenterInsightsStartOperationOperator):
    """Analyze the conversations a filter selects.

    :param filter: the conversations to analyze, e.g. ``create_time > "{{ data_interval_start }}"`` (templated).
    :param analysis_percentage: percentage of the selected conversations to analyze, in (0, 100].
    :param annotator_selector: which annotators to run (``AnnotatorSelector`` as a dict).
    """

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "filter")

    def __init__(
        self, *, filter: str, analysis_percentage: float = 100.0,
        annotator_selector: dict[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filter = filter
        self.analysis_percentage = analysis_percentage
        self.annotator_selector = annotator_selector

    def build_request(self, parent: str) -> Any:
        if not isinstance(self.filter, str) or not self.filter.strip():
            raise ValueError(f"Invalid filter {self.filter!r}: expected a non-empty conversation filter.")
        pct = self.analysis_percentage
        if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 < pct <= 100:
            raise ValueError(f"Invalid analysis_percentage {pct!r}: expected a number in (0, 100].")
        request = types.BulkAnalyzeConversationsRequest(parent=parent, filter=self.filter, analysis_percentage=pct)
        if self.annotator_selector is not None:
            selector = _message(types.AnnotatorSelector, self.annotator_selector, "annotator_selector")
            request.annotator_selector = selector
        return request

    def start(self, request: Any) -> operations_pb2.Operation:
        selector = request.annotator_selector if "annotator_selector" in request else None
        return self.hook.bulk_analyze_conversations(
            request.parent, request.filter, request.analysis_percentage, selector, **self._call_options()
        )


class ContactCenterInsightsIngestConversationsOperator(ContactCenterInsightsStartOperationOperator):
    """Import conversations from Cloud Storage.

    :param gcs_source: ``{"bucket_uri": "gs://bucket/prefix"}`` (templated).
    :param transcript_object_config: e.g. ``{"medium": "CHAT"}``.
    :param conversation_config: ``IngestConversationsRequest.ConversationConfig`` as a dict.
    :param sample_size: import at most this many conversations.
    """

    template_fields: Sequence[str] = (*ContactCenterInsightsStartOperationOperator.template_fields, "gcs_source")

    def __init__(
        self, *, gcs_source: dict[str, Any], transcript_object_config: dict[str, Any] | None = None,
        conversation_config: dict[str, Any] | None = None, sample_size: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gcs_source = gcs_source
        self.transcript_object_config = transcript_object_config
        self.conversation_config = conversation_config
        self.sample_size = sample_size

    def build_request(self, parent: str) -> Any:
        request_type = types.IngestConversationsRequest
        source = _message(request_type.GcsSource, self.gcs_source, "gcs_source")
        if not source.bucket_uri.startswith("gs://"):
            raise ValueError(f"Invalid gcs_source {self.gcs_source!r}: expected a bucket_uri gs://BUCKET[/PREFIX].")
        request = request_type(parent=parent, gcs_source=source)
        if self.transcript_object_config is not None:
            request.transcript_object_config = _message(
                request_type.TranscriptObjectConfig, self.transcript_object_config, "transcript_object_config")
        if self.conversation_config is not None:
            request.conversation_config = _message(
                request_type.ConversationConfig, self.conversation_config, "conversation_config")
        if self.sample_size is not None:
            request.sample_size = self.sample_size
        return request

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.ingest_conversations(
            request.parent, request.gcs_source, _field(request, "transcript_object_config"),
            _field(request, "conversation_config"), _field(request, "sample_size"), **self._call_options()
        )


class ContactCenterInsightsExportInsightsDataOperator(ContactCenterInsightsStartOperationOperator):
    """Export insights data to BigQuery.

    :param big_query_destination: ``{"project_id": ..., "dataset": ..., "table": ...}`` (templated).
    :param filter: the conversations to export (templated).
    :param write_disposition: ``WRITE_TRUNCATE`` or ``WRITE_APPEND``.
    """

    template_fields: Sequence[str] = (
        *ContactCenterInsightsStartOperationOperator.template_fields, "big_query_destination", "filter",
    )

    def __init__(
        self, *, big_query_destination: dict[str, Any], filter: str = "", kms_key: str | None = None,
        write_disposition: str | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.big_query_destination = big_query_destination
        self.filter = filter
        self.kms_key = kms_key
        self.write_disposition = write_disposition

    def build_request(self, parent: str) -> Any:
        request_type = types.ExportInsightsDataRequest
        destination = _message(request_type.BigQueryDestination, self.big_query_destination, "big_query_destination")
        if not destination.dataset:
            raise ValueError(
                f"Invalid big_query_destination {self.big_query_destination!r}: expected at least a dataset."
            )
        request = request_type(parent=parent, big_query_destination=destination, filter=self.filter or "")
        if self.kms_key:
            request.kms_key = self.kms_key
        if self.write_disposition is not None:
            dispositions = request_type.WriteDisposition.__members__
            if self.write_disposition not in dispositions:
                raise ValueError(
                    f"Invalid write_disposition {self.write_disposition!r}: expected one of {list(dispositions)}."
                )
            request.write_disposition = dispositions[self.write_disposition]
        return request

    def start(self, request: Any) -> operations_pb2.Operation:
        return self.hook.export_insights_data(
            request.parent, request.big_query_destination, request.filter, request.kms_key or None,
            _field(request, "write_disposition"), **self._call_options()
        )
