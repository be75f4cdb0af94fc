"""A sensor-only DAG for make e2e-distributed's API outage: as ccai_e2e_sensor_only, with a 60 s poll interval.

An interval longer than the retry backoff's cap (32 s), so "finished within one poll interval of the
outage's end" says that an outage costs no more than one poll.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

with DAG(
    dag_id="ccai_e2e_sensor_outage",
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
        poke_interval=60,
        timeout=1800,
    )
