"""DAGs of the sensor's ``expected_response_type``: a sensor given an ExportInsightsData operation where its
downstream expects an IssueModel (issue 26), in every mode, and sensors whose expectation holds."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

PARENT = "projects/test-project/locations/us-central1"
ISSUE_MODEL = "google.cloud.contactcenterinsights.v1.IssueModel"
ISSUE_MODEL_URL = f"type.googleapis.com/{ISSUE_MODEL}"


@task
def start_export() -> str:
    request = types.ExportInsightsDataRequest(parent=PARENT, big_query_destination={"dataset": "d", "table": "t"})
    return str(ContactCenterInsightsHook().start_operation(request).name)


@task
def start_create() -> str:
    request = types.CreateIssueModelRequest(parent=PARENT, issue_model={"display_name": "topics"})
    return str(ContactCenterInsightsHook().start_operation(request).name)


def _sensor(upstream: str, **kwargs: Any) -> ContactCenterInsightsOperationSensor:
    return ContactCenterInsightsOperationSensor(
        task_id="wait", operation_name=f"{{{{ ti.xcom_pull(task_ids='{upstream}') }}}}", poke_interval=0.2, timeout=60,
        **kwargs,
    )


# dag id suffix: (the task that starts the operation, the sensor's arguments)
SCENARIOS: dict[str, tuple[Any, dict[str, Any]]] = {
    "mismatch_poke": (start_export, {"mode": "poke", "expected_response_type": ISSUE_MODEL_URL}),
    "mismatch_reschedule": (start_export, {"mode": "reschedule", "expected_response_type": ISSUE_MODEL}),
    "mismatch_deferrable": (start_export, {"deferrable": True, "expected_response_type": ISSUE_MODEL_URL}),
    "mismatch_soft_fail_deferrable": (start_export, {"deferrable": True, "soft_fail": True,
                                                     "expected_response_type": ISSUE_MODEL}),
    "match_poke": (start_create, {"mode": "poke", "expected_response_type": ISSUE_MODEL}),
    "match_deferrable": (start_create, {"deferrable": True, "expected_response_type": ISSUE_MODEL_URL}),
    "not_a_model": (start_export, {"mode": "poke"}),
}

for _suffix, (_start, _kwargs) in SCENARIOS.items():
    with DAG(dag_id=f"ccai_test_response_type_{_suffix}", schedule=None, catchup=False,
             start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), tags=["ccai-test"]):
        _start() >> _sensor(_start.function.__name__, **_kwargs)
