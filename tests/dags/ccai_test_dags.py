"""DAGs the tests run with dag.test(): create an issue model, wait for it, check the XCom contract.

One DAG per scenario; the sensor's arguments are the only difference between them.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

PARENT = "projects/test-project/locations/us-central1"
MISSING = f"{PARENT}/operations/404404404"

SCENARIOS: dict[str, dict[str, Any]] = {
    "poke": {"mode": "poke"},
    "reschedule": {"mode": "reschedule"},
    "deferrable": {"deferrable": True},
    "adaptive_poke": {"mode": "poke", "poke_interval": None},
    "adaptive_deferrable": {"deferrable": True, "poke_interval": None},
    "rest": {"mode": "poke", "transport": "rest"},
    "rest_deferrable": {"deferrable": True, "transport": "rest"},
    "timeout_poke": {"mode": "poke", "timeout": 1},
    "timeout_deferrable": {"deferrable": True, "timeout": 1},
    "soft_fail_poke": {"mode": "poke", "soft_fail": True},
    "soft_fail_deferrable": {"deferrable": True, "soft_fail": True},
    "soft_fail_timeout_deferrable": {"deferrable": True, "soft_fail": True, "timeout": 1},
    "missing_poke": {"mode": "poke", "operation_name": MISSING},
    "missing_reschedule": {"mode": "reschedule", "operation_name": MISSING},
    "missing_deferrable": {"deferrable": True, "operation_name": MISSING},
}


@task
def create_issue_model() -> str:
    client = ContactCenterInsightsHook().get_conn()
    operation = client.create_issue_model(
        parent=PARENT, issue_model={"display_name": "weekly-topics", "input_data_config": {"filter": 'medium="CHAT"'}}
    )
    return str(operation.operation.name)


@task
def verify_xcom_contract(ti: Any = None) -> str:
    """Fail unless the sensor's XComs match what GetIssueModel says about the model."""
    response = ti.xcom_pull(task_ids="wait")
    operation = ti.xcom_pull(task_ids="wait", key="operation")
    name = ti.xcom_pull(task_ids="wait", key="issue_model_name")
    stats = ti.xcom_pull(task_ids="wait", key="training_stats")
    from google.protobuf import json_format

    client = ContactCenterInsightsHook().get_conn()
    expected = json_format.MessageToDict(client.get_issue_model(name=name)._pb)
    expected["@type"] = "type.googleapis.com/google.cloud.contactcenterinsights.v1.IssueModel"
    problems = []
    if response != expected:
        problems.append(f"return_value {response!r} != GetIssueModel {expected!r}")
    if operation.get("response") != response or operation.get("done") is not True:
        problems.append(f"operation XCom {operation!r} does not hold the response")
    if name != expected["name"]:
        problems.append(f"issue_model_name {name!r} != {expected['name']!r}")
    if stats != expected["trainingStats"]:
        problems.append(f"training_stats {stats!r} != {expected['trainingStats']!r}")
    if problems:
        raise AssertionError("; ".join(problems))
    return str(name)


for _scenario, _kwargs in SCENARIOS.items():
    with DAG(
        dag_id=f"ccai_test_sensor_{_scenario}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["ccai-test"],
    ):
        _kwargs = {"operation_name": "{{ ti.xcom_pull(task_ids='create_issue_model') }}", "timeout": 60,
                   "poke_interval": 0.2, **_kwargs}
        _sensor = ContactCenterInsightsOperationSensor(task_id="wait", **_kwargs)
        create_issue_model() >> _sensor >> verify_xcom_contract()


# Templates that render to something that is not an operation name: the task must fail at render
# time, before any API call.
for _dag_id, _template, _native in [
    ("ccai_test_sensor_bad_template", "{{ 'projects/p/locations/l/operations/' ~ '../x' }}", False),
    ("ccai_test_sensor_native_non_string", "{{ 42 }}", True),
]:
    with DAG(
        dag_id=_dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        render_template_as_native_obj=_native,
        tags=["ccai-test"],
    ):
        ContactCenterInsightsOperationSensor(task_id="wait", operation_name=_template, poke_interval=0.2, timeout=5)
