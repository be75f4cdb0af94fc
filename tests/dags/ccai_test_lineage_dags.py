"""The DAG tests/test_lineage.py runs with ``airflow dags test`` and the OpenLineage file transport:
ingest from Cloud Storage, train an issue model (deferred), export to BigQuery, all against the emulator."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from ccai_airflow.operators import (
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsExportInsightsDataOperator,
    ContactCenterInsightsIngestConversationsOperator,
)

PROJECT = "test-project"
BUCKET_URI = "gs://ccai-test-transcripts/chats/2026-01-*"
DESTINATION = {"project_id": "test-warehouse", "dataset": "insights", "table": "conversations_{{ ds_nodash }}"}

with DAG(dag_id="ccai_test_lineage", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False, tags=["ccai-test"]):
    _ingest = ContactCenterInsightsIngestConversationsOperator(
        task_id="ingest", project_id=PROJECT, gcs_source={"bucket_uri": BUCKET_URI}, poll_interval=0.2,
    )
    _create = ContactCenterInsightsCreateIssueModelOperator(
        task_id="create", project_id=PROJECT, issue_model={"display_name": "topics {{ ds }}"}, poll_interval=0.2,
        deferrable=True,
    )
    _export = ContactCenterInsightsExportInsightsDataOperator(
        task_id="export", project_id=PROJECT, big_query_destination=DESTINATION, poll_interval=0.2,
    )
    _ingest >> _create >> _export
