"""DAGs for timeouts, cancel_on_kill and the XCom size guard: a create, then a sensor on it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, task
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

PARENT = "projects/test-project/locations/us-central1"

SCENARIOS: dict[str, dict[str, Any]] = {
    "cancel_poke": {"mode": "poke", "timeout": 1, "cancel_on_kill": True},
    "cancel_reschedule": {"mode": "reschedule", "timeout": 2, "poke_interval": 0.5, "cancel_on_kill": True},
    "cancel_deferrable": {"deferrable": True, "timeout": 1, "cancel_on_kill": True},
    "cancel_execution_timeout": {"mode": "poke", "execution_timeout": timedelta(seconds=2), "cancel_on_kill": True},
    "no_cancel_deferrable": {"deferrable": True, "timeout": 1},
    # Try 1 ends by execution_timeout (3 s, retryable); try 2 must end 4 s after try 1 began.
    "first_try_deferrable": {"deferrable": True, "timeout": 6, "execution_timeout": timedelta(seconds=4),
                             "retries": 1, "retry_delay": timedelta(0)},
    "xcom_too_large": {"mode": "poke", "max_xcom_bytes": 500},
    "xcom_fields": {"deferrable": True, "max_xcom_bytes": 1500,
                    "response_fields": ["name", "trainingStats.analyzedConversationsCount"]},
    "xcom_bad_field": {"mode": "poke", "response_fields": ["name", "trainingStats.nope"]},
}


@task
def create_issue_model() -> str:
    request = types.CreateIssueModelRequest(parent=PARENT, issue_model={"display_name": "guarded"})
    operation = ContactCenterInsightsHook().start_operation(request)
    return str(operation.name)


for _scenario, _kwargs in SCENARIOS.items():
    with DAG(dag_id=f"ccai_test_guard_{_scenario}", schedule=None, catchup=False,
             start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), tags=["ccai-test"]):
        _kwargs = {"poke_interval": 0.2, "timeout": 60, **_kwargs}
        create_issue_model() >> ContactCenterInsightsOperationSensor(
            task_id="wait", operation_name="{{ ti.xcom_pull(task_ids='create_issue_model') }}", **_kwargs
        )
