"""Asset events (asset_events.py): every success records its resources' events with no DAG change, in every mode,
read back from the metadata database as a downstream DAG's scheduler would see them."""

from __future__ import annotations

from typing import Any

import pytest

from ccai_airflow.assets import task_alias_name
from ccai_airflow.core.asset_extra import EXTRA_KEYS
from ccai_airflow.emulator import Emulator
from ccai_airflow.operators import ContactCenterInsightsCreateIssueModelOperator
from tests.conftest import DAGS_FOLDER, PARENT
from tests.helpers import run_dag, states, xcom

ASSET_DAGS = DAGS_FOLDER / "ccai_test_asset_dags.py"
MODELS = f"contactcenterinsights://{PARENT}/issueModels/"
# Each source task's events, in the order recorded: (asset URI, extra, the aliases it came through).
Events = dict[str, list[tuple[str, dict[str, Any], list[str]]]]


def events_of(dag_run: Any) -> Events:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    found: Events = {}
    with create_session() as session:
        query = select(AssetEvent).where(AssetEvent.source_run_id == dag_run.run_id).order_by(AssetEvent.id)
        for event in session.scalars(query):
            found.setdefault(event.source_task_id, []).append(
                (event.asset.uri, dict(event.extra), sorted(alias.name for alias in event.source_aliases)))
    return found


def run(dag_id: str) -> tuple[Any, Events]:
    dag_run = run_dag(dag_id, ASSET_DAGS)
    assert set(states(dag_run).values()) == {"success"}, states(dag_run)
    return dag_run, events_of(dag_run)


def check_model_event(dag_run: Any, events: Events, task_id: str, pushed_by: str) -> dict[str, Any]:
    """One event for the trained model, through the task's alias, with the extra a downstream DAG reads."""
    model = xcom(dag_run, pushed_by)
    ((uri, extra, aliases),) = events[task_id]
    assert uri == f"contactcenterinsights://{model['name']}"
    assert aliases == [task_alias_name(dag_run.dag_id, task_id)]
    assert tuple(sorted(extra)) == tuple(sorted(EXTRA_KEYS))
    operation = xcom(dag_run, pushed_by, "operation")
    assert extra["resource"] == model["name"]
    assert extra["operation"] == operation["name"]
    assert extra["operationType"] == "CreateIssueModel"
    assert (extra["createTime"], extra["endTime"]) == (operation["metadata"]["createTime"],
                                                       operation["metadata"]["endTime"])
    assert (extra["state"], extra["displayName"]) == ("UNDEPLOYED", model["displayName"])
    stats = model["trainingStats"]
    summary = extra["trainingStats"]
    assert summary["analyzedConversationsCount"] == int(stats["analyzedConversationsCount"])
    assert summary["unclassifiedConversationsCount"] == int(stats.get("unclassifiedConversationsCount", 0))
    assert summary["issueCount"] == len(stats["issueStats"]) > 0
    counts = [issue["labeledConversationsCount"] for issue in summary["topIssues"]]
    assert counts == sorted(counts, reverse=True)
    return extra


@pytest.mark.parametrize("suffix", ["wait", "deferrable"])
def test_create_records_the_model_it_trained(
    suffix: str, emulator_env: Emulator, airflow_db: str, capfd: pytest.CaptureFixture[str],
) -> None:
    emulator_env.set_operation_seconds(1.0)  # not done at the first look: the deferrable task defers
    dag_run, events = run(f"ccai_test_assets_create_{suffix}")

    assert list(events) == ["create"]
    check_model_event(dag_run, events, "create", "create")
    # Not even at the deferral, when Airflow reads every link's XCom (the model link has no URL yet).
    logged = capfd.readouterr()
    assert "[error" not in logged.out + logged.err


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_the_sensor_records_the_model_in_every_mode_with_the_same_keys(
    mode: str, emulator_env: Emulator, airflow_db: str,
) -> None:
    emulator_env.set_operation_seconds(1.0)  # a few pokes (or reschedules, or trigger polls) first
    dag_run, events = run(f"ccai_test_assets_sensor_{mode}")

    assert list(events) == ["wait"]  # the create task that did not wait has no resource yet
    check_model_event(dag_run, events, "wait", "wait")


def test_each_resource_kind_gets_its_uri_and_deletes_record_none(emulator_env: Emulator, airflow_db: str) -> None:
    from airflow.providers.google.assets.bigquery import create_asset as bigquery_asset
    from airflow.providers.google.assets.gcs import create_asset as gcs_asset

    dag_run, events = run("ccai_test_assets_resources")
    model = xcom(dag_run, "create", "issue_model_name")

    # The Google provider's own URIs for the table and the objects: DAGs scheduled on them run on ours.
    table = bigquery_asset(project_id="bq-project", dataset_id="insights", table_id="daily").uri
    model_object = gcs_asset(bucket="ccai-models", key="exports/model.json").uri
    labels = gcs_asset(bucket="ccai-labels", key="downloads").uri
    assert {task: [uri for uri, _, _ in found] for task, found in events.items()} == {
        "create": [f"contactcenterinsights://{model}"],
        "deploy": [f"contactcenterinsights://{model}"],
        "export": [table],
        "export_model": [model_object],
        "download_labels": [labels],
        "undeploy": [f"contactcenterinsights://{model}"],
    }
    extras = {task: found[0][1] for task, found in events.items()}
    # Deploy's response is empty: the model's state and stats come from the API after the deploy.
    assert extras["deploy"]["state"] == "DEPLOYED"
    assert extras["deploy"]["operationType"] == "DeployIssueModel"
    assert extras["deploy"]["trainingStats"] == extras["create"]["trainingStats"]
    assert extras["undeploy"]["state"] == "UNDEPLOYED"
    assert extras["export"]["resource"] == "bq-project.insights.daily"
    assert extras["export"]["operationType"] == "ExportInsightsData"
    assert extras["export"]["trainingStats"] is None and extras["export"]["state"] is None
    assert extras["export_model"]["resource"] == "gs://ccai-models/exports/model.json"
    assert extras["download_labels"]["resource"] == "gs://ccai-labels/downloads/"
    for task in events:
        assert events[task][0][2] == [task_alias_name(dag_run.dag_id, task)]
        assert extras[task]["operation"] == xcom(dag_run, task, "operation_name")


def test_the_authors_own_outlets_get_the_extra_and_no_second_event(emulator_env: Emulator, airflow_db: str) -> None:
    _, events = run("ccai_test_assets_own_outlets")

    found = {uri: (extra, aliases) for uri, extra, aliases in events["export"]}
    assert sorted(found) == ["bigquery://bq-project/insights/daily", "x-team://model-ready"]
    table, flag = found["bigquery://bq-project/insights/daily"], found["x-team://model-ready"]
    assert table[1] == flag[1] == []  # as the author's outlets, not through the alias
    assert table[0] == flag[0]
    assert table[0]["resource"] == "bq-project.insights.daily"


def test_asset_events_false_records_none_of_ours(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run, events = run("ccai_test_assets_off")

    assert events == {"create": [("x-team://model-ready", {}, [])]}  # Airflow's own, with no extra
    assert xcom(dag_run, "create", "issue_model_name").startswith(PARENT)


def test_the_alias_is_declared_at_parse_time_and_named_for_the_task() -> None:
    from airflow.sdk import DAG, AssetAlias

    with DAG("ccai_alias_check", schedule=None):
        op = ContactCenterInsightsCreateIssueModelOperator(task_id="train", issue_model={})
    off = ContactCenterInsightsCreateIssueModelOperator(task_id="off", issue_model={}, asset_events=False)

    assert op.outlets == [AssetAlias("contactcenterinsights/ccai_alias_check/train")]
    assert op.asset_alias == op.outlets[0]
    assert off.outlets == []


def test_asset_events_must_be_a_flag() -> None:
    with pytest.raises(ValueError, match=r"Invalid asset_events 'no'"):
        ContactCenterInsightsCreateIssueModelOperator(task_id="x", issue_model={}, asset_events="no")  # type: ignore[arg-type]


def test_the_table_check_example_reads_the_table_of_its_triggering_event(
    emulator_env: Emulator, airflow_db: str,
) -> None:
    """The BigQuery consumer example (dags/ccai_insights_table_check.py): its task, given the events Airflow hands
    an asset-triggered run (``make e2e`` runs one for real), checks the table the export's event names."""
    from types import SimpleNamespace

    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    from tests.test_example_dags import EXAMPLES

    _, events = run("ccai_test_assets_own_outlets")
    extra = events["export"][0][1]
    dag = DagBag(str(EXAMPLES / "ccai_insights_table_check.py")).get_dag("ccai_insights_table_check")
    check = dag.get_task("check_table").python_callable
    triggering = {"bigquery://bq-project/insights/daily": [SimpleNamespace(extra=extra)]}

    checked = check(params={"table": ""}, triggering_asset_events=triggering)

    assert checked == {"table": "bq-project.insights.daily", "columns": checked["columns"],
                       "operation": extra["operation"]}
    assert {"conversationName", "issues"} <= set(checked["columns"])
    with pytest.raises(ValueError, match=r"Invalid table 'daily': expected project.dataset.table"):
        check(params={"table": "daily"}, triggering_asset_events={})
