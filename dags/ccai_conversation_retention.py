"""
### Daily conversation retention

Deletes the conversations older than a retention window, after listing them; a dry run (the default)
only lists and reports. Deleted conversations cannot be recovered.

Params (set them when triggering, or change the defaults once the dry runs look right):

* `retention_days` (default 365): conversations created more than this many days before the run are expired.
* `dry_run` (default **true**): list and report what would be deleted, delete nothing. A scheduled run
  keeps the default, so the DAG deletes nothing until someone sets it to false on purpose.

Tasks:

* `list_expired` lists the expired conversations (ListConversations with the filter
  `create_time < "CUTOFF"`) and returns their count, the filter and up to 20 names.
* `choose` goes to `report` on a dry run or when nothing is expired, else to `bulk_delete`.
* `bulk_delete` starts BulkDeleteConversations with the same filter, `force=true` (a conversation's
  analyses go with it) and `max_delete_count` = the listed count, as Google's
  [bulk delete guide](https://cloud.google.com/contact-center/insights/docs/bulk-delete-api) recommends:
  if more conversations match by then, the API refuses instead of deleting more than was listed.
  It waits in the triggerer.
* `report` returns what was (or would be) deleted. The API's response holds no count, so the count
  deleted is the listed count minus the expired conversations a second listing still finds.

Connection: `google_cloud_default` (its `project` extra is the project).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import ContactCenterInsightsBulkDeleteConversationsOperator

LOCATION = "us-central1"
GCP_CONN_ID = "google_cloud_default"
SAMPLE = 20


def _parent(hook: ContactCenterInsightsHook) -> str:
    return f"projects/{hook.project_id}/locations/{LOCATION}"


@task
def list_expired(params: Any = None, dag_run: Any = None) -> dict[str, Any]:
    """The expired conversations: count, filter, cutoff and a sample of names."""
    now = dag_run.data_interval_end or dag_run.run_after
    cutoff = (now - timedelta(days=int(params["retention_days"]))).astimezone(pendulum.UTC)
    expired_filter = f'create_time < "{cutoff.isoformat(timespec="seconds").replace("+00:00", "Z")}"'
    hook = ContactCenterInsightsHook(gcp_conn_id=GCP_CONN_ID)
    names = [c.name for c in hook.list_conversations(_parent(hook), filter=expired_filter)]
    return {"filter": expired_filter, "cutoff": cutoff.isoformat(), "count": len(names), "sample": names[:SAMPLE]}


@task.branch
def choose(expired: Any, params: Any = None) -> str:
    if params["dry_run"] or expired["count"] == 0:
        return "report"
    return "bulk_delete"


@task(trigger_rule="none_failed_min_one_success")
def report(expired: Any, params: Any = None, ti: Any = None) -> dict[str, Any]:
    operation = ti.xcom_pull(task_ids="bulk_delete", key="operation_name")
    summary = {"dry_run": bool(params["dry_run"]), "retention_days": int(params["retention_days"]),
               "cutoff": expired["cutoff"], "expired_conversations": expired["count"]}
    if operation is None:
        print(f"Would delete {expired['count']} conversations created before {expired['cutoff']}; e.g.:")
        for name in expired["sample"]:
            print(f"  {name}")
        return {**summary, "deleted_conversations": 0, "sample": expired["sample"]}
    hook = ContactCenterInsightsHook(gcp_conn_id=GCP_CONN_ID)
    remaining = len(hook.list_conversations(_parent(hook), filter=expired["filter"]))
    deleted = expired["count"] - remaining
    print(f"Deleted {deleted} conversations created before {expired['cutoff']} (operation {operation}).")
    return {**summary, "deleted_conversations": deleted, "still_expired": remaining, "delete_operation": operation}


with DAG(
    dag_id="ccai_conversation_retention",
    description="Delete the conversations older than the retention window (dry run by default)",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ccai", "contact-center-insights", "retention"],
    params={
        "retention_days": Param(365, type="integer", minimum=1, description="delete conversations older than this"),
        "dry_run": Param(True, type="boolean", description="only list and report what would be deleted"),
    },
    render_template_as_native_obj=True,
    doc_md=__doc__,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
    },
) as dag:
    expired = list_expired()
    bulk_delete = ContactCenterInsightsBulkDeleteConversationsOperator(
        task_id="bulk_delete",
        gcp_conn_id=GCP_CONN_ID,
        location=LOCATION,
        filter="{{ ti.xcom_pull(task_ids='list_expired')['filter'] }}",
        max_delete_count="{{ ti.xcom_pull(task_ids='list_expired')['count'] }}",  # type: ignore[arg-type]
        force=True,
        deferrable=True,
        wait_timeout=int(timedelta(hours=6).total_seconds()),
    )
    summary = report(expired)
    choose(expired) >> [bulk_delete, summary]
    bulk_delete >> summary
