"""The sensor run by Airflow (dag.test) against the emulator, in every mode and transport."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ccai_airflow.emulator import Emulator
from tests.conftest import DAGS_FOLDER
from tests.helpers import all_xcoms, run_dag, states, xcom

# The asyncio paths through Airflow: CI runs them on its other Python too (make pytest-python).
pytestmark = pytest.mark.python_smoke

RESPONSE_TYPE_DAGS = DAGS_FOLDER / "ccai_test_response_type_dags.py"
V1 = "type.googleapis.com/google.cloud.contactcenterinsights.v1."


@pytest.mark.parametrize(
    "scenario", ["poke", "reschedule", "deferrable", "rest", "rest_deferrable", "adaptive_poke", "adaptive_deferrable"]
)
def test_sensor_pushes_the_decoded_issue_model(scenario: str, emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag(f"ccai_test_sensor_{scenario}")

    assert states(dag_run) == {"create_issue_model": "success", "wait": "success", "verify_xcom_contract": "success"}
    model = xcom(dag_run, "wait")
    assert model["@type"].endswith(".IssueModel")
    assert model["state"] == "UNDEPLOYED"
    assert xcom(dag_run, "wait", "issue_model_name") == model["name"]
    assert xcom(dag_run, "verify_xcom_contract") == model["name"]
    assert emulator_env.call_counts()["CreateIssueModel"] == 1


def test_transient_faults_do_not_fail_the_sensor(emulator_env: Emulator, airflow_db: str) -> None:
    emulator_env.inject_fault(rpc="GetOperation", code="UNAVAILABLE", rate=0.3)
    emulator_env.inject_fault(rpc="GetOperation", code="RESOURCE_EXHAUSTED", rate=0.2)

    dag_run = run_dag("ccai_test_sensor_poke")

    assert states(dag_run)["wait"] == "success"
    assert states(dag_run)["verify_xcom_contract"] == "success"


@pytest.mark.parametrize("scenario", ["poke", "deferrable", "rest"])
def test_failed_operation_fails_the_task(
    scenario: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    emulator_env.fail_next_operations(1, code="RESOURCE_EXHAUSTED", message="Training quota used up")

    dag_run = run_dag(f"ccai_test_sensor_{scenario}")

    assert states(dag_run)["wait"] == "failed"
    assert states(dag_run)["verify_xcom_contract"] == "upstream_failed"
    output = capfd.readouterr()
    text = output.out + output.err
    assert "RESOURCE_EXHAUSTED: Training quota used up" in text
    assert "projects/test-project/locations/us-central1/operations/" in text


@pytest.mark.parametrize("scenario", ["soft_fail_poke", "soft_fail_deferrable"])
def test_soft_fail_skips_on_failed_operation(scenario: str, emulator_env: Emulator, airflow_db: str) -> None:
    emulator_env.fail_next_operations(1, code="INTERNAL", message="boom")

    dag_run = run_dag(f"ccai_test_sensor_{scenario}")

    assert states(dag_run)["wait"] == "skipped"
    assert states(dag_run)["verify_xcom_contract"] == "skipped"


@pytest.mark.parametrize("scenario", ["missing_poke", "missing_reschedule", "missing_deferrable"])
def test_not_found_fails_within_one_poll(
    scenario: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(f"ccai_test_sensor_{scenario}")

    assert states(dag_run)["wait"] == "failed"
    assert emulator_env.call_counts()["GetOperation"] == 1
    output = capfd.readouterr()
    assert "NOT_FOUND" in output.out + output.err


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [("timeout_poke", "failed"), ("timeout_deferrable", "failed"), ("soft_fail_timeout_deferrable", "skipped")],
)
def test_timeout(scenario: str, expected: str, emulator_env: Emulator, airflow_db: str) -> None:
    emulator_env.set_operation_seconds(30)

    dag_run = run_dag(f"ccai_test_sensor_{scenario}")

    assert states(dag_run)["wait"] == expected
    assert emulator_env.call_counts()["GetOperation"] < 30


def test_transient_retries_in_a_poke_stop_at_the_sensor_timeout(emulator_env: Emulator, airflow_db: str) -> None:
    emulator_env.inject_fault(rpc="GetOperation", code="UNAVAILABLE")  # every call, until the timeout

    dag_run = run_dag("ccai_test_sensor_timeout_poke")  # timeout=1

    assert states(dag_run)["wait"] == "failed"
    # Retries bounded by the 1 s deadline, not two minutes of them (backoff 1, 2, 4 ... 32 s up to 120 s):
    # a generous bound on the span of the calls, far from both.
    calls = emulator_env.call_times("GetOperation")
    assert calls and calls[-1] - calls[0] < 30


@pytest.mark.parametrize(
    ("dag_id", "shown"),
    [("ccai_test_sensor_bad_template", "'projects/p/locations/l/operations/../x'"),
     ("ccai_test_sensor_native_non_string", "42 (int)")],
)
def test_bad_rendered_name_fails_before_any_call(
    dag_id: str, shown: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(dag_id)

    assert states(dag_run)["wait"] == "failed"
    assert emulator_env.call_counts() == {}
    output = capfd.readouterr()
    assert f"Invalid operation name {shown}" in output.out + output.err


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_a_response_of_another_type_than_expected_fails_naming_the_operation_and_both_types(
    mode: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(f"ccai_test_response_type_mismatch_{mode}", RESPONSE_TYPE_DAGS)

    assert states(dag_run) == {"start_export": "success", "wait": "failed"}
    output = capfd.readouterr()
    assert (f"Operation {xcom(dag_run, 'start_export')} succeeded, but its response is of @type "
            f"'{V1}ExportInsightsDataResponse', not the expected '{V1}IssueModel' (expected_response_type)"
            ) in output.out + output.err
    assert [key for task, key in all_xcoms(dag_run) if task == "wait" and not key.startswith("contact_center")] == []
    assert emulator_env.call_counts()["ExportInsightsData"] == 1


def test_a_response_of_another_type_than_expected_skips_with_soft_fail(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_response_type_mismatch_soft_fail_deferrable", RESPONSE_TYPE_DAGS)

    assert states(dag_run) == {"start_export": "success", "wait": "skipped"}


@pytest.mark.parametrize("mode", ["poke", "deferrable"])  # the bare message name and the type URL
def test_a_response_of_the_expected_type_is_pushed(
    mode: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(f"ccai_test_response_type_match_{mode}", RESPONSE_TYPE_DAGS)

    assert states(dag_run) == {"start_create": "success", "wait": "success"}
    assert xcom(dag_run, "wait")["@type"] == f"{V1}IssueModel"
    assert xcom(dag_run, "wait", "issue_model_name") == xcom(dag_run, "wait")["name"]
    output = capfd.readouterr()
    assert "No issue_model_name XCom" not in output.out + output.err


def test_the_sensor_says_once_at_info_why_no_issue_model_name_is_pushed(
    emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag("ccai_test_response_type_not_a_model", RESPONSE_TYPE_DAGS)

    assert states(dag_run) == {"start_export": "success", "wait": "success"}
    assert ("wait", "issue_model_name") not in all_xcoms(dag_run)
    output = capfd.readouterr()
    lines = [line for line in (output.out + output.err).splitlines() if "No issue_model_name XCom" in line]
    assert len(lines) == 1, lines
    assert "[info" in lines[0]
    assert (f"No issue_model_name XCom for operation {xcom(dag_run, 'start_export')}: its response is of @type "
            f"'{V1}ExportInsightsDataResponse', not an IssueModel") in lines[0]


def test_sensor_rejects_bad_arguments_at_construction() -> None:
    from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

    name = "projects/p/locations/l/operations/1"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"operation_name": "operations/1"}, "'operations/1'"),
        ({"operation_name": None}, "None"),
        ({"operation_name": name, "transport": "http"}, "'http'"),
        ({"operation_name": name, "poke_interval": 0}, "0"),
        ({"operation_name": name, "timeout": -5}, "-5"),
        ({"operation_name": name, "timeout": -0.5}, "-0.5"),
        ({"operation_name": name, "poke_interval": "soon"}, "'soon'"),
        ({"operation_name": name, "impersonation_chain": ["ok@p.iam.gserviceaccount.com", ""]}, "''"),
        ({"operation_name": name, "impersonation_chain": 7}, "7"),
        ({"operation_name": name, "expected_response_type": "IssueModel"}, "'IssueModel'"),
        ({"operation_name": name, "expected_response_type": 7}, "7"),
    ]
    for kwargs, shown in cases:
        with pytest.raises(ValueError, match=re.escape(shown)):
            ContactCenterInsightsOperationSensor(task_id="wait", **kwargs)


def test_provider_is_registered() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "ccai-airflow" in manager.providers
    ours = {info.trigger_class_name for info in manager.trigger if info.package_name == "ccai-airflow"}
    assert ours == {"ccai_airflow.triggers"}
    info = manager.providers["ccai-airflow"].data
    assert info["integrations"][0]["integration-name"] == "Google Cloud Contact Center Insights"
    assert info["sensors"][0]["python-modules"] == ["ccai_airflow.sensors"]
