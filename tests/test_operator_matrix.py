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
# Their metadata does not echo the request (CreateAnalysisOperationMetadata, QueryMetricsMetadata): before
# Airflow 3.3 a retry cannot find the earlier try's operation, and starts a second one.
NO_REQUEST_ECHO = {"create_analysis", "query_metrics"}
PARENT = "projects/test-project/locations/us-central1"
OPERATION_PREFIX = "projects/test-project/locations/us-central1/operations/"


def rendered_metadata(dag_run: object) -> dict[str, Any]:
    return xcom(dag_run, "operator", "operation")["metadata"]  # type: ignore[no-any-return]


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
    if op == "bulk_delete":  # the 3 old conversations went, the 2 new ones stayed
        assert len(emulator_env.backend.conversations_under(PARENT)) == 2


@pytest.mark.parametrize("op", sorted(RPC))
def test_operator_without_waiting_returns_the_operation_name(op: str, emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag(f"ccai_test_op_{op}_no_wait")

    expected = {"setup": "success", "operator": "success"}
    assert states(dag_run) == (expected | {"wait": "success"} if op in KEYS else expected)
    name = xcom(dag_run, "operator")
    assert name == xcom(dag_run, "operator", "operation_name")
    assert name.startswith(OPERATION_PREFIX)
    if op in KEYS:  # the sensor pushes the same XComs the operator does when it waits
        assert xcom(dag_run, "wait")["@type"] == f"type.googleapis.com/{RESPONSE_TYPE[op]}"
        for key, check in KEYS[op].items():
            assert check(xcom(dag_run, "wait", key)), (key, xcom(dag_run, "wait", key))


@pytest.mark.parametrize("op", sorted(RPC))
def test_operator_fails_on_a_failed_operation(
    op: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(f"ccai_test_op_{op}_failed")

    assert states(dag_run) == {"setup": "success", "operator": "failed"}
    output = capfd.readouterr()
    assert "ABORTED: operation aborted" in output.out + output.err
