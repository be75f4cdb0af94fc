"""Sensor-only DAGs for the end-to-end checks: wait (deferrable) on the operation in the run's conf.

``ccai_e2e_sensor_only`` polls every 5 s (make e2e, and make e2e-distributed's failover, database
restart and scheduler kill). ``ccai_e2e_sensor_outage`` polls every 60 s, longer than the retry
backoff's cap (32 s), so make e2e-distributed's "finished within one poll interval of the outage's
end" says that an outage costs no more than one poll. ``ccai_e2e_sensor_notified`` polls every 10 minutes
and is woken by Insights' Pub/Sub notification of an export (make e2e's [5]).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

# A subscription of the topic make e2e's location notifies its exports to (the watcher has its own).
NOTIFIED_SUBSCRIPTION = "projects/ccai-pubsub/subscriptions/insights-exports-sensors"

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

with DAG(
    dag_id="ccai_e2e_sensor_notified",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["ccai", "e2e"],
):
    ContactCenterInsightsOperationSensor(
        task_id="wait",
        operation_name="{{ dag_run.conf['operation_name'] }}",
        deferrable=True,
        poke_interval=600,  # only the notification can end it within the check's bound
        timeout=900,
        notification_subscription=NOTIFIED_SUBSCRIPTION,
    )
