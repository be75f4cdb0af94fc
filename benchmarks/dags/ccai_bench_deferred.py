"""make bench-deployment: one task per run, which the benchmark defers with its trigger (no scheduler runs it)."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    dag_id="ccai_bench_deferred",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2000,
    tags=["ccai", "bench"],
):
    EmptyOperator(task_id="wait")
