"""The base of every operator: build the request, start one long-running operation (or resume an earlier
try's, ``resuming``), push its name, maybe wait."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.google.cloud.links.base import BaseGoogleLink
from airflow.providers.google.cloud.operators.cloud_base import GoogleCloudBaseOperator
from airflow.providers.google.common.hooks.base_google import PROVIDE_PROJECT_ID
from google.api_core.gapic_v1.method import DEFAULT
from google.longrunning import operations_pb2

from ccai_airflow import lineage
from ccai_airflow.compat import conf
from ccai_airflow.core.names import (
    child_name,
    validate_impersonation_chain,
    validate_location,
    validate_seconds,
    validate_subscription,
    validate_transport,
)
from ccai_airflow.core.xcom import DEFAULT_MAX_XCOM_BYTES
from ccai_airflow.exceptions import (
    ContactCenterInsightsOperationRetryableError,
)
from ccai_airflow.links import (
    ContactCenterInsightsIssueModelLink,
    ContactCenterInsightsLink,
    ContactCenterInsightsOperationLink,
)
from ccai_airflow.operators.outputs import OperatorOutputsMixin
from ccai_airflow.operators.resuming import resume_or_start
from ccai_airflow.waiting import OperationWaitMixin

__all__ = ["ContactCenterInsightsStartOperationOperator"]


class ContactCenterInsightsStartOperationOperator(OperatorOutputsMixin, OperationWaitMixin, GoogleCloudBaseOperator):
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
    :param notification_subscription: with ``deferrable``, a Pub/Sub subscription (``projects/P/subscriptions/S``)
        of the topic the location's notification for this operation goes to: a message ends the wait at once
        (``ccai_airflow.hooks.wakeups``: one listing of the location answers for every wait on it). Only the
        operations Insights notifies for take one.
    :param asset_events: on success, record an asset event for each resource the operation produced, through
        the task's alias ``task.asset_alias`` (docs/assets.md); False: none.
    """

    template_fields: Sequence[str] = ("project_id", "location", "gcp_conn_id", "impersonation_chain")
    operator_extra_links: tuple[BaseGoogleLink, ...] = (
        ContactCenterInsightsLink(), ContactCenterInsightsOperationLink(),
    )
    failure_error = ContactCenterInsightsOperationRetryableError
    notification_trigger: str | None = None  # the Pub/Sub notification Insights sends when the operation is done

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
        asset_events: bool = True,
        notification_subscription: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.notification_subscription = notified_subscription(type(self), notification_subscription)
        self.init_wait_options(cancel_on_kill, response_fields, max_xcom_bytes, asset_events)
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
        """Start the operation of ``request``, the message :meth:`build_request` built, passed on as is."""
        return self.hook.start_operation(request, **self._call_options())

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
        ContactCenterInsightsLink.persist(context=context, project_id=self._project_id())
        name = self._resume_or_start(context)
        self.push_operation_name(context, name)
        if not self.wait_for_completion:
            return name
        return self.wait(context, name, self.poll_interval, self.wait_timeout, self.deferrable)

    def push_operation_name(self, context: Any, name: str) -> None:
        """The operation this task stands for: its name (XCom ``operation_name``) and its link."""
        self._operation_name = name
        context["ti"].xcom_push(key="operation_name", value=name)
        ContactCenterInsightsOperationLink.persist(context=context, operation_name=name)

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
        """The operation of an earlier try if it is still running or succeeded; else a new one."""
        parent = self._parent()
        return resume_or_start(context, self.log, self.hook, parent, self.build_request(parent), self.start)


def notified_subscription(operator: type[Any], subscription: object) -> str | None:
    """The subscription of an operator whose operation Insights notifies for; refused, naming it, for any other."""
    if subscription is not None and operator.notification_trigger is None:
        raise ValueError(
            f"Invalid notification_subscription {subscription!r}: Insights sends no notification for the operation of "
            f"{operator.__name__} (it does for ExportInsightsData, IngestConversations, UploadConversation and "
            "CreateAnalysis).")
    return validate_subscription(subscription)


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
    operator_extra_links = (
        ContactCenterInsightsLink(), ContactCenterInsightsOperationLink(), ContactCenterInsightsIssueModelLink(),
    )

    def __init__(self, *, issue_model_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.issue_model_id = issue_model_id

    def _model_name(self, parent: str) -> str:
        return child_name(parent, "issueModels", self.issue_model_id, "issue_model_id")

    def build_request(self, parent: str) -> Any:
        return self.request_type(name=self._model_name(parent))

    def lineage_datasets(self) -> lineage.Datasets:
        """The model this operator changes (its deployment state) as the output."""
        return lineage.Datasets(outputs=(lineage.issue_model(self._model_name(self._parent())),))

    def execute(self, context: Any) -> Any:
        ContactCenterInsightsIssueModelLink.persist(
            context=context, project_id=self._project_id(), location=self.location,
            issue_model_id=self._model_name(self._parent()).rsplit("/", 1)[-1],
        )
        return super().execute(context)
