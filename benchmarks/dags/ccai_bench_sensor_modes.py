"""DAGs for the worker-slot benchmark: start an issue model operation, then wait for it in one mode.

``ccai_bench_sensor_poke``, ``ccai_bench_sensor_reschedule`` and ``ccai_bench_sensor_deferrable`` differ
only in the sensor's mode; every one polls every 5 s. ``benchmarks/worker_slots.py`` runs them with
``airflow dags test`` against the emulator.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

PARENT = "projects/bench-project/locations/us-central1"
MODES: dict[str, dict[str, Any]] = {
    "poke": {"mode": "poke"},
    "reschedule": {"mode": "reschedule"},
    "deferrable": {"deferrable": True},
}


@task
def create_issue_model() -> str:
    operation = ContactCenterInsightsHook().start_operation(types.CreateIssueModelRequest(
        parent=PARENT,
        issue_model={"display_name": "bench-worker-slots", "input_data_config": {"filter": 'medium="CHAT"'}},
    ))
    return str(operation.name)


for _mode, _kwargs in MODES.items():
    with DAG(
        dag_id=f"ccai_bench_sensor_{_mode}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["ccai-bench"],
    ):
        create_issue_model() >> ContactCenterInsightsOperationSensor(
            task_id="wait",
            operation_name="{{ ti.xcom_pull(task_ids='create_issue_model') }}",
            poke_interval=5,
            timeout=3600,
            **_kwargs,
        )
