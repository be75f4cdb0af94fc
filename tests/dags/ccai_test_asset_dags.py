"""DAGs the asset tests run with dag.test(): each success records its asset events, read back from the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset

from ccai_airflow.operators import (
    ContactCenterInsightsBulkDeleteConversationsOperator,
    ContactCenterInsightsBulkDownloadFeedbackLabelsOperator,
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsDeleteIssueModelOperator,
    ContactCenterInsightsDeployIssueModelOperator,
    ContactCenterInsightsExportInsightsDataOperator,
    ContactCenterInsightsExportIssueModelOperator,
    ContactCenterInsightsUndeployIssueModelOperator,
)
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

PROJECT = "test-project"
START = pendulum.datetime(2026, 1, 1, tz="UTC")
ISSUE_MODEL = {"display_name": "assets {{ ds }}", "input_data_config": {"medium": "CHAT"}}
MODEL = "{{ ti.xcom_pull(task_ids='create', key='issue_model_name') }}"
TABLE = {"project_id": "bq-project", "dataset": "insights", "table": "daily"}
MODEL_OBJECT = "gs://ccai-models/exports/model.json"
LABELS_PREFIX = "gs://ccai-labels/downloads/"
OWN_TABLE = Asset("bigquery://bq-project/insights/daily")
OWN_FLAG = Asset(name="model-ready", uri="x-team://model-ready")


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, tags=["ccai-test"])


def _create(**kwargs: Any) -> ContactCenterInsightsCreateIssueModelOperator:
    return ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", project_id=PROJECT, issue_model=ISSUE_MODEL, poll_interval=0.2, **kwargs)


# The model of a CreateIssueModel that waited: in a worker, in the triggerer.
for _suffix, _kwargs in {"wait": {}, "deferrable": {"deferrable": True}}.items():
    with _dag(f"ccai_test_assets_create_{_suffix}"):
        _create(**_kwargs)

# The sensor records the model when the response is one; the create task that did not wait records nothing.
for _mode, _kwargs in {"poke": {}, "reschedule": {"mode": "reschedule"}, "deferrable": {"deferrable": True}}.items():
    with _dag(f"ccai_test_assets_sensor_{_mode}"):
        _create(wait_for_completion=False) >> ContactCenterInsightsOperationSensor(
            task_id="wait", operation_name="{{ ti.xcom_pull(task_ids='create', key='operation_name') }}",
            poke_interval=0.2, timeout=120, **_kwargs)

# Every resource kind: the model's deployment, the BigQuery table, the Cloud Storage objects.
with _dag("ccai_test_assets_resources"):
    (
        _create()
        >> ContactCenterInsightsDeployIssueModelOperator(
            task_id="deploy", project_id=PROJECT, issue_model_id=MODEL, poll_interval=0.2, deferrable=True)
        >> ContactCenterInsightsExportInsightsDataOperator(
            task_id="export", project_id=PROJECT, big_query_destination=TABLE, poll_interval=0.2)
        >> ContactCenterInsightsExportIssueModelOperator(
            task_id="export_model", project_id=PROJECT, issue_model_id=MODEL, object_uri=MODEL_OBJECT,
            poll_interval=0.2)
        >> ContactCenterInsightsBulkDownloadFeedbackLabelsOperator(
            task_id="download_labels", project_id=PROJECT, poll_interval=0.2,
            gcs_destination={"object_uri": LABELS_PREFIX, "format": "CSV"})
        >> ContactCenterInsightsUndeployIssueModelOperator(
            task_id="undeploy", project_id=PROJECT, issue_model_id=MODEL, poll_interval=0.2)
        >> ContactCenterInsightsDeleteIssueModelOperator(
            task_id="delete", project_id=PROJECT, issue_model_id=MODEL, poll_interval=0.2)
        >> ContactCenterInsightsBulkDeleteConversationsOperator(
            task_id="bulk_delete", project_id=PROJECT, filter='create_time < "2000-01-01T00:00:00Z"',
            poll_interval=0.2)
    )

# The author's own outlets: the same table is not recorded twice, and another asset gets the same extra.
with _dag("ccai_test_assets_own_outlets"):
    ContactCenterInsightsExportInsightsDataOperator(
        task_id="export", project_id=PROJECT, big_query_destination=TABLE, poll_interval=0.2,
        outlets=[OWN_TABLE, OWN_FLAG])

# Turned off: none of ours; the author's own outlet still gets Airflow's plain event.
with _dag("ccai_test_assets_off"):
    _create(asset_events=False, outlets=[OWN_FLAG], retry_delay=timedelta(seconds=0))
