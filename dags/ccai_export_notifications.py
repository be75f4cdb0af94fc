"""
### Check each export as soon as Insights says an export completed

Event-driven: Insights publishes to Pub/Sub each time an export completes (the location's
`export-insights-data` notification setting names the topic). The asset `ccai_insights_exports` is
watched by the Google provider's `PubsubPullTrigger` on a subscription of that topic (an
`AssetWatcher`, run by the triggerer); each pull that brings messages is an asset event, and this DAG
runs on it.

Google does not document what the message holds, so it is only a signal: `check_exports` asks the
API which ExportInsightsData operations of the location ended in the last day (ListOperations), and
checks that the BigQuery table of each successful one has the export's columns (tables.get). The
event's extra carries the pulled messages (`payload`); they are counted, never read.

Setup, once per location (it changes the project's settings, so it is not a task here): a topic and a
subscription (`gcloud pubsub topics create insights-exports`, `gcloud pubsub subscriptions create
insights-exports-airflow --topic insights-exports`), then point the notification at the topic:

    ContactCenterInsightsHook().update_pubsub_notification_settings(
        "projects/P/locations/us-central1", {"export-insights-data": "projects/P/topics/insights-exports"})

Connection: `google_cloud_default` for Insights and Pub/Sub. Against the emulators (Google's Pub/Sub
emulator and ours): `PUBSUB_EMULATOR_HOST` for the trigger and a connection with `is_anonymous`.
"""

from __future__ import annotations

import datetime
from datetime import timedelta
from functools import partial
from typing import Any

import pendulum
from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger
from airflow.sdk import DAG, Asset, AssetWatcher, task

LOCATION = "us-central1"
PUBSUB_PROJECT = "ccai-pubsub"  # the subscription's project
SUBSCRIPTION = "insights-exports-airflow"  # of the topic the export-insights-data setting names
LOOKBACK = timedelta(days=1)
EXPORT_METADATA = "type.googleapis.com/google.cloud.contactcenterinsights.v1.ExportInsightsDataMetadata"
REQUIRED_COLUMNS = ("conversationName", "startTimestampUtc", "turnCount", "issues")

EXPORT_NOTIFICATIONS = Asset(
    "ccai_insights_exports",
    watchers=[AssetWatcher(
        name="ccai_insights_export_notifications",
        # ack_messages: a message is taken once; return_immediately=False: wait on the subscription (the
        # provider's default, True, may return nothing while messages wait).
        trigger=PubsubPullTrigger(project_id=PUBSUB_PROJECT, subscription=SUBSCRIPTION, max_messages=100,
                                  ack_messages=True, gcp_conn_id="google_cloud_default", poke_interval=10.0,
                                  return_immediately=False),
    )],
)

with DAG(
    dag_id="ccai_export_notifications",
    description="Check each Contact Center Insights export when Insights' Pub/Sub notification says it completed",
    schedule=[EXPORT_NOTIFICATIONS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ccai", "contact-center-insights", "pubsub", "bigquery"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
) as dag:

    @task
    def check_exports(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        from airflow.providers.google.cloud.hooks.bigquery import BigQueryHook

        from ccai_airflow.core.outcome import Status, outcome_of
        from ccai_airflow.hooks import ContactCenterInsightsHook
        from ccai_airflow.hooks.clients import bigquery_client

        events = [event for found in (triggering_asset_events or {}).values() for event in found]
        messages = sum(len((event.extra.get("payload") or {}).get("message") or []) for event in events)
        hook = ContactCenterInsightsHook(gcp_conn_id="google_cloud_default")
        parent = f"projects/{hook.project_id}/locations/{LOCATION}"
        since = datetime.datetime.now(datetime.UTC) - LOOKBACK
        outcomes = [outcome_of(operation) for operation in hook.list_operations(parent, filter="done=true")]
        exports = [o for o in outcomes
                   if o.metadata.get("@type") == EXPORT_METADATA and (o.ended_at() or since) > since]
        print(f"{messages} notification(s) from {len(events)} event(s); {len(exports)} export(s) of {parent} "
              f"ended since {since:%Y-%m-%d %H:%M} UTC")
        checked = []
        for export in sorted(exports, key=lambda o: o.ended_at() or since):
            destination = export.metadata.get("request", {}).get("bigQueryDestination", {})
            table = f"{destination.get('projectId') or hook.project_id}.{destination['dataset']}.{destination['table']}"
            if export.status is not Status.SUCCEEDED:
                print(f"  {export.operation_name}: {export.describe_failure()}")
                checked.append({"operation": export.operation_name, "table": table, "ok": False})
                continue
            project = table.split(".", 1)[0]
            client = bigquery_client(project, partial(BigQueryHook().get_client, project_id=project))
            if client is None:
                raise ValueError("The emulator's REST address is not set (CONTACT_CENTER_INSIGHTS_EMULATOR_REST).")
            columns = [field.name for field in client.get_table(table).schema]
            missing = [name for name in REQUIRED_COLUMNS if name not in columns]
            if missing:
                raise ValueError(f"Table {table} of {export.operation_name} lacks the columns {missing}.")
            print(f"  {export.operation_name}: {table} has the columns the reports read")
            checked.append({"operation": export.operation_name, "table": table, "ok": True})
        return checked

    check_exports()
