"""Every operator x (wait, no wait, deferrable, failed operation, retry resumes), via dag.test()."""

from __future__ import annotations

from typing import Any

import pytest

from ccai_airflow.emulator import Emulator
from tests.helpers import run_dag, states, xcom

RPC = {
    "create": "CreateIssueModel", "deploy": "DeployIssueModel", "undeploy": "UndeployIssueModel",
    "delete": "DeleteIssueModel", "bulk_analyze": "BulkAnalyzeConversations", "ingest": "IngestConversations",
    "export": "ExportInsightsData", "export_model": "ExportIssueModel", "import_model": "ImportIssueModel",
    "upload_labels": "BulkUploadFeedbackLabels", "download_labels": "BulkDownloadFeedbackLabels",
}
RESPONSE_TYPE = {
    "create": "google.cloud.contactcenterinsights.v1.IssueModel",
    "deploy": "google.cloud.contactcenterinsights.v1.DeployIssueModelResponse",
    "undeploy": "google.cloud.contactcenterinsights.v1.UndeployIssueModelResponse",
    "delete": "google.protobuf.Empty",
    "bulk_analyze": "google.cloud.contactcenterinsights.v1.BulkAnalyzeConversationsResponse",
    "ingest": "google.cloud.contactcenterinsights.v1.IngestConversationsResponse",
    "export": "google.cloud.contactcenterinsights.v1.ExportInsightsDataResponse",
    "export_model": "google.cloud.contactcenterinsights.v1.ExportIssueModelResponse",
    "import_model": "google.cloud.contactcenterinsights.v1.ImportIssueModelResponse",
    "upload_labels": "google.cloud.contactcenterinsights.v1.BulkUploadFeedbackLabelsResponse",
    "download_labels": "google.cloud.contactcenterinsights.v1.BulkDownloadFeedbackLabelsResponse",
}
PARENT = "projects/test-project/locations/us-central1"


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
OPERATION_PREFIX = "projects/test-project/locations/us-central1/operations/"


def rendered_request(dag_run: object) -> dict[str, object]:
    return xcom(dag_run, "operator", "operation")["metadata"]["request"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("op", sorted(RPC))
@pytest.mark.parametrize("case", ["wait", "deferrable", "retry"])
def test_operator_waits_and_returns_the_response(op: str, case: str, emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag(f"ccai_test_op_{op}_{case}")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    assert xcom(dag_run, "operator")["@type"] == f"type.googleapis.com/{RESPONSE_TYPE[op]}"
    assert xcom(dag_run, "operator", "operation_name").startswith(OPERATION_PREFIX)
    # The operator started exactly one operation, also when its first try lost the wait.
    assert emulator_env.call_counts()[RPC[op]] == 1
    if case == "retry":
        assert dag_run.get_task_instance("operator").try_number == 2
    request = rendered_request(dag_run)
    check_storage_xcoms(op, dag_run, "operator", request)
    setup_model = xcom(dag_run, "setup")
    if setup_model:
        assert request["name"] == setup_model
    assert "{{" not in str(request)


@pytest.mark.parametrize("op", sorted(RPC))
def test_operator_without_waiting_returns_the_operation_name(op: str, emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag(f"ccai_test_op_{op}_no_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success", "wait": "success"}
    name = xcom(dag_run, "operator")
    assert name == xcom(dag_run, "operator", "operation_name")
    assert name.startswith(OPERATION_PREFIX)
    # The sensor pushes the response and, from the metadata, the same convenience XComs.
    assert xcom(dag_run, "wait")["@type"] == f"type.googleapis.com/{RESPONSE_TYPE[op]}"
    check_storage_xcoms(op, dag_run, "wait", xcom(dag_run, "wait", "operation")["metadata"]["request"])


@pytest.mark.parametrize("op", sorted(RPC))
def test_operator_fails_on_a_failed_operation(
    op: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(f"ccai_test_op_{op}_failed")

    assert states(dag_run) == {"setup": "success", "operator": "failed"}
    output = capfd.readouterr()
    assert "ABORTED: operation aborted" in output.out + output.err
