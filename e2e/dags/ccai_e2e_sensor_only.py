"""A sensor-only DAG for the end-to-end check: wait (deferrable) on the operation in the run's conf."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

with DAG(
    dag_id="ccai_e2e_sensor_only",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=500,
    max_active_tasks=500,
    tags=["ccai", "e2e"],
):
    ContactCenterInsightsOperationSensor(
        task_id="wait",
        operation_name="{{ dag_run.conf['operation_name'] }}",
        deferrable=True,
        poke_interval=5,
        timeout=900,
    )
