"""The DAG the link tests run with dag.test(): each operator link, read back as the UI reads it."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from ccai_airflow.operators import (
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsDeployIssueModelOperator,
    ContactCenterInsightsExportInsightsDataOperator,
    ContactCenterInsightsUndeployIssueModelOperator,
)
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

MODEL = "{{ ti.xcom_pull(task_ids='create', key='issue_model_name') }}"

with DAG(dag_id="ccai_test_links", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False, tags=["ccai-test"], default_args={"project_id": "test-project", "poll_interval": 0.2}):
    # Deferred: the model link comes from the response, in execute_complete.
    create = ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", issue_model={"display_name": "links"}, deferrable=True)
    wait = ContactCenterInsightsOperationSensor(
        task_id="wait", operation_name="{{ ti.xcom_pull(task_ids='create', key='operation_name') }}",
        poke_interval=0.2)
    # The swap (deferred) names its deploy operation itself; the undeploy is a plain issue model operator.
    deploy = ContactCenterInsightsDeployIssueModelOperator(
        task_id="deploy", issue_model_id=MODEL, replace_deployed=True, deferrable=True)
    undeploy = ContactCenterInsightsUndeployIssueModelOperator(task_id="undeploy", issue_model_id=MODEL)
    export = ContactCenterInsightsExportInsightsDataOperator(
        task_id="export", big_query_destination={"project_id": "bq-project", "dataset": "insights", "table": "daily"})
    export_no_table = ContactCenterInsightsExportInsightsDataOperator(
        task_id="export_no_table", big_query_destination={"dataset": "insights"})
    create >> [wait, deploy]
    deploy >> undeploy
