"""The base operator (base.py): what every operator does, run by Airflow (dag.test) against the emulator, and
the argument handling the operators share."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.emulator import Emulator
from ccai_airflow.operators import ContactCenterInsightsStartOperationOperator
from ccai_airflow.operators.base import _message
from tests.conftest import PARENT
from tests.helpers import run_dag, states, xcom

OPERATION_PREFIX = "projects/test-project/locations/us-central1/operations/"


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


def test_the_base_templates_where_the_operation_runs_and_as_whom() -> None:
    base = ContactCenterInsightsStartOperationOperator(
        task_id="base", project_id="{{ params.project }}", location="{{ params.location }}",
        gcp_conn_id="conn_{{ params.project }}", impersonation_chain=["{{ params.robot }}"],
    )

    base.render_template_fields({"params": {"project": "p-1", "location": "europe-west1",
                                            "robot": "robot@p-1.iam.gserviceaccount.com"}})

    assert base.template_fields == ("project_id", "location", "gcp_conn_id", "impersonation_chain")
    assert (base.project_id, base.location, base.gcp_conn_id) == ("p-1", "europe-west1", "conn_p-1")
    assert base.impersonation_chain == ["robot@p-1.iam.gserviceaccount.com"]


def test_a_rendered_impersonation_chain_is_validated_before_any_call(emulator_env: Emulator) -> None:
    base = ContactCenterInsightsStartOperationOperator(task_id="base", impersonation_chain="{{ 'robot' }}")

    with pytest.raises(ValueError, match=re.escape("Invalid impersonation_chain entry 'robot'")):
        base.render_template_fields({})
    assert emulator_env.call_counts() == {}


def test_the_base_alone_builds_no_request() -> None:
    with pytest.raises(NotImplementedError):
        ContactCenterInsightsStartOperationOperator(task_id="base").build_request(PARENT)


def test_a_message_argument_is_taken_as_given_and_a_dict_becomes_one() -> None:
    given = types.IssueModel(display_name="given")

    assert _message(types.IssueModel, given, "issue_model") is given
    built = _message(types.IssueModel, {"display_name": "built", "input_data_config": {"medium": "CHAT"}}, "x")
    assert isinstance(built, types.IssueModel)
    assert (built.display_name, built.input_data_config.medium) == ("built", types.Conversation.Medium.CHAT)


@pytest.mark.parametrize(("value", "shown"), [
    ("display_name=m", "Invalid issue_model 'display_name=m': expected a dict or IssueModel."),
    (["display_name", "m"], "Invalid issue_model ['display_name', 'm']: expected a dict or IssueModel."),
    ({"display_name": 7}, "Invalid issue_model {'display_name': 7}: not a IssueModel"),
])
def test_a_bad_message_argument_is_named_with_its_value(value: Any, shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)):
        _message(types.IssueModel, value, "issue_model")
