"""Every operator x (wait, no wait, deferrable, failed operation, retry resumes), via dag.test()."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ccai_airflow.emulator import Emulator
from tests.helpers import AIRFLOW_KEEPS_TASK_STATE, run_dag, states, xcom

RPC = {
    "create": "CreateIssueModel", "deploy": "DeployIssueModel", "undeploy": "UndeployIssueModel",
    "delete": "DeleteIssueModel", "bulk_analyze": "BulkAnalyzeConversations", "ingest": "IngestConversations",
    "export": "ExportInsightsData",
    "upload_conversation": "UploadConversation", "create_analysis": "CreateAnalysis",
    "bulk_delete": "BulkDeleteConversations", "init_encryption_spec": "InitializeEncryptionSpec",
    "query_metrics": "QueryMetrics", "tune_qa_scorecard": "TuneQaScorecardRevision",
    "export_model": "ExportIssueModel", "import_model": "ImportIssueModel",
    "upload_labels": "BulkUploadFeedbackLabels", "download_labels": "BulkDownloadFeedbackLabels",
}
V1 = "google.cloud.contactcenterinsights.v1."
RESPONSE_TYPE = {
    "create": "google.cloud.contactcenterinsights.v1.IssueModel",
    "deploy": "google.cloud.contactcenterinsights.v1.DeployIssueModelResponse",
    "undeploy": "google.cloud.contactcenterinsights.v1.UndeployIssueModelResponse",
    "delete": "google.protobuf.Empty",
    "bulk_analyze": "google.cloud.contactcenterinsights.v1.BulkAnalyzeConversationsResponse",
    "ingest": "google.cloud.contactcenterinsights.v1.IngestConversationsResponse",
    "export": "google.cloud.contactcenterinsights.v1.ExportInsightsDataResponse",
    "upload_conversation": V1 + "Conversation", "create_analysis": V1 + "Analysis",
    "bulk_delete": V1 + "BulkDeleteConversationsResponse",
    "init_encryption_spec": V1 + "InitializeEncryptionSpecResponse",
    "query_metrics": V1 + "QueryMetricsResponse", "tune_qa_scorecard": V1 + "TuneQaScorecardRevisionResponse",
    "export_model": V1 + "ExportIssueModelResponse", "import_model": V1 + "ImportIssueModelResponse",
    "upload_labels": V1 + "BulkUploadFeedbackLabelsResponse",
    "download_labels": V1 + "BulkDownloadFeedbackLabelsResponse",
}
# The convenience XComs of the issue 14 operators, and a check of each value.
KEYS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "upload_conversation": {"conversation_name": lambda v: v.startswith(f"{PARENT}/conversations/c-20")},
    "create_analysis": {"analysis_name": lambda v: v.startswith(f"{PARENT}/conversations/") and "/analyses/" in v},
    "bulk_delete": {"partial_errors": lambda v: v == []},
    "init_encryption_spec": {"partial_errors": lambda v: v == []},
    "query_metrics": {"slices": lambda v: v[0]["total"]["conversationMeasure"]["conversationCount"] == 5},
    "tune_qa_scorecard": {"dataset_validation_results": lambda v: len(v) == 2,
                          "tuning_metrics": lambda v: [m["metrics"]["accuracy"] > 0 for m in v] == [True, True]},
}
# Its metadata shows nothing of the request (QueryMetricsMetadata is empty): before Airflow 3.3 a retry
# cannot find the earlier try's operation, and starts a second one. (CreateAnalysis's is found by its
# conversation and annotator selector, resume.echo_of.)
NO_REQUEST_ECHO = {"query_metrics"}
PARENT = "projects/test-project/locations/us-central1"
OPERATION_PREFIX = "projects/test-project/locations/us-central1/operations/"


def rendered_metadata(dag_run: object) -> dict[str, Any]:
    return xcom(dag_run, "operator", "operation")["metadata"]  # type: ignore[no-any-return]


def check_storage_xcoms(op: str, dag_run: Any, task_id: str, request: dict[str, Any]) -> None:
    """The convenience XComs of the operations whose response is empty (what they wrote, or imported)."""
    if op == "export_model":
        assert xcom(dag_run, task_id, "object_uri") == request["gcsDestination"]["objectUri"]
        assert xcom(dag_run, task_id, "object_uri").startswith("gs://models-bucket/20")
        assert xcom(dag_run, task_id, "issue_model_name") == request["name"]
    elif op == "download_labels":
        assert xcom(dag_run, task_id, "file_names") == [request["gcsDestination"]["objectUri"] + ".csv"]
        assert xcom(dag_run, task_id, "download_stats")["totalFilesWritten"] == 1
    elif op == "upload_labels":
        assert xcom(dag_run, task_id, "upload_stats")["successfulUploadCount"] == 2
    elif op == "import_model" and task_id == "operator":  # the operator finds it; a sensor does not
        imported = xcom(dag_run, task_id, "issue_model_name")
        assert imported.startswith(f"{PARENT}/issueModels/")


@pytest.mark.parametrize("op", sorted(RPC))
@pytest.mark.parametrize("case", ["wait", "deferrable", "retry"])
def test_operator_waits_and_returns_the_response(op: str, case: str, emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag(f"ccai_test_op_{op}_{case}")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    assert xcom(dag_run, "operator")["@type"] == f"type.googleapis.com/{RESPONSE_TYPE[op]}"
    assert xcom(dag_run, "operator", "operation_name").startswith(OPERATION_PREFIX)
    # The operator started exactly one operation, also when its first try lost the wait.
    resumable = AIRFLOW_KEEPS_TASK_STATE or op not in NO_REQUEST_ECHO or case != "retry"
    assert emulator_env.call_counts()[RPC[op]] == (1 if resumable else 2)
    if case == "retry":
        assert dag_run.get_task_instance("operator").try_number == 2
    metadata = rendered_metadata(dag_run)
    setup_value = xcom(dag_run, "setup")
    if setup_value and op != "query_metrics":  # the model or conversation name, or the cutoff, is echoed
        # (QueryMetricsMetadata is empty: its conversation count, checked below, shows the filter was rendered)
        assert setup_value in json.dumps(metadata)
    assert "{{" not in json.dumps(metadata)
    for key, check in KEYS.get(op, {}).items():
        assert check(xcom(dag_run, "operator", key)), (key, xcom(dag_run, "operator", key))
    check_storage_xcoms(op, dag_run, "operator", metadata.get("request", {}))
    if op == "bulk_delete":  # the 3 old conversations went, the 2 new ones stayed
        assert len(emulator_env.backend.conversations_under(PARENT)) == 2


@pytest.mark.parametrize("op", sorted(RPC))
def test_operator_without_waiting_returns_the_operation_name(op: str, emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag(f"ccai_test_op_{op}_no_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success", "wait": "success"}
    name = xcom(dag_run, "operator")
    assert name == xcom(dag_run, "operator", "operation_name")
    assert name.startswith(OPERATION_PREFIX)
    # The sensor pushes the response and the same convenience XComs the operator does when it waits.
    assert xcom(dag_run, "wait")["@type"] == f"type.googleapis.com/{RESPONSE_TYPE[op]}"
    for key, check in KEYS.get(op, {}).items():
        assert check(xcom(dag_run, "wait", key)), (key, xcom(dag_run, "wait", key))
    check_storage_xcoms(op, dag_run, "wait", xcom(dag_run, "wait", "operation")["metadata"].get("request", {}))


@pytest.mark.parametrize("op", sorted(RPC))
def test_operator_fails_on_a_failed_operation(
    op: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(f"ccai_test_op_{op}_failed")

    assert states(dag_run) == {"setup": "success", "operator": "failed"}
    output = capfd.readouterr()
    assert "ABORTED: operation aborted" in output.out + output.err
