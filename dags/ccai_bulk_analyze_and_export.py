"""
### Daily analysis and export

Analyzes the day's conversations with Contact Center Insights, then exports the insights to
BigQuery for the reporting tables.

* `bulk_analyze` starts BulkAnalyzeConversations for the conversations created in the data
  interval and returns at once; `wait_for_analysis` waits in the triggerer (deferrable) and logs
  the metadata's progress counters at every poll.
* `export_insights` starts ExportInsightsData into a date-partitioned table and waits for it
  (deferrable).

Connection: `google_cloud_default` (its `project` extra is the project).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from ccai_airflow.operators import (
    ContactCenterInsightsBulkAnalyzeConversationsOperator,
    ContactCenterInsightsExportInsightsDataOperator,
)
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

DAY_FILTER = (
    'create_time >= "{{ window_start(dag_run).isoformat() }}" AND create_time < "{{ window_end(dag_run).isoformat() }}"'
)


def window_start(dag_run: Any) -> Any:
    """The data interval's start; a manual run (no interval) looks back one day from when it ran."""
    end = window_end(dag_run)
    start = dag_run.data_interval_start
    return end - timedelta(days=1) if start is None or start >= end else start


def window_end(dag_run: Any) -> Any:
    return dag_run.data_interval_end or dag_run.run_after

with DAG(
    dag_id="ccai_bulk_analyze_and_export",
    description="Analyze the day's conversations and export the insights to BigQuery",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ccai", "contact-center-insights", "bigquery"],
    user_defined_macros={"window_start": window_start, "window_end": window_end},
    doc_md=__doc__,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "gcp_conn_id": "google_cloud_default",
        "location": "us-central1",
    },
) as dag:
    bulk_analyze = ContactCenterInsightsBulkAnalyzeConversationsOperator(
        task_id="bulk_analyze",
        filter=DAY_FILTER,
        analysis_percentage=100,
        wait_for_completion=False,
    )

    wait_for_analysis = ContactCenterInsightsOperationSensor(
        task_id="wait_for_analysis",
        operation_name="{{ ti.xcom_pull(task_ids='bulk_analyze', key='operation_name') }}",
        deferrable=True,
        timeout=int(timedelta(hours=12).total_seconds()),
    )

    export_insights = ContactCenterInsightsExportInsightsDataOperator(
        task_id="export_insights",
        big_query_destination={
            "dataset": "ccai_insights",
            "table": "conversations_{{ window_start(dag_run) | ds_nodash }}",
        },
        filter=DAY_FILTER,
        write_disposition="WRITE_TRUNCATE",
        deferrable=True,
        wait_timeout=int(timedelta(hours=6).total_seconds()),
    )

    bulk_analyze >> wait_for_analysis >> export_insights
