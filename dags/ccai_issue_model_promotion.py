"""
### Promote the issue (topic) model dev just deployed to prod

Runs on data, not on the clock: each time `ccai_issue_model_lifecycle` deploys a model (the asset event
its `deploy_issue_model` task records through its alias), this DAG moves that model to the prod project
through Cloud Storage, checks that it arrived whole, and deploys it there in place of prod's current model.

* `find_dev_model` takes the model named in the triggering asset event (`extra["resource"]`) and checks
  that it is still DEPLOYED. Triggered by hand, it promotes the `issue_model_name` param, or else the
  newest DEPLOYED model of the `dev_project` param (DeployIssueModel allows one per location, so it is
  the one dev serves). With it come its issues (ListIssues) and their labeled-conversation counts.
* `export_model` starts ExportIssueModel to `{bucket}/promotions/{when}/issue-model.json` (the logical
  date, or `run_after` in an asset-triggered run, which has no logical date), one object per run so
  that runs do not overwrite each other; the object stays as the backup of what was promoted. Only
  TYPE_V2 (or later) models can be exported (Google's export/import guide).
* `import_model` starts ImportIssueModel into the prod project with `create_new_model=True`: a new
  model with new ids, UNDEPLOYED. Its response is empty; the operator finds the model it wrote and
  pushes `issue_model_name`.
* `check_issues` compares the prod model with the dev one: the same issue display names (ListIssues
  of each) and, per issue, the same labeled-conversation count (both models' `training_stats`). Any
  difference fails the run before prod changes.
* `deploy_model` deploys it with `replace_deployed=True`: the API refuses a deploy while a model is
  deployed, so the operator undeploys prod's current model first, and redeploys it if the new
  deploy fails (see `ccai_issue_model_lifecycle`).
* `report` prints the dev model, the object, the prod model and its state, the model it replaced.

Every operation is waited for in the triggerer (deferrable). The prod project and the bucket are DAG params.
Connection: `google_cloud_default` with access to both projects. Against the bundled emulator set
`CONTACT_CENTER_INSIGHTS_EMULATOR_HOST`; `make demo ARGS="--dag-id ccai_issue_model_promotion"`
seeds the dev project with a deployed model and runs it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from ccai_airflow.assets import task_alias
from ccai_airflow.operators import (
    ContactCenterInsightsDeployIssueModelOperator,
    ContactCenterInsightsExportIssueModelOperator,
    ContactCenterInsightsImportIssueModelOperator,
)

LOCATION = "us-central1"
DEV_PROJECT = "ccai-dev"
PROD_PROJECT = "ccai-prod"
BUCKET = "gs://ccai-issue-model-promotions"
# An asset-triggered run has no logical date (so no ds): its run_after names the object then.
OBJECT_URI = ("{{ params.bucket }}/promotions/{{ (dag_run.logical_date or dag_run.run_after) | ts_nodash }}"
              "/issue-model.json")
# What this DAG runs on: the models the lifecycle DAG's deploy task deploys.
DEPLOYED_IN_DEV = task_alias("ccai_issue_model_lifecycle", "deploy_issue_model")
PROD_MODEL = "{{ ti.xcom_pull(task_ids='import_model', key='issue_model_name') }}"


def issue_counts(hook: Any, model_name: str) -> dict[str, int | None]:
    """Display name -> labeled conversations of each issue of a model (None where the stats have no count)."""
    stats = hook.get_issue_model(model_name).training_stats.issue_stats
    labeled = {entry.display_name: int(entry.labeled_conversations_count) for entry in stats.values()}
    return {issue.display_name: labeled.get(issue.display_name) for issue in hook.list_issues(model_name)}


with DAG(
    dag_id="ccai_issue_model_promotion",
    description="Promote the Contact Center Insights issue model dev deployed to prod",
    schedule=[DEPLOYED_IN_DEV],
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
    params={
        "dev_project": Param(DEV_PROJECT, type="string", minLength=1),
        "issue_model_name": Param("", type="string",
                                  description="By hand: the dev model to promote; empty: dev's deployed one."),
        "prod_project": Param(PROD_PROJECT, type="string", minLength=1),
        "bucket": Param(BUCKET, type="string", pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$"),
    },
) as dag:

    @task
    def find_dev_model(params: Any = None, triggering_asset_events: Any = None) -> dict[str, Any]:
        from ccai_airflow.hooks import ContactCenterInsightsHook

        hook = ContactCenterInsightsHook(gcp_conn_id="google_cloud_default")
        events = [event for found in (triggering_asset_events or {}).values() for event in found]
        name = events[-1].extra["resource"] if events else params["issue_model_name"]
        if name:
            model = hook.get_issue_model(name)
            if model.state.name != "DEPLOYED":
                raise ValueError(f"Issue model {name} is {model.state.name}, not DEPLOYED: not promoting it.")
        else:
            parent = f"projects/{params['dev_project']}/locations/{LOCATION}"
            deployed = [model for model in hook.list_issue_models(parent) if model.state.name == "DEPLOYED"]
            if not deployed:
                raise ValueError(f"No DEPLOYED issue model in {parent}: nothing to promote.")
            model = max(deployed, key=lambda m: type(m).pb(m).create_time.ToNanoseconds())  # the newest
        source = f"the asset event of {events[-1].source_dag_id}.{events[-1].source_task_id}" if events else "params"
        print(f"Promoting {model.name} ({model.display_name!r}, {model.issue_count} issues), from {source}")
        return {"name": model.name, "project": model.name.split("/")[1], "display_name": model.display_name,
                "issues": issue_counts(hook, model.name)}

    dev_model = find_dev_model()

    export_model = ContactCenterInsightsExportIssueModelOperator(
        task_id="export_model",
        project_id="{{ ti.xcom_pull(task_ids='find_dev_model')['project'] }}",
        issue_model_id="{{ ti.xcom_pull(task_ids='find_dev_model')['name'] }}",
        object_uri=OBJECT_URI,
        deferrable=True,
    )

    import_model = ContactCenterInsightsImportIssueModelOperator(
        task_id="import_model",
        project_id="{{ params.prod_project }}",
        object_uri="{{ ti.xcom_pull(task_ids='export_model', key='object_uri') }}",
        create_new_model=True,
        deferrable=True,
    )

    @task
    def check_issues(ti: Any = None) -> dict[str, int | None]:
        from ccai_airflow.hooks import ContactCenterInsightsHook

        dev = ti.xcom_pull(task_ids="find_dev_model")
        prod_name = ti.xcom_pull(task_ids="import_model", key="issue_model_name")
        if not prod_name:
            raise ValueError("The import did not say which model it created in prod (see import_model's log).")
        prod = issue_counts(ContactCenterInsightsHook(gcp_conn_id="google_cloud_default"), prod_name)
        if sorted(prod) != sorted(dev["issues"]):
            raise ValueError(f"Issues of {prod_name} {sorted(prod)} differ from those of {dev['name']} "
                             f"{sorted(dev['issues'])}.")
        counts = {name: (dev["issues"][name], prod[name]) for name in prod}
        differ = {name: pair for name, pair in counts.items() if None not in pair and pair[0] != pair[1]}
        if differ:
            raise ValueError(f"Labeled conversations of {prod_name} differ from {dev['name']} (dev, prod): {differ}")
        print(f"{prod_name} has the {len(prod)} issues of {dev['name']}, with the same counts.")
        return prod

    deploy_model = ContactCenterInsightsDeployIssueModelOperator(
        task_id="deploy_model",
        project_id="{{ params.prod_project }}",
        issue_model_id=PROD_MODEL,
        replace_deployed=True,
        deferrable=True,
    )

    @task
    def report(ti: Any = None) -> dict[str, Any]:
        from ccai_airflow.hooks import ContactCenterInsightsHook

        hook = ContactCenterInsightsHook(gcp_conn_id="google_cloud_default")
        dev = ti.xcom_pull(task_ids="find_dev_model")
        name = ti.xcom_pull(task_ids="import_model", key="issue_model_name")
        previous = ti.xcom_pull(task_ids="deploy_model", key="previous_issue_model_name")
        summary = {
            "dev_issue_model_name": dev["name"],
            "object_uri": ti.xcom_pull(task_ids="export_model", key="object_uri"),
            "export_operation": ti.xcom_pull(task_ids="export_model", key="operation_name"),
            "import_operation": ti.xcom_pull(task_ids="import_model", key="operation_name"),
            "deploy_operation": ti.xcom_pull(task_ids="deploy_model", key="operation_name"),
            "issue_model_name": name,
            "state": hook.get_issue_model(name).state.name,
            "previous_issue_model_name": previous,
            "previous_state": hook.get_issue_model(previous).state.name if previous else None,
            "undeploy_operation": ti.xcom_pull(task_ids="deploy_model", key="undeploy_operation_name"),
            "issues": ti.xcom_pull(task_ids="check_issues"),
        }
        print(f"Promoted {dev['name']} to {name} ({summary['state']}) through {summary['object_uri']}")
        if previous:
            print(f"It replaced {previous}, now {summary['previous_state']}")
        return summary

    dev_model >> export_model >> import_model >> check_issues() >> deploy_model >> report()
