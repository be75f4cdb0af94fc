"""DAGs the swap tests run with dag.test(): replace the deployed issue model with the one named "new".

The test makes the models first (through the hook); ``pick`` finds the one to deploy by its display
name, as a pipeline finds the model its training task made.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import ContactCenterInsightsDeployIssueModelOperator

PROJECT = "test-project"
PARENT = f"projects/{PROJECT}/locations/us-central1"
START = pendulum.datetime(2026, 1, 1, tz="UTC")


@task
def pick(display_name: str = "new") -> str:
    """The name of the location's issue model called ``display_name``."""
    models = ContactCenterInsightsHook().list_issue_models(PARENT)
    return next(str(model.name) for model in models if model.display_name == display_name)


def _swap_dag(dag_id: str, retries: int = 0, **kwargs: Any) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False, tags=["ccai-test"]) as dag:
        pick() >> ContactCenterInsightsDeployIssueModelOperator(
            task_id="swap", project_id=PROJECT, issue_model_id="{{ ti.xcom_pull(task_ids='pick') }}",
            replace_deployed=True, poll_interval=0.2, retries=retries, retry_delay=timedelta(seconds=0), **kwargs,
        )
    return dag


_swap_dag("ccai_test_swap_wait")
_swap_dag("ccai_test_swap_deferrable", deferrable=True)
# Retries: a retry after a lost wait must finish the swap, not start it over.
_swap_dag("ccai_test_swap_retry", retries=1)
_swap_dag("ccai_test_swap_retry_deferrable", retries=1, deferrable=True)
