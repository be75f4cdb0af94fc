"""Sensor-only DAGs for the end-to-end checks: wait (deferrable) on the operation in the run's conf.

``ccai_e2e_sensor_only`` polls every 5 s (make e2e, and make e2e-distributed's failover, database
restart and scheduler kill). ``ccai_e2e_sensor_outage`` polls every 60 s, longer than the retry
backoff's cap (32 s), so make e2e-distributed's "finished within one poll interval of the outage's
end" says that an outage costs no more than one poll.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

for dag_id, poke_interval, timeout in (("ccai_e2e_sensor_only", 5, 900), ("ccai_e2e_sensor_outage", 60, 1800)):
    with DAG(
        dag_id=dag_id,
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
            poke_interval=poke_interval,
            timeout=timeout,
        )
