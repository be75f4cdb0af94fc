"""The calls a pipeline makes besides waiting: start any long-running operation from its request message,
and the plain reads. Mixed into :class:`~ccai_airflow.hooks.ContactCenterInsightsHook`.

A start passes the request it is given to the client as ``request=``, as the generated client takes it:
the operator builds it once (its fields validated) and nothing takes it apart again. Starts keep the
client library's own retry (Google's policy for the API: a blind retry of a create could start a second
job) and return the raw ``Operation`` at once; waiting is separate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.api_core.gapic_v1.method import DEFAULT
from google.cloud.contact_center_insights_v1 import ContactCenterInsightsClient, types
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2

from ccai_airflow.core.names import parse_parent, validate_notification_settings
from ccai_airflow.hooks.clients import Endpoint

__all__ = ["START_METHODS", "InsightsCalls"]

Metadata = Sequence[tuple[str, str]]

# The client method that starts each long-running operation, by the type of its request.
START_METHODS: dict[type[Any], str] = {
    types.CreateIssueModelRequest: "create_issue_model",
    types.DeployIssueModelRequest: "deploy_issue_model",
    types.UndeployIssueModelRequest: "undeploy_issue_model",
    types.DeleteIssueModelRequest: "delete_issue_model",
    types.ExportIssueModelRequest: "export_issue_model",
    types.ImportIssueModelRequest: "import_issue_model",
    types.BulkUploadFeedbackLabelsRequest: "bulk_upload_feedback_labels",
    types.BulkDownloadFeedbackLabelsRequest: "bulk_download_feedback_labels",
    types.BulkAnalyzeConversationsRequest: "bulk_analyze_conversations",
    types.IngestConversationsRequest: "ingest_conversations",
    types.ExportInsightsDataRequest: "export_insights_data",
    types.UploadConversationRequest: "upload_conversation",
    types.CreateAnalysisRequest: "create_analysis",
    types.BulkDeleteConversationsRequest: "bulk_delete_conversations",
    types.InitializeEncryptionSpecRequest: "initialize_encryption_spec",
    types.QueryMetricsRequest: "query_metrics",
    types.TuneQaScorecardRevisionRequest: "tune_qa_scorecard_revision",
}


class InsightsCalls:
    """Methods over ``get_conn()``; each ends in ``retry, timeout, metadata`` as the client's do, and names an
    emulator nothing answers at (``Endpoint.naming_the_emulator``)."""

    endpoint: Endpoint

    def get_conn(self) -> ContactCenterInsightsClient:
        raise NotImplementedError

    def start_operation(
        self, request: Any, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> operations_pb2.Operation:
        """Start the long-running operation of ``request`` (a request message of ``START_METHODS``), e.g.
        ``types.CreateIssueModelRequest(parent=..., issue_model={...})``; returns the raw ``Operation``."""
        method = START_METHODS.get(type(request))
        if method is None:
            expected = ", ".join(sorted(t.__name__ for t in START_METHODS))
            raise TypeError(f"Invalid request {type(request).__name__}: expected one of {expected}.")
        with self.endpoint.naming_the_emulator():
            started = getattr(self.get_conn(), method)(request=request, retry=retry, timeout=timeout, metadata=metadata)
        return started.operation  # type: ignore[no-any-return]

    # -- plain reads -----------------------------------------------------------------------------
    def get_issue_model(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> types.IssueModel:
        with self.endpoint.naming_the_emulator():
            return self.get_conn().get_issue_model(name=name, retry=retry, timeout=timeout, metadata=metadata)

    def list_issue_models(
        self, parent: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> list[types.IssueModel]:
        with self.endpoint.naming_the_emulator():
            response = self.get_conn().list_issue_models(parent=parent, retry=retry, timeout=timeout, metadata=metadata)
        return list(response.issue_models)

    def get_issue(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> types.Issue:
        with self.endpoint.naming_the_emulator():
            return self.get_conn().get_issue(name=name, retry=retry, timeout=timeout, metadata=metadata)

    def list_issues(
        self, issue_model: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> list[types.Issue]:
        """Every issue of the model ``issue_model`` (ListIssues has no paging)."""
        with self.endpoint.naming_the_emulator():
            response = self.get_conn().list_issues(parent=issue_model, retry=retry, timeout=timeout, metadata=metadata)
        return list(response.issues)

    def get_conversation(
        self, name: str, view: str | int | None = None, retry: Any = DEFAULT, timeout: Any = DEFAULT,
        metadata: Metadata = (),
    ) -> types.Conversation:
        request = types.GetConversationRequest(name=name, **({} if view is None else {"view": view}))
        with self.endpoint.naming_the_emulator():
            return self.get_conn().get_conversation(request=request, retry=retry, timeout=timeout, metadata=metadata)

    def list_conversations(
        self, parent: str, filter: str = "", order_by: str | None = None, page_size: int | None = None,
        view: str | int | None = None, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> list[types.Conversation]:
        """Every conversation ``filter`` selects (all pages; the default view, BASIC, leaves out transcripts)."""
        fields = {"filter": filter or None, "order_by": order_by, "page_size": page_size, "view": view}
        request = types.ListConversationsRequest(parent=parent, **{k: v for k, v in fields.items() if v is not None})
        with self.endpoint.naming_the_emulator():
            pager = self.get_conn().list_conversations(request=request, retry=retry, timeout=timeout, metadata=metadata)
            return list(pager)

    def get_settings(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> types.Settings:
        """The location's settings; ``name`` is ``projects/{project}/locations/{location}/settings``."""
        with self.endpoint.naming_the_emulator():
            return self.get_conn().get_settings(name=name, retry=retry, timeout=timeout, metadata=metadata)

    def update_pubsub_notification_settings(
        self, parent: str, notifications: dict[str, str], retry: Any = DEFAULT, timeout: Any = DEFAULT,
        metadata: Metadata = (),
    ) -> types.Settings:
        """Set where the location's notifications go, ``{trigger: "projects/P/topics/T"}`` (``{}``: none), with
        UpdateSettings on ``pubsub_notification_settings`` alone; a bad trigger or topic is refused before the call.

        The map replaces the location's whole map (a field mask cannot name a map's key)."""
        settings = types.Settings(name=f"{parse_parent(parent)}/settings",
                                  pubsub_notification_settings=validate_notification_settings(notifications))
        with self.endpoint.naming_the_emulator():
            return self.get_conn().update_settings(
                settings=settings, update_mask=field_mask_pb2.FieldMask(paths=["pubsub_notification_settings"]),
                retry=retry, timeout=timeout, metadata=metadata)

