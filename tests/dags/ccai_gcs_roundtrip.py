"""A model through Cloud Storage and back, with the Google provider's own sensor in between: train a model, export it
to an object, wait for the object with GCSObjectExistenceSensor (by name, and by glob), import it as a new model.
tests/test_gcs_roundtrip.py runs it against the emulator with its objects in a Cloud Storage emulator."""

from __future__ import annotations

import pendulum
from airflow.providers.google.cloud.sensors.gcs import GCSObjectExistenceSensor
from airflow.sdk import DAG

from ccai_airflow.operators import (
    ContactCenterInsightsCreateIssueModelOperator,
    ContactCenterInsightsExportIssueModelOperator,
    ContactCenterInsightsImportIssueModelOperator,
)

PROJECT = "test-project"
BUCKET = "ccai-gcs-roundtrip"
OBJECT = "models/{{ ds }}/topics.json"
URI = f"gs://{BUCKET}/{OBJECT}"

with DAG(dag_id="ccai_gcs_roundtrip", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False, tags=["ccai-test"]):
    (
        ContactCenterInsightsCreateIssueModelOperator(
            task_id="create", project_id=PROJECT, poll_interval=0.2,
            issue_model={"display_name": "topics {{ ds }}", "model_type": "TYPE_V2",
                         "input_data_config": {"medium": "CHAT"}})
        >> ContactCenterInsightsExportIssueModelOperator(
            task_id="export", project_id=PROJECT, poll_interval=0.2, object_uri=URI,
            issue_model_id="{{ ti.xcom_pull(task_ids='create', key='issue_model_name') }}")
        >> GCSObjectExistenceSensor(task_id="exists", bucket=BUCKET, object=OBJECT, poke_interval=0.2, timeout=60)
        >> GCSObjectExistenceSensor(task_id="exists_by_glob", bucket=BUCKET, object="models/*/topics.json",
                                    use_glob=True, poke_interval=0.2, timeout=60)
        >> ContactCenterInsightsImportIssueModelOperator(
            task_id="import", project_id=PROJECT, poll_interval=0.2, object_uri=URI, create_new_model=True)
    )
