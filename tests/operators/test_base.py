"""The operators run by Airflow (dag.test) against the emulator."""

from __future__ import annotations

import json

import pytest

from ccai_airflow.emulator import Emulator
from tests.helpers import run_dag, states, xcom

OPERATION_PREFIX = "projects/test-project/locations/us-central1/operations/"


@pytest.mark.parametrize("suffix", ["wait", "deferrable", "rest"])
def test_create_waits_and_pushes_the_model(suffix: str, emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag(f"ccai_test_create_{suffix}")

    assert states(dag_run) == {"create": "success", "check_model": "success"}
    assert emulator_env.call_counts()["CreateIssueModel"] == 1
    model = xcom(dag_run, "create")
    assert model["state"] == "UNDEPLOYED"
    assert xcom(dag_run, "create", "issue_model_name") == model["name"]
    assert xcom(dag_run, "create", "training_stats") == model["trainingStats"]
    assert xcom(dag_run, "create", "operation_name").startswith(OPERATION_PREFIX)
    # The templated issue_model was rendered before the request was sent.
    request = xcom(dag_run, "create", "operation")["metadata"]["request"]["issueModel"]
    assert request["displayName"] == f"topics {dag_run.logical_date.strftime('%Y-%m-%d')}"
    assert request["inputDataConfig"]["filter"].startswith('start_time >= "20')


def test_no_wait_returns_the_name_for_a_sensor(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_create_no_wait")

    assert set(states(dag_run).values()) == {"success"}
    name = xcom(dag_run, "create")
    assert name == xcom(dag_run, "create", "operation_name")
    assert name.startswith(OPERATION_PREFIX)
    assert xcom(dag_run, "deploy")["@type"].endswith(".DeployIssueModelResponse")
    assert emulator_env.call_counts()["DeployIssueModel"] == 1


def test_retry_resumes_the_first_tries_operation(emulator_env: Emulator, airflow_db: str) -> None:
    # The first try's only poll is refused (as if its worker had died while waiting).
    emulator_env.inject_fault(rpc="GetOperation", code="PERMISSION_DENIED", count=1)

    dag_run = run_dag("ccai_test_create_retry")

    assert states(dag_run) == {"create": "success", "check_model": "success"}
    assert dag_run.get_task_instance("create").try_number == 2
    assert emulator_env.call_counts()["CreateIssueModel"] == 1


def test_retry_after_a_failed_operation_starts_a_new_one(emulator_env: Emulator, airflow_db: str) -> None:
    emulator_env.fail_next_operations(1, code="INTERNAL", message="training crashed")

    dag_run = run_dag("ccai_test_create_retry_after_failure")

    assert states(dag_run) == {"create": "success"}
    assert emulator_env.call_counts()["CreateIssueModel"] == 2


def test_failed_operation_fails_the_task(
    emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    emulator_env.fail_next_operations(1, code="FAILED_PRECONDITION", message="fewer than 10000 conversations")

    dag_run = run_dag("ccai_test_create_wait")

    assert states(dag_run) == {"create": "failed", "check_model": "upstream_failed"}
    output = capfd.readouterr()
    assert "FAILED_PRECONDITION: fewer than 10000 conversations" in output.out + output.err


def test_every_issue_model_operator(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_issue_model_lifecycle")

    assert set(states(dag_run).values()) == {"success"}
    counts = emulator_env.call_counts()
    assert [counts[rpc] for rpc in ("CreateIssueModel", "DeployIssueModel", "UndeployIssueModel",
                                    "DeleteIssueModel")] == [1, 1, 1, 1]
    assert xcom(dag_run, "undeploy")["@type"].endswith(".UndeployIssueModelResponse")
    assert xcom(dag_run, "delete") == {"@type": "type.googleapis.com/google.protobuf.Empty"}


def test_conversation_operators(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_conversations")

    assert set(states(dag_run).values()) == {"success"}
    analysis = xcom(dag_run, "analyze")
    assert analysis["@type"].endswith(".BulkAnalyzeConversationsResponse")
    assert int(analysis["successfulAnalysisCount"]) > 0
    ingest_request = xcom(dag_run, "ingest", "operation")["metadata"]["request"]
    assert ingest_request["gcsSource"]["bucketUri"] == f"gs://calls/{dag_run.logical_date.strftime('%Y-%m-%d')}/"
    export_request = xcom(dag_run, "export", "operation")["metadata"]["request"]
    assert export_request["bigQueryDestination"]["table"] == f"t_{dag_run.logical_date.strftime('%Y%m%d')}"
    assert export_request["writeDisposition"] == "WRITE_APPEND"


def test_project_defaults_from_the_connection(
    emulator_env: Emulator, airflow_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = {"conn_type": "google_cloud_platform", "extra": {"project": "conn-project"}}
    monkeypatch.setenv("AIRFLOW_CONN_CCAI_TEST_CONN", json.dumps(connection))

    dag_run = run_dag("ccai_test_create_project_from_connection")

    assert states(dag_run) == {"create": "success"}
    assert xcom(dag_run, "create", "operation_name").startswith("projects/conn-project/locations/us-central1/")


@pytest.mark.parametrize(
    ("dag_id", "shown"),
    [("ccai_test_create_bad_location", "Invalid location 'us central'"),
     ("ccai_test_create_bad_issue_model", "no_such_field")],
)
def test_bad_input_fails_before_any_call(
    dag_id: str, shown: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(dag_id)

    assert states(dag_run) == {"create": "failed"}
    assert emulator_env.call_counts() == {}
    output = capfd.readouterr()
    assert shown in output.out + output.err
