"""Operators that start Contact Center Insights long-running operations, and optionally wait.

Every operator: pushes the operation name (XCom key ``operation_name``) as soon as the operation
exists; with ``wait_for_completion=True`` (default) waits with the sensor's machinery
(``deferrable`` included) and returns the decoded response under the same XCom contract; with
``False`` returns the operation name so that a separate sensor can wait.

A task retry after the worker died mid-wait does not start a second operation: the name is kept
in Airflow's ``task_state_store`` (per task instance, across tries) and a retry resumes waiting on
it while it is running or succeeded. If it failed, the retry starts a new one.
"""
from ccai_airflow.operators.base import ContactCenterInsightsStartOperationOperator
from ccai_airflow.operators.conversation_data import (
    ContactCenterInsightsBulkDeleteConversationsOperator,
    ContactCenterInsightsCreateAnalysisOperator,
    ContactCenterInsightsUploadConversationOperator,
)
from ccai_airflow.operators.conversations import (
    ContactCenterInsightsBulkAnalyzeConversationsOperator,
    ContactCenterInsightsExportInsightsDataOperator,
    ContactCenterInsightsIngestConversationsOperator,
)
from ccai_airflow.operators.feedback_labels import (
    ContactCenterInsightsBulkDownloadFeedbackLabelsOperator,
    ContactCenterInsightsBulkUploadFeedbackLabelsOperator,
)
from ccai_airflow.operators.issue_models import (
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsDeleteIssueModelOperator,
    ContactCenterInsightsDeployIssueModelOperator,
    ContactCenterInsightsUndeployIssueModelOperator,
)
from ccai_airflow.operators.model_transfer import (
    ContactCenterInsightsExportIssueModelOperator,
    ContactCenterInsightsImportIssueModelOperator,
)
from ccai_airflow.operators.settings import (
    ContactCenterInsightsInitializeEncryptionSpecOperator,
    ContactCenterInsightsQueryMetricsOperator,
    ContactCenterInsightsTuneQaScorecardRevisionOperator,
)

__all__ = [
    "ContactCenterInsightsBulkAnalyzeConversationsOperator",
    "ContactCenterInsightsBulkDeleteConversationsOperator",
    "ContactCenterInsightsBulkDownloadFeedbackLabelsOperator",
    "ContactCenterInsightsBulkUploadFeedbackLabelsOperator",
    "ContactCenterInsightsCreateAnalysisOperator",
    "ContactCenterInsightsCreateIssueModelOperator",
    "ContactCenterInsightsDeleteIssueModelOperator",
    "ContactCenterInsightsDeployIssueModelOperator",
    "ContactCenterInsightsExportInsightsDataOperator",
    "ContactCenterInsightsExportIssueModelOperator",
    "ContactCenterInsightsImportIssueModelOperator",
    "ContactCenterInsightsIngestConversationsOperator",
    "ContactCenterInsightsInitializeEncryptionSpecOperator",
    "ContactCenterInsightsQueryMetricsOperator",
    "ContactCenterInsightsStartOperationOperator",
    "ContactCenterInsightsTuneQaScorecardRevisionOperator",
    "ContactCenterInsightsUndeployIssueModelOperator",
    "ContactCenterInsightsUploadConversationOperator",
]
