"""DAGs of tests/test_reliability.py, run with dag.test() against the emulator.

* ``ccai_test_reliability_permanent_{mode}``: create an issue model, then wait for it with the sensor in
  one mode. The test makes every GetOperation fail with a permanent code before running the DAG. The
  sensor has ``retries=2``: a permanent error must fail it at once and for good, so any retry shows
  up in the emulator's call count.
* ``ccai_test_reliability_secret_conn``: every task uses a connection that holds a (fake) service
  account key; the test checks that the key appears nowhere.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, task
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import ContactCenterInsightsCreateIssueModelOperator
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

PARENT = "projects/test-project/locations/us-central1"
SECRET_CONN_ID = "ccai_secret_conn"
START = pendulum.datetime(2026, 1, 1, tz="UTC")

PERMANENT_MODES: dict[str, dict[str, Any]] = {
    "poke": {"mode": "poke"},
    "reschedule": {"mode": "reschedule"},
    "deferrable": {"deferrable": True},
    "rest_poke": {"mode": "poke", "transport": "rest"},
}


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, tags=["ccai-test"])


@task
def create_issue_model(transport: str = "grpc") -> str:
    """Start CreateIssueModel (not faulted by the tests) and return the operation name."""
    model = {"display_name": f"reliability-{transport}", "input_data_config": {"filter": 'medium="CHAT"'}}
    request = types.CreateIssueModelRequest(parent=PARENT, issue_model=model)
    operation = ContactCenterInsightsHook(transport=transport).start_operation(request)
    return str(operation.name)


for _mode, _kwargs in PERMANENT_MODES.items():
    with _dag(f"ccai_test_reliability_permanent_{_mode}"):
        _wait = ContactCenterInsightsOperationSensor(
            task_id="wait",
            operation_name="{{ ti.xcom_pull(task_ids='create_issue_model') }}",
            poke_interval=0.2,
            timeout=60,
            retries=2,
            retry_delay=timedelta(seconds=0),
            **_kwargs,
        )
        create_issue_model(transport=_kwargs.get("transport", "grpc")) >> _wait


with _dag("ccai_test_reliability_secret_conn"):
    # project_id is not given: the operators must read it from the connection's "project" extra.
    _create = ContactCenterInsightsCreateIssueModelOperator(
        task_id="create_issue_model",
        gcp_conn_id=SECRET_CONN_ID,
        issue_model={"display_name": "secret-conn-topics"},
        wait_for_completion=False,
    )
    _wait = ContactCenterInsightsOperationSensor(
        task_id="wait",
        gcp_conn_id=SECRET_CONN_ID,
        operation_name="{{ ti.xcom_pull(task_ids='create_issue_model', key='operation_name') }}",
        deferrable=True,
        poke_interval=0.2,
        timeout=60,
    )
    # After the sensor, so that each finds its operation still running and defers; it runs even when
    # the sensor failed.
    _create_and_wait = ContactCenterInsightsCreateIssueModelOperator(
        task_id="create_and_wait",
        gcp_conn_id=SECRET_CONN_ID,
        issue_model={"display_name": "secret-conn-waited"},
        deferrable=True,
        poll_interval=0.2,
        wait_timeout=60,
        trigger_rule="all_done",
    )
    _create >> _wait >> _create_and_wait
