"""The typed calls a pipeline makes besides waiting: one method per Insights method, over the hook's client.

Methods that start a long-running operation return the raw ``Operation`` at once, with the client
library's own retry (Google's policy for the API: a blind retry of a create could start a second
job); waiting is separate. Mixed into :class:`~ccai_airflow.hooks.ContactCenterInsightsHook`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from google.api_core.gapic_v1.method import DEFAULT
from google.cloud.contact_center_insights_v1 import ContactCenterInsightsClient, types
from google.longrunning import operations_pb2

__all__ = ["InsightsCalls"]

Metadata = Sequence[tuple[str, str]]


def _request(request_type: Any, **fields: Any) -> Any:
    """A request message from the fields given; a field left None is not set."""
    return request_type(**{name: value for name, value in fields.items() if value is not None})


class InsightsCalls:
    """Typed methods over ``get_conn()``; each ends in ``retry, timeout, metadata`` as the client's do."""

    def get_conn(self) -> ContactCenterInsightsClient:
        raise NotImplementedError

    # -- starting operations ---------------------------------------------------------------------
    def _start(
        self, method: Callable[..., Any], request: Any, retry: Any, timeout: Any, metadata: Metadata
    ) -> operations_pb2.Operation:
        return method(request=request, retry=retry, timeout=timeout, metadata=metadata).operation  # type: ignore[no-any-return]

    def create_issue_model(
        self, parent: str, issue_model: dict[str, Any] | types.IssueModel, retry: Any = DEFAULT,
        timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        """Start CreateIssueModel (training); the response is the ``IssueModel``."""
        request = types.CreateIssueModelRequest(parent=parent, issue_model=issue_model)
        return self._start(self.get_conn().create_issue_model, request, retry, timeout, metadata)

    def deploy_issue_model(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> operations_pb2.Operation:
        """Start DeployIssueModel. The API refuses it while another model of the location is deployed."""
        request = types.DeployIssueModelRequest(name=name)
        return self._start(self.get_conn().deploy_issue_model, request, retry, timeout, metadata)

    def undeploy_issue_model(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> operations_pb2.Operation:
        request = types.UndeployIssueModelRequest(name=name)
        return self._start(self.get_conn().undeploy_issue_model, request, retry, timeout, metadata)

    def delete_issue_model(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> operations_pb2.Operation:
        """Start DeleteIssueModel (of an undeployed model); the response is ``Empty``."""
        request = types.DeleteIssueModelRequest(name=name)
        return self._start(self.get_conn().delete_issue_model, request, retry, timeout, metadata)

    # -- moving issue models and feedback labels through Cloud Storage -------------------------
    def export_issue_model(
        self, name: str, object_uri: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> operations_pb2.Operation:
        """Start ExportIssueModel of model ``name`` to ``gs://bucket/object``; the response is empty."""
        request = types.ExportIssueModelRequest(name=name, gcs_destination={"object_uri": object_uri})
        return self._start(self.get_conn().export_issue_model, request, retry, timeout, metadata)

    def import_issue_model(
        self, parent: str, object_uri: str, create_new_model: bool = False, retry: Any = DEFAULT,
        timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        """Start ImportIssueModel from ``gs://bucket/object``; the response is empty (it names no model)."""
        request = types.ImportIssueModelRequest(
            parent=parent, gcs_source={"object_uri": object_uri}, create_new_model=create_new_model
        )
        return self._start(self.get_conn().import_issue_model, request, retry, timeout, metadata)

    def bulk_upload_feedback_labels(
        self, parent: str, gcs_source: dict[str, Any] | types.BulkUploadFeedbackLabelsRequest.GcsSource,
        validate_only: bool = False, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        """Start BulkUploadFeedbackLabels of ``gcs_source`` (``{"object_uri": ..., "format_": "CSV"|"JSON"}``)."""
        request = types.BulkUploadFeedbackLabelsRequest(
            parent=parent, gcs_source=gcs_source, validate_only=validate_only
        )
        return self._start(self.get_conn().bulk_upload_feedback_labels, request, retry, timeout, metadata)

    def bulk_download_feedback_labels(
        self, parent: str,
        gcs_destination: dict[str, Any] | types.BulkDownloadFeedbackLabelsRequest.GcsDestination,
        filter: str = "", max_download_count: int | None = None, feedback_label_type: str | int | None = None,
        conversation_filter: str = "", template_qa_scorecard_id: Sequence[str] = (), retry: Any = DEFAULT,
        timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        """Start BulkDownloadFeedbackLabels to ``gcs_destination``; the files written are in the metadata."""
        request = _request(
            types.BulkDownloadFeedbackLabelsRequest, parent=parent, gcs_destination=gcs_destination,
            filter=filter or None, max_download_count=max_download_count, feedback_label_type=feedback_label_type,
            conversation_filter=conversation_filter or None, template_qa_scorecard_id=list(template_qa_scorecard_id),
        )
        return self._start(self.get_conn().bulk_download_feedback_labels, request, retry, timeout, metadata)

    def get_issue(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> types.Issue:
        return self.get_conn().get_issue(name=name, retry=retry, timeout=timeout, metadata=metadata)

    def list_issues(
        self, issue_model: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> list[types.Issue]:
        """Every issue of the model ``issue_model`` (ListIssues has no paging)."""
        response = self.get_conn().list_issues(parent=issue_model, retry=retry, timeout=timeout, metadata=metadata)
        return list(response.issues)

    def bulk_analyze_conversations(
        self, parent: str, filter: str, analysis_percentage: float,
        annotator_selector: dict[str, Any] | types.AnnotatorSelector | None = None, retry: Any = DEFAULT,
        timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        request = _request(types.BulkAnalyzeConversationsRequest, parent=parent, filter=filter,
                           analysis_percentage=analysis_percentage, annotator_selector=annotator_selector)
        return self._start(self.get_conn().bulk_analyze_conversations, request, retry, timeout, metadata)

    def ingest_conversations(
        self, parent: str, gcs_source: dict[str, Any] | types.IngestConversationsRequest.GcsSource,
        transcript_object_config: Any = None, conversation_config: Any = None, sample_size: int | None = None,
        retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        request = _request(types.IngestConversationsRequest, parent=parent, gcs_source=gcs_source,
                           transcript_object_config=transcript_object_config,
                           conversation_config=conversation_config, sample_size=sample_size)
        return self._start(self.get_conn().ingest_conversations, request, retry, timeout, metadata)

    def export_insights_data(
        self, parent: str, big_query_destination: dict[str, Any] | types.ExportInsightsDataRequest.BigQueryDestination,
        filter: str = "", kms_key: str | None = None, write_disposition: str | int | None = None,
        retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        request = _request(types.ExportInsightsDataRequest, parent=parent,
                           big_query_destination=big_query_destination, filter=filter, kms_key=kms_key or None,
                           write_disposition=write_disposition)
        return self._start(self.get_conn().export_insights_data, request, retry, timeout, metadata)

    # Conversations and location-level operations (issue 14, first half).
    def upload_conversation(
        self, parent: str, conversation: dict[str, Any] | types.Conversation, conversation_id: str | None = None,
        redaction_config: Any = None, speech_config: Any = None, retry: Any = DEFAULT, timeout: Any = DEFAULT,
        metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        """Start UploadConversation; the response is the ``Conversation``."""
        request = _request(types.UploadConversationRequest, parent=parent, conversation=conversation,
                           conversation_id=conversation_id or None, redaction_config=redaction_config,
                           speech_config=speech_config)
        return self._start(self.get_conn().upload_conversation, request, retry, timeout, metadata)

    def create_analysis(
        self, conversation: str, analysis: dict[str, Any] | types.Analysis | None = None, retry: Any = DEFAULT,
        timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        """Start CreateAnalysis of one conversation (its full name); the response is the ``Analysis``."""
        request = types.CreateAnalysisRequest(parent=conversation, analysis=analysis or {})
        return self._start(self.get_conn().create_analysis, request, retry, timeout, metadata)

    def bulk_delete_conversations(
        self, parent: str, filter: str = "", max_delete_count: int | None = None, force: bool | None = None,
        retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        """Start BulkDeleteConversations; the response is an empty ``BulkDeleteConversationsResponse``."""
        request = _request(types.BulkDeleteConversationsRequest, parent=parent, filter=filter,
                           max_delete_count=max_delete_count, force=force)
        return self._start(self.get_conn().bulk_delete_conversations, request, retry, timeout, metadata)

    def initialize_encryption_spec(
        self, encryption_spec: dict[str, Any] | types.EncryptionSpec, retry: Any = DEFAULT, timeout: Any = DEFAULT,
        metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        """Start InitializeEncryptionSpec (CMEK of a location without resources yet)."""
        request = types.InitializeEncryptionSpecRequest(encryption_spec=encryption_spec)
        return self._start(self.get_conn().initialize_encryption_spec, request, retry, timeout, metadata)

    def query_metrics(
        self, location: str, filter: str, time_granularity: str | int | None = None,
        dimensions: Sequence[Any] | None = None, measure_mask: Any = None, retry: Any = DEFAULT,
        timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        """Start QueryMetrics, a **Preview** method Google enables per project; the response is
        ``QueryMetricsResponse``. ``location`` is ``projects/{project}/locations/{location}``."""
        request = _request(types.QueryMetricsRequest, location=location, filter=filter,
                           time_granularity=time_granularity, dimensions=dimensions, measure_mask=measure_mask)
        return self._start(self.get_conn().query_metrics, request, retry, timeout, metadata)

    def tune_qa_scorecard_revision(
        self, revision: str, filter: str, validate_only: bool | None = None, retry: Any = DEFAULT,
        timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> operations_pb2.Operation:
        """Start TuneQaScorecardRevision of a revision (its full name); the tuning results are in the metadata."""
        request = _request(types.TuneQaScorecardRevisionRequest, parent=revision, filter=filter,
                           validate_only=validate_only)
        return self._start(self.get_conn().tune_qa_scorecard_revision, request, retry, timeout, metadata)

    # -- plain calls -----------------------------------------------------------------------------
    def get_issue_model(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> types.IssueModel:
        return self.get_conn().get_issue_model(name=name, retry=retry, timeout=timeout, metadata=metadata)

    def list_issue_models(
        self, parent: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> list[types.IssueModel]:
        response = self.get_conn().list_issue_models(parent=parent, retry=retry, timeout=timeout, metadata=metadata)
        return list(response.issue_models)

    # Conversations and settings (issue 14, first half).
    def get_conversation(
        self, name: str, view: str | int | None = None, retry: Any = DEFAULT, timeout: Any = DEFAULT,
        metadata: Metadata = (),
    ) -> types.Conversation:
        request = _request(types.GetConversationRequest, name=name, view=view)
        return self.get_conn().get_conversation(request=request, retry=retry, timeout=timeout, metadata=metadata)

    def list_conversations(
        self, parent: str, filter: str = "", order_by: str | None = None, page_size: int | None = None,
        view: str | int | None = None, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = (),
    ) -> list[types.Conversation]:
        """Every conversation ``filter`` selects (all pages; the default view, BASIC, leaves out transcripts)."""
        request = _request(types.ListConversationsRequest, parent=parent, filter=filter or None,
                           order_by=order_by, page_size=page_size, view=view)
        pager = self.get_conn().list_conversations(request=request, retry=retry, timeout=timeout, metadata=metadata)
        return list(pager)

    def get_settings(
        self, name: str, retry: Any = DEFAULT, timeout: Any = DEFAULT, metadata: Metadata = ()
    ) -> types.Settings:
        """The location's settings; ``name`` is ``projects/{project}/locations/{location}/settings``."""
        return self.get_conn().get_settings(name=name, retry=retry, timeout=timeout, metadata=metadata)
