"""Operator extra links, read back from a dag.test() run as the UI reads them.

In Airflow 3 the UI's call (``GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links``)
loads the serialized DAG and asks each serialized operator ``get_extra_links(ti, name)``, which reads
the URL the task stored in XCom; ``links`` below does exactly that. (A DAG file's own operator and
link, ``link.get_link(operator, ti_key=...)``, only run inside a task: that is what the task runner
calls when the task ends to store the URL.) ``make e2e`` makes the same call over HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.providers.google.cloud.links.bigquery import BigQueryTableLink

from ccai_airflow.emulator import Emulator
from ccai_airflow.links import ContactCenterInsightsOperationLink, link_url
from tests.conftest import DAGS_FOLDER
from tests.helpers import error_lines, run_dag, states, xcom

DAG_ID = "ccai_test_links"
CONSOLE = "Contact Center Insights"
OPERATION = "Contact Center Insights Operation (REST API)"
MODEL = "Contact Center Insights Issue Model (REST API)"
TABLE = "BigQuery Table"
PROJECT_URL = "https://console.cloud.google.com/contact-center/insights?project=test-project"
API = "https://contactcenterinsights.googleapis.com/v1/"
OPERATIONS = API + "projects/test-project/locations/us-central1/operations/"
MODELS = API + "projects/test-project/locations/us-central1/issueModels/"


def links(dag_run: Any, task_id: str) -> dict[str, str | None]:
    """The task's links as the REST API's links route builds them: name -> URL, None when there is none."""
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_run.dag_id)
    assert dag is not None, f"no serialized DAG {dag_run.dag_id}"
    task = dag.get_task(task_id)
    ti = dag_run.get_task_instance(task_id)
    return {name: task.get_extra_links(ti, name) or None for name in task.extra_links}


def test_every_link_reads_back_as_the_ui_shows_it(
    emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = run_dag(DAG_ID, DAGS_FOLDER / "ccai_test_link_dags.py")

    assert set(states(dag_run).values()) == {"success"}, states(dag_run)
    # Every link's key exists when the task runner reads it (at a deferral and at the end), the table link of an
    # export without a table too: Airflow logs a missing key as "[error] XCom not found".
    assert error_lines(capfd.readouterr()) == []
    model_id = xcom(dag_run, "create", "issue_model_name").rsplit("/", 1)[-1]
    operation_id = {task: xcom(dag_run, task, "operation_name").rsplit("/", 1)[-1]
                    for task in ("create", "deploy", "undeploy", "export", "export_no_table")}
    assert links(dag_run, "create") == {
        CONSOLE: PROJECT_URL, OPERATION: OPERATIONS + operation_id["create"], MODEL: MODELS + model_id}
    # The sensor links the operation it waited on, started elsewhere.
    assert links(dag_run, "wait") == {OPERATION: OPERATIONS + operation_id["create"]}
    for task in ("deploy", "undeploy"):
        assert links(dag_run, task) == {
            CONSOLE: PROJECT_URL, OPERATION: OPERATIONS + operation_id[task], MODEL: MODELS + model_id}
    assert links(dag_run, "export") == {
        CONSOLE: PROJECT_URL, OPERATION: OPERATIONS + operation_id["export"],
        # In the destination's project, not the operator's.
        TABLE: "https://console.cloud.google.com/bigquery?referrer=search&project=bq-project&d=insights"
               "&p=bq-project&page=table&t=daily",
    }
    # No table in the destination: no table to link.
    assert links(dag_run, "export_no_table") == {
        CONSOLE: PROJECT_URL, OPERATION: OPERATIONS + operation_id["export_no_table"], TABLE: None}


def test_link_values_are_percent_encoded_and_resource_names_kept() -> None:
    assert link_url(ContactCenterInsightsOperationLink, operation_name="projects/p/locations/l/operations/7") == (
        OPERATIONS.replace("test-project", "p").replace("us-central1", "l") + "7")
    assert link_url(BigQueryTableLink, project_id="p", dataset_id="d", table_id="daily export&x") == (
        "https://console.cloud.google.com/bigquery?referrer=search&project=p&d=d&p=p&page=table&t=daily%20export%26x")


@pytest.mark.parametrize("dag_id", [
    "ccai_test_sensor_poke", "ccai_test_sensor_reschedule", "ccai_test_sensor_deferrable",
    "ccai_test_create_wait", "ccai_test_create_deferrable",
])
def test_a_successful_run_logs_no_error_line(
    dag_id: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str]
) -> None:
    dags = DAGS_FOLDER / ("ccai_test_dags.py" if "sensor" in dag_id else "ccai_test_operator_dags.py")
    dag_run = run_dag(dag_id, dags)

    assert set(states(dag_run).values()) == {"success"}, states(dag_run)
    assert error_lines(capfd.readouterr()) == []
