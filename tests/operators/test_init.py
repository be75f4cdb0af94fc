"""The package's public names (operators/__init__.py): each imports, each operator is one of the base's, and the
17 operators that start a long-running operation build the 17 requests the hook can start."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

import ccai_airflow.operators as package
from ccai_airflow.hooks.calls import START_METHODS
from ccai_airflow.operators import ContactCenterInsightsStartOperationOperator
from tests.conftest import PARENT

# The smallest valid arguments of each operator, by public name.
MINIMAL: dict[str, dict[str, Any]] = {
    "ContactCenterInsightsBulkAnalyzeConversationsOperator": {"filter": 'medium="CHAT"'},
    "ContactCenterInsightsBulkDeleteConversationsOperator": {"filter": 'medium="CHAT"'},
    "ContactCenterInsightsBulkDownloadFeedbackLabelsOperator": {
        "gcs_destination": {"object_uri": "gs://bucket/labels", "format": "CSV"}},
    "ContactCenterInsightsBulkUploadFeedbackLabelsOperator": {
        "gcs_source": {"object_uri": "gs://bucket/labels.csv", "format": "CSV"}},
    "ContactCenterInsightsCreateAnalysisOperator": {"conversation_id": "c-1"},
    "ContactCenterInsightsCreateIssueModelOperator": {"issue_model": {}},
    "ContactCenterInsightsDeleteIssueModelOperator": {"issue_model_id": "1"},
    "ContactCenterInsightsDeployIssueModelOperator": {"issue_model_id": "1"},
    "ContactCenterInsightsExportInsightsDataOperator": {"big_query_destination": {"dataset": "d"}},
    "ContactCenterInsightsExportIssueModelOperator": {"issue_model_id": "1", "object_uri": "gs://bucket/m.json"},
    "ContactCenterInsightsImportIssueModelOperator": {"object_uri": "gs://bucket/m.json"},
    "ContactCenterInsightsIngestConversationsOperator": {"gcs_source": {"bucket_uri": "gs://bucket"}},
    "ContactCenterInsightsInitializeEncryptionSpecOperator": {"kms_key": f"{PARENT}/keyRings/r/cryptoKeys/k"},
    "ContactCenterInsightsQueryMetricsOperator": {"filter": 'create_time >= "2026-01-01T00:00:00Z"'},
    "ContactCenterInsightsTuneQaScorecardRevisionOperator": {"qa_scorecard_id": "s", "revision_id": "r",
                                                             "filter": "x"},
    "ContactCenterInsightsUndeployIssueModelOperator": {"issue_model_id": "1"},
    "ContactCenterInsightsUploadConversationOperator": {"conversation": {}},
}
BASE = "ContactCenterInsightsStartOperationOperator"
# The modules whose operators the package re-exports (model_swap's IssueModelSwap is the deploy operator's base).
MODULES = ["base", "conversation_data", "conversations", "feedback_labels", "issue_models", "model_transfer",
           "settings"]


@pytest.mark.parametrize("name", package.__all__)
def test_every_public_name_imports_and_is_an_operator(name: str) -> None:
    exported = getattr(package, name)

    assert isinstance(exported, type) and exported.__name__ == name
    assert issubclass(exported, ContactCenterInsightsStartOperationOperator)


def test_the_public_names_are_the_base_and_the_17_operators_and_no_more() -> None:
    assert len(package.__all__) == len(set(package.__all__)) == 18
    assert set(package.__all__) == {BASE, *MINIMAL}


@pytest.mark.parametrize("module", MODULES)
def test_every_operator_a_module_exports_is_a_public_name(module: str) -> None:
    exported = importlib.import_module(f"ccai_airflow.operators.{module}").__all__

    assert exported and set(exported) <= set(package.__all__)


def test_the_17_operators_build_the_17_requests_the_hook_can_start() -> None:
    built = {name: type(getattr(package, name)(task_id="op", **kwargs).build_request(PARENT))
             for name, kwargs in MINIMAL.items()}

    assert set(built.values()) == set(START_METHODS)
    assert len(set(built.values())) == len(built) == 17  # one request type each, none shared
