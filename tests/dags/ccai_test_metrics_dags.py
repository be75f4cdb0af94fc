"""The DAG ``tests/test_metrics.py`` runs with ``airflow dags test``: one wait of each ending a metric counts.

``train`` succeeds after a deferral; ``wait_failed`` waits on an operation that fails and ``wait_missing`` on
one that does not exist (both soft-fail, so the run succeeds); the test passes both names in the run's conf.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from ccai_airflow.operators import ContactCenterInsightsCreateIssueModelOperator
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

with DAG(
    dag_id="ccai_test_metrics",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    ContactCenterInsightsCreateIssueModelOperator(
        task_id="train", project_id="test-project", location="us-central1",
        issue_model={"display_name": "metrics", "input_data_config": {"filter": 'medium="CHAT"'}},
        deferrable=True, poll_interval=0.3,
    )
    ContactCenterInsightsOperationSensor(
        task_id="wait_failed", operation_name="{{ dag_run.conf['failed_operation'] }}",
        deferrable=True, soft_fail=True, poke_interval=0.3,
    )
    ContactCenterInsightsOperationSensor(
        task_id="wait_missing", operation_name="{{ dag_run.conf['missing_operation'] }}",
        mode="poke", soft_fail=True, poke_interval=0.3,
    )
