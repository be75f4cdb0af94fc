"""DAGs of emulator mode's two faults a new user hit (issue 26): a misspelt ``gcp_conn_id``, which must fail as in
production, and an emulator variable naming a port nothing listens at, which must be named in the error."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG

from ccai_airflow.operators import ContactCenterInsightsCreateIssueModelOperator
from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

PROJECT = "test-project"
OPERATION = f"projects/{PROJECT}/locations/us-central1/operations/1"
MISSPELT_CONN_ID = "google_cloud_defualt"


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id=dag_id, schedule=None, catchup=False, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
               tags=["ccai-test"])


# dag id suffix: the arguments of its one task (a sensor when there is no issue_model)
SCENARIOS: dict[str, dict[str, Any]] = {
    "misspelt_conn_sensor_poke": {"gcp_conn_id": MISSPELT_CONN_ID, "mode": "poke"},
    "misspelt_conn_sensor_deferrable": {"gcp_conn_id": MISSPELT_CONN_ID, "deferrable": True},
    "misspelt_conn_sensor_rest": {"gcp_conn_id": MISSPELT_CONN_ID, "transport": "rest"},
    "misspelt_conn_operator": {"gcp_conn_id": MISSPELT_CONN_ID, "issue_model": {"display_name": "m"}},
    "unreachable_sensor_poke": {"mode": "poke", "timeout": 3},
    "unreachable_sensor_deferrable": {"deferrable": True, "timeout": 3},
    "unreachable_operator": {"issue_model": {"display_name": "m"}},
}

for _suffix, _kwargs in SCENARIOS.items():
    with _dag(f"ccai_test_emulator_mode_{_suffix}"):
        if "issue_model" in _kwargs:
            ContactCenterInsightsCreateIssueModelOperator(task_id="task", project_id=PROJECT, poll_interval=0.2,
                                                          **_kwargs)
        else:
            ContactCenterInsightsOperationSensor(task_id="task", operation_name=OPERATION, poke_interval=0.5,
                                                 **{"timeout": 30, **_kwargs})
