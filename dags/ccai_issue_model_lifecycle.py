"""
### Weekly issue (topic) model

Trains a Contact Center Insights issue model on the week's chat conversations, checks its
training stats against a quality gate, deploys it when it passes, and reports the model with
its issues and how many conversations each one labeled.

* `create_issue_model` starts CreateIssueModel for the conversations of the data interval and
  returns at once; `wait_for_training` waits for the operation in the triggerer (deferrable), so
  no worker slot is held for the hours training takes.
* `quality_gate` reads `training_stats` from XCom: enough analyzed conversations and enough issues
  with labeled conversations (thresholds are DAG params).
* `deploy_issue_model` swaps the new model in (`replace_deployed=True`, deferrable): the API
  refuses to deploy a model while another one is deployed, so it first undeploys last week's
  model, then deploys the new one. If the new deploy fails (or is refused), it deploys the
  previous model again, waits for it, and fails the task naming the failed deploy operation,
  the redeploy operation and the reason: the previous model keeps serving. Every step is derived
  from the models' states on the server, so a retry after a worker died mid-swap finishes the
  swap (no second undeploy) instead of starting over; a rolled-back failure is retried only when
  it was the service's (UNAVAILABLE, INTERNAL, ...), since each retry takes the live model down again.
  `keep_previous_model` is the branch taken when the gate fails: nothing is undeployed.
* `report` prints the model name, state, analyzed conversations and the per-issue counts, and
  the model it replaced with that model's state (UNDEPLOYED after a swap).

Connection: `google_cloud_default` (its `project` extra is the project). Against the bundled
emulator set `CONTACT_CENTER_INSIGHTS_EMULATOR_HOST`; `make demo` does all of it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param, task

from ccai_airflow.operators import (
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsDeployIssueModelOperator,
)
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

LOCATION = "us-central1"


def window_start(dag_run: Any) -> Any:
    """The data interval's start; a manual run (no interval) looks back one week from when it ran."""
    end = window_end(dag_run)
    start = dag_run.data_interval_start
    return end - timedelta(days=7) if start is None or start >= end else start


def window_end(dag_run: Any) -> Any:
    return dag_run.data_interval_end or dag_run.run_after


with DAG(
    dag_id="ccai_issue_model_lifecycle",
    description="Train, gate, deploy and report a weekly Contact Center Insights issue model",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 5, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ccai", "contact-center-insights", "issue-model"],
    doc_md=__doc__,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "gcp_conn_id": "google_cloud_default",
        "location": LOCATION,
    },
    user_defined_macros={"window_start": window_start, "window_end": window_end},
    params={
        "min_analyzed_conversations": Param(1000, type="integer", minimum=0),
        "min_issues_with_labels": Param(3, type="integer", minimum=1),
    },
) as dag:
    create_issue_model = ContactCenterInsightsCreateIssueModelOperator(
        task_id="create_issue_model",
        issue_model={
            "display_name": "weekly-topics-{{ window_start(dag_run) | ds }}",
            "input_data_config": {
                "medium": "CHAT",
                "filter": 'start_time >= "{{ window_start(dag_run).isoformat() }}" '
                'AND start_time < "{{ window_end(dag_run).isoformat() }}"',
            },
        },
        wait_for_completion=False,
    )

    wait_for_training = ContactCenterInsightsOperationSensor(
        task_id="wait_for_training",
        operation_name="{{ ti.xcom_pull(task_ids='create_issue_model', key='operation_name') }}",
        deferrable=True,
        timeout=int(timedelta(hours=24).total_seconds()),
    )

    @task.branch
    def quality_gate(params: Any = None, ti: Any = None) -> str:
        stats = ti.xcom_pull(task_ids="wait_for_training", key="training_stats") or {}
        analyzed = int(stats.get("analyzedConversationsCount", 0))
        labeled = [i for i in stats.get("issueStats", {}).values() if int(i.get("labeledConversationsCount", 0)) > 0]
        passed = analyzed >= params["min_analyzed_conversations"] and len(labeled) >= params["min_issues_with_labels"]
        print(f"Quality gate: {analyzed} analyzed conversations, {len(labeled)} issues with labels -> "
              f"{'deploy' if passed else 'keep the previous model'}")
        return "deploy_issue_model" if passed else "keep_previous_model"

    deploy_issue_model = ContactCenterInsightsDeployIssueModelOperator(
        task_id="deploy_issue_model",
        issue_model_id="{{ ti.xcom_pull(task_ids='wait_for_training', key='issue_model_name') }}",
        replace_deployed=True,
        deferrable=True,
    )

    keep_previous_model = EmptyOperator(task_id="keep_previous_model")

    @task(trigger_rule="none_failed_min_one_success")
    def report(ti: Any = None) -> dict[str, Any]:
        from ccai_airflow.hooks import ContactCenterInsightsHook

        name = ti.xcom_pull(task_ids="wait_for_training", key="issue_model_name")
        stats = ti.xcom_pull(task_ids="wait_for_training", key="training_stats") or {}
        hook = ContactCenterInsightsHook(gcp_conn_id="google_cloud_default")
        model = hook.get_issue_model(name)
        previous = ti.xcom_pull(task_ids="deploy_issue_model", key="previous_issue_model_name")
        issues = sorted(
            ({"issue": i["issue"], "display_name": i.get("displayName", ""),
              "labeled_conversations": int(i.get("labeledConversationsCount", 0))}
             for i in stats.get("issueStats", {}).values()),
            key=lambda row: -row["labeled_conversations"],
        )
        summary = {
            "create_operation": ti.xcom_pull(task_ids="create_issue_model", key="operation_name"),
            "deploy_operation": ti.xcom_pull(task_ids="deploy_issue_model", key="operation_name"),
            "issue_model_name": name,
            "state": model.state.name,
            "previous_issue_model_name": previous,
            "previous_state": hook.get_issue_model(previous).state.name if previous else None,
            "undeploy_operation": ti.xcom_pull(task_ids="deploy_issue_model", key="undeploy_operation_name"),
            "analyzed_conversations": int(stats.get("analyzedConversationsCount", 0)),
            "unclassified_conversations": int(stats.get("unclassifiedConversationsCount", 0)),
            "issues": issues,
        }
        print(f"Issue model {name} is {summary['state']}; {summary['analyzed_conversations']} conversations analyzed")
        if previous:
            print(f"It replaced issue model {previous}, now {summary['previous_state']}")
        for row in issues:
            print(f"  {row['labeled_conversations']:>7}  {row['display_name']}  ({row['issue']})")
        return summary

    gate = quality_gate()
    create_issue_model >> wait_for_training >> gate >> [deploy_issue_model, keep_previous_model]
    report_task = report()
    deploy_issue_model >> report_task
    keep_previous_model >> report_task
