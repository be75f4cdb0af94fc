"""DAGs the operator tests run with dag.test(): start an operation, maybe wait, check the XComs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import (
    ContactCenterInsightsBulkAnalyzeConversationsOperator,
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsDeleteIssueModelOperator,
    ContactCenterInsightsDeployIssueModelOperator,
    ContactCenterInsightsExportInsightsDataOperator,
    ContactCenterInsightsIngestConversationsOperator,
    ContactCenterInsightsUndeployIssueModelOperator,
)
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

PROJECT = "test-project"
START = pendulum.datetime(2026, 1, 1, tz="UTC")
ISSUE_MODEL = {
    "display_name": "topics {{ ds }}",
    "input_data_config": {"medium": "CHAT", "filter": 'start_time >= "{{ data_interval_start.isoformat() }}"'},
}


@task
def check_model(ti: Any = None, **_: Any) -> str:
    """Fail unless the create task's XComs hold the model GetIssueModel returns."""
    from google.protobuf import json_format

    # The create task pushes the model when it waited; the sensor does when it did not.
    name = next(n for n in ti.xcom_pull(task_ids=["create", "wait"], key="issue_model_name") if n)
    operation_name = ti.xcom_pull(task_ids="create", key="operation_name")
    response = ti.xcom_pull(task_ids=["create", "wait"])
    model = ContactCenterInsightsHook().get_issue_model(name)
    expected = {"@type": "type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel",
                **json_format.MessageToDict(model._pb)}
    if expected not in response:
        raise AssertionError(f"{response!r} does not hold {expected!r}")
    if not operation_name.startswith(f"projects/{PROJECT}/locations/us-central1/operations/"):
        raise AssertionError(f"operation_name XCom {operation_name!r}")
    return str(name)


def _dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, tags=["ccai-test"], **kwargs)


for _suffix, _kwargs in {"wait": {}, "deferrable": {"deferrable": True}, "rest": {"transport": "rest"}}.items():
    with _dag(f"ccai_test_create_{_suffix}"):
        _create = ContactCenterInsightsCreateIssueModelOperator(
            task_id="create", project_id=PROJECT, issue_model=ISSUE_MODEL, poll_interval=0.2, **_kwargs
        )
        _create >> check_model()

with _dag("ccai_test_create_no_wait"):
    _create = ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", project_id=PROJECT, issue_model=ISSUE_MODEL, wait_for_completion=False
    )
    _wait = ContactCenterInsightsOperationSensor(
        task_id="wait", operation_name="{{ ti.xcom_pull(task_ids='create') }}", poke_interval=0.2, timeout=60
    )
    _deploy = ContactCenterInsightsDeployIssueModelOperator(
        task_id="deploy", project_id=PROJECT, poll_interval=0.2,
        issue_model_id="{{ ti.xcom_pull(task_ids='wait', key='issue_model_name') }}",
    )
    _create >> _wait >> check_model() >> _deploy

with _dag("ccai_test_create_retry"):
    # The first try loses its wait (the emulator refuses one GetOperation); the retry must resume.
    _create = ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", project_id=PROJECT, issue_model=ISSUE_MODEL, poll_interval=0.2,
        retries=1, retry_delay=timedelta(seconds=0),
    )
    _create >> check_model()

with _dag("ccai_test_create_project_from_connection"):
    ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", issue_model=ISSUE_MODEL, poll_interval=0.2, gcp_conn_id="ccai_test_conn"
    )

with _dag("ccai_test_create_bad_location"):
    ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", project_id=PROJECT, location="{{ 'us central' }}", issue_model=ISSUE_MODEL
    )

with _dag("ccai_test_create_bad_issue_model"):
    ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", project_id=PROJECT, issue_model={"display_name": "x", "no_such_field": 1}
    )

with _dag("ccai_test_create_retry_after_failure"):
    # The first try's operation fails: the retry must start a new one, not resume the failed one.
    ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", project_id=PROJECT, issue_model=ISSUE_MODEL, poll_interval=0.2,
        retries=1, retry_delay=timedelta(seconds=0),
    )

with _dag("ccai_test_issue_model_lifecycle"):
    _ids = "{{ ti.xcom_pull(task_ids='create', key='issue_model_name') }}"
    (
        ContactCenterInsightsCreateIssueModelOperator(
            task_id="create", project_id=PROJECT, issue_model=ISSUE_MODEL, poll_interval=0.2)
        >> ContactCenterInsightsDeployIssueModelOperator(
            task_id="deploy", project_id=PROJECT, issue_model_id=_ids, poll_interval=0.2, deferrable=True)
        >> ContactCenterInsightsUndeployIssueModelOperator(
            task_id="undeploy", project_id=PROJECT, issue_model_id=_ids, poll_interval=0.2)
        >> ContactCenterInsightsDeleteIssueModelOperator(
            task_id="delete", project_id=PROJECT, issue_model_id=_ids, poll_interval=0.2, transport="rest")
    )

with _dag("ccai_test_conversations"):
    (
        ContactCenterInsightsIngestConversationsOperator(
            task_id="ingest", project_id=PROJECT, gcs_source={"bucket_uri": "gs://calls/{{ ds }}/"},
            transcript_object_config={"medium": "CHAT"}, poll_interval=0.2)
        >> ContactCenterInsightsBulkAnalyzeConversationsOperator(
            task_id="analyze", project_id=PROJECT, filter='create_time > "{{ data_interval_start.isoformat() }}"',
            analysis_percentage=50, poll_interval=0.2, deferrable=True)
        >> ContactCenterInsightsExportInsightsDataOperator(
            task_id="export", project_id=PROJECT, write_disposition="WRITE_APPEND", poll_interval=0.2,
            big_query_destination={"dataset": "insights", "table": "t_{{ ds_nodash }}"})
    )
