"""The table of RPCs the emulator serves: gRPC method path, REST rule, request type, handler.

REST rules are read from the generated client's own transport (``_get_http_options``), so the
emulator answers exactly the paths and bodies the real client sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.cloud.contact_center_insights_v1 import types
from google.cloud.contact_center_insights_v1.services.contact_center_insights.transports import rest_base
from google.longrunning import operations_pb2
from google.protobuf.message import Message

INSIGHTS = "google.cloud.contactcenterinsights.v1.ContactCenterInsights"
OPERATIONS = "google.longrunning.Operations"


@dataclass(frozen=True)
class Rpc:
    """One RPC: its name, service, request type, backend handler and REST rule."""

    name: str
    service: str
    request_type: type[Message]
    handler: str
    http_method: str
    uri: str
    body: str | None
    pattern: re.Pattern[str]


def _template_to_regex(uri: str) -> re.Pattern[str]:
    """``/v1/{name=projects/*/locations/*}/operations`` -> a regex with a ``name`` group."""

    def variable(match: re.Match[str]) -> str:
        field_name, _, template = match.group(1).partition("=")
        segments = (template or "*").split("/")
        body = "/".join("[^/]+" if seg == "*" else re.escape(seg) for seg in segments)
        return f"(?P<{field_name.replace('.', '__')}>{body})"

    parts = re.split(r"(\{[^}]+\})", uri)
    regex = "".join(variable(re.match(r"\{([^}]+)\}", p)) if p.startswith("{") else re.escape(p)  # type: ignore[arg-type]
                    for p in parts)
    return re.compile(f"^{regex}$")


def _rpc(name: str, service: str, request_type: type[Message], handler: str) -> Rpc:
    base = getattr(rest_base._BaseContactCenterInsightsRestTransport, f"_Base{name}")
    option = base._get_http_options()[0]
    return Rpc(
        name=name, service=service, request_type=request_type, handler=handler,
        http_method=option["method"].upper(), uri=option["uri"], body=option.get("body"),
        pattern=_template_to_regex(option["uri"]),
    )


RPCS: tuple[Rpc, ...] = (
    _rpc("GetOperation", OPERATIONS, operations_pb2.GetOperationRequest, "get_operation"),
    _rpc("ListOperations", OPERATIONS, operations_pb2.ListOperationsRequest, "list_operations"),
    _rpc("CancelOperation", OPERATIONS, operations_pb2.CancelOperationRequest, "cancel_operation"),
    _rpc("CreateIssueModel", INSIGHTS, types.CreateIssueModelRequest.pb(), "create_issue_model"),
    _rpc("GetIssueModel", INSIGHTS, types.GetIssueModelRequest.pb(), "get_issue_model"),
    _rpc("ListIssueModels", INSIGHTS, types.ListIssueModelsRequest.pb(), "list_issue_models"),
    _rpc("DeployIssueModel", INSIGHTS, types.DeployIssueModelRequest.pb(), "deploy_issue_model"),
    _rpc("UndeployIssueModel", INSIGHTS, types.UndeployIssueModelRequest.pb(), "undeploy_issue_model"),
    _rpc("DeleteIssueModel", INSIGHTS, types.DeleteIssueModelRequest.pb(), "delete_issue_model"),
    # Moving issue models and feedback labels through Cloud Storage (emulator/transfer.py, emulator/feedback.py).
    _rpc("ExportIssueModel", INSIGHTS, types.ExportIssueModelRequest.pb(), "export_issue_model"),
    _rpc("ImportIssueModel", INSIGHTS, types.ImportIssueModelRequest.pb(), "import_issue_model"),
    _rpc("GetIssue", INSIGHTS, types.GetIssueRequest.pb(), "get_issue"),
    _rpc("ListIssues", INSIGHTS, types.ListIssuesRequest.pb(), "list_issues"),
    _rpc("BulkUploadFeedbackLabels", INSIGHTS, types.BulkUploadFeedbackLabelsRequest.pb(),
         "bulk_upload_feedback_labels"),
    _rpc("BulkDownloadFeedbackLabels", INSIGHTS, types.BulkDownloadFeedbackLabelsRequest.pb(),
         "bulk_download_feedback_labels"),
    _rpc("BulkAnalyzeConversations", INSIGHTS, types.BulkAnalyzeConversationsRequest.pb(),
         "bulk_analyze_conversations"),
    _rpc("IngestConversations", INSIGHTS, types.IngestConversationsRequest.pb(), "ingest_conversations"),
    _rpc("ExportInsightsData", INSIGHTS, types.ExportInsightsDataRequest.pb(), "export_insights_data"),
    # Conversations, location settings and the location-level operations.
    _rpc("CreateConversation", INSIGHTS, types.CreateConversationRequest.pb(), "create_conversation"),
    _rpc("UploadConversation", INSIGHTS, types.UploadConversationRequest.pb(), "upload_conversation"),
    _rpc("GetConversation", INSIGHTS, types.GetConversationRequest.pb(), "get_conversation"),
    _rpc("ListConversations", INSIGHTS, types.ListConversationsRequest.pb(), "list_conversations"),
    _rpc("UpdateConversation", INSIGHTS, types.UpdateConversationRequest.pb(), "update_conversation"),
    _rpc("DeleteConversation", INSIGHTS, types.DeleteConversationRequest.pb(), "delete_conversation"),
    _rpc("CreateAnalysis", INSIGHTS, types.CreateAnalysisRequest.pb(), "create_analysis"),
    _rpc("BulkDeleteConversations", INSIGHTS, types.BulkDeleteConversationsRequest.pb(), "bulk_delete_conversations"),
    _rpc("GetSettings", INSIGHTS, types.GetSettingsRequest.pb(), "get_settings"),
    _rpc("UpdateSettings", INSIGHTS, types.UpdateSettingsRequest.pb(), "update_settings"),
    _rpc("InitializeEncryptionSpec", INSIGHTS, types.InitializeEncryptionSpecRequest.pb(),
         "initialize_encryption_spec"),
    _rpc("QueryMetrics", INSIGHTS, types.QueryMetricsRequest.pb(), "query_metrics"),
    _rpc("TuneQaScorecardRevision", INSIGHTS, types.TuneQaScorecardRevisionRequest.pb(),
         "tune_qa_scorecard_revision"),
    # Phrase matchers (emulator/phrase_matchers.py).
    _rpc("CreatePhraseMatcher", INSIGHTS, types.CreatePhraseMatcherRequest.pb(), "create_phrase_matcher"),
    _rpc("GetPhraseMatcher", INSIGHTS, types.GetPhraseMatcherRequest.pb(), "get_phrase_matcher"),
    _rpc("ListPhraseMatchers", INSIGHTS, types.ListPhraseMatchersRequest.pb(), "list_phrase_matchers"),
    _rpc("UpdatePhraseMatcher", INSIGHTS, types.UpdatePhraseMatcherRequest.pb(), "update_phrase_matcher"),
    _rpc("DeletePhraseMatcher", INSIGHTS, types.DeletePhraseMatcherRequest.pb(), "delete_phrase_matcher"),
)

RPC_NAMES = frozenset(rpc.name for rpc in RPCS)
