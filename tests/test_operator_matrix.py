"""Every operator x (wait, no wait, deferrable, failed operation, retry resumes), via dag.test()."""

from __future__ import annotations

import pytest

from ccai_airflow.emulator import Emulator
from tests.helpers import run_dag, states, xcom

RPC = {
    "create": "CreateIssueModel", "deploy": "DeployIssueModel", "undeploy": "UndeployIssueModel",
    "delete": "DeleteIssueModel", "bulk_analyze": "BulkAnalyzeConversations", "ingest": "IngestConversations",
    "export": "ExportInsightsData",
}
RESPONSE_TYPE = {
    "create": "google.cloud.contactcenterinsights.v1.IssueModel",
    "deploy": "google.cloud.contactcenterinsights.v1.DeployIssueModelResponse",
    "undeploy": "google.cloud.contactcenterinsights.v1.UndeployIssueModelResponse",
    "delete": "google.protobuf.Empty",
    "bulk_analyze": "google.cloud.contactcenterinsights.v1.BulkAnalyzeConversationsResponse",
    "ingest": "google.cloud.contactcenterinsights.v1.IngestConversationsResponse",
    "export": "google.cloud.contactcenterinsights.v1.ExportInsightsDataResponse",
}
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
    setup_model = xcom(dag_run, "setup")
    if setup_model:
        assert request["name"] == setup_model
    assert "{{" not in str(request)


@pytest.mark.parametrize("op", sorted(RPC))
def test_operator_without_waiting_returns_the_operation_name(op: str, emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag(f"ccai_test_op_{op}_no_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    name = xcom(dag_run, "operator")
    assert name == xcom(dag_run, "operator", "operation_name")
    assert name.startswith(OPERATION_PREFIX)


@pytest.mark.parametrize("op", sorted(RPC))
def test_operator_fails_on_a_failed_operation(
    op: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(f"ccai_test_op_{op}_failed")

    assert states(dag_run) == {"setup": "success", "operator": "failed"}
    output = capfd.readouterr()
    assert "ABORTED: operation aborted" in output.out + output.err
