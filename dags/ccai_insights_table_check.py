"""
### Check each day's exported insights table as soon as it is written

A BigQuery consumer that runs on data, not on the clock: `ccai_bulk_analyze_and_export`'s
`export_insights` task records an asset event for the table it wrote (`bigquery://P/D/T`, the Google
provider's URI for a BigQuery table) through its alias, and this DAG runs on each of those events.

* `check_table` reads the table named in the triggering event (`extra["resource"]`, `P.D.T`) and fails
  unless it has the export's columns this team's reports read; it prints the export operation and when
  it ended (the event's `extra`).

Triggered by hand, it checks the `table` param (`project.dataset.table`). A DAG whose export writes one
fixed table can schedule on the table's asset itself, `schedule=[Asset("bigquery://P/D/T")]`, as any DAG
already scheduled on a BigQuery table does: the export's event fires it too (docs/assets.md).

Connection: `google_cloud_default`. Against the bundled emulator the table is read from the emulator's
REST port, which answers `tables.get` for the tables its exports wrote.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from ccai_airflow.assets import task_alias

EXPORTED = task_alias("ccai_bulk_analyze_and_export", "export_insights")
# The columns the reports read (Google's Insights export schema names them).
REQUIRED_COLUMNS = ("conversationName", "startTimestampUtc", "agentSentimentScore", "clientSentimentScore",
                    "turnCount", "issues")

with DAG(
    dag_id="ccai_insights_table_check",
    description="Check each Contact Center Insights export table when the export has written it",
    schedule=[EXPORTED],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ccai", "contact-center-insights", "bigquery"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={"table": Param("", type="string", description="By hand: project.dataset.table to check.")},
) as dag:

    @task
    def check_table(params: Any = None, triggering_asset_events: Any = None) -> dict[str, Any]:
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        from ccai_airflow.hooks.clients import bigquery_client

        events = [event for found in (triggering_asset_events or {}).values() for event in found]
        extra = events[-1].extra if events else {"resource": params["table"]}
        table = extra["resource"]
        if table.count(".") != 2:
            raise ValueError(f"Invalid table {table!r}: expected project.dataset.table.")
        project = table.split(".", 1)[0]
        client = bigquery_client(project, lambda: BigQueryHook().get_client(project_id=project))
        if client is None:
            raise ValueError("The emulator's REST address is not set (CONTACT_CENTER_INSIGHTS_EMULATOR_REST).")
        columns = [field.name for field in client.get_table(table).schema]
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise ValueError(f"Table {table} lacks the columns {missing} (it has {columns}).")
        print(f"Table {table} has the {len(REQUIRED_COLUMNS)} columns the reports read; written by "
              f"{extra.get('operation')} (ended {extra.get('endTime')}).")
        return {"table": table, "columns": columns, "operation": extra.get("operation")}

    check_table()
