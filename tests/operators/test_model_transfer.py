"""The operators that move an issue model through Cloud Storage (model_transfer.py): export, import: the requests
they build, and runs by Airflow (dag.test) against the emulator. (test_bad_input.py has their bad URIs and flags;
test_lineage.py their datasets.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.operators import (
    ContactCenterInsightsExportIssueModelOperator,
    ContactCenterInsightsImportIssueModelOperator,
)
from tests.conftest import PARENT
from tests.helpers import run_dag, states, xcom

BASE_TEMPLATES = ("project_id", "location", "gcp_conn_id", "impersonation_chain")
EXPORTED = "gs://models-bucket/setup/model.json"  # where the import DAG's setup task exports its model


def test_export_builds_its_request_from_the_rendered_model_and_object() -> None:
    op = ContactCenterInsightsExportIssueModelOperator(
        task_id="export", issue_model_id="{{ params.model }}", object_uri="gs://models/{{ ds }}/m.json")

    op.render_template_fields({"ds": "2026-01-05", "params": {"model": "42"}})
    request = op.build_request(PARENT)

    assert type(request) is types.ExportIssueModelRequest
    assert request.name == f"{PARENT}/issueModels/42"
    assert request.gcs_destination.object_uri == "gs://models/2026-01-05/m.json"


def test_import_builds_its_request_from_the_rendered_object() -> None:
    op = ContactCenterInsightsImportIssueModelOperator(
        task_id="import", object_uri="gs://models/{{ ds }}/m.json", create_new_model=True)

    op.render_template_fields({"ds": "2026-01-05"})
    request = op.build_request(PARENT)

    assert type(request) is types.ImportIssueModelRequest
    assert request.parent == PARENT
    assert request.gcs_source.object_uri == "gs://models/2026-01-05/m.json"
    assert request.create_new_model is True


def test_import_replaces_the_model_of_the_files_id_unless_told_otherwise() -> None:
    request = ContactCenterInsightsImportIssueModelOperator(
        task_id="import", object_uri="gs://models/m.json").build_request(PARENT)

    assert request.create_new_model is False


@pytest.mark.parametrize(("operator", "kwargs"), [
    (ContactCenterInsightsExportIssueModelOperator, {"issue_model_id": "1"}),
    (ContactCenterInsightsImportIssueModelOperator, {}),
])
def test_the_rendered_object_uri_is_validated_before_any_call(operator: type[Any], kwargs: dict[str, Any]) -> None:
    op = operator(task_id="op", object_uri="gs://models/{{ params.name }}", **kwargs)
    op.render_template_fields({"params": {"name": ""}})

    with pytest.raises(ValueError, match=re.escape("Invalid object_uri 'gs://models/': expected a Cloud Storage")):
        op.build_request(PARENT)


def test_what_each_operator_templates() -> None:
    assert ContactCenterInsightsExportIssueModelOperator.template_fields == (
        *BASE_TEMPLATES, "issue_model_id", "object_uri")
    assert ContactCenterInsightsImportIssueModelOperator.template_fields == (*BASE_TEMPLATES, "object_uri")


def test_export_writes_the_model_to_the_rendered_object(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_op_export_model_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    model = xcom(dag_run, "setup")
    uri = f"gs://models-bucket/{dag_run.logical_date.strftime('%Y-%m-%d')}/model.json"
    assert xcom(dag_run, "operator", "object_uri") == uri
    written = json.loads(emulator_env.read_object(uri))
    assert written["issueModel"]["name"] == model
    assert written["issueModel"]["displayName"] == "setup"


def test_import_finds_and_pushes_the_new_model_it_made(emulator_env: Emulator, airflow_db: str) -> None:
    dag_run = run_dag("ccai_test_op_import_model_wait")

    assert states(dag_run) == {"setup": "success", "operator": "success"}
    exported = json.loads(emulator_env.read_object(EXPORTED))["issueModel"]["name"]
    imported = xcom(dag_run, "operator", "issue_model_name")
    # create_new_model=True: a second model with a new id, beside the one exported.
    assert imported != exported
    assert sorted(m.name for m in ContactCenterInsightsHook().list_issue_models(PARENT)) == sorted([exported, imported])
    model = ContactCenterInsightsHook().get_issue_model(imported)
    assert (model.display_name, model.state) == ("setup", types.IssueModel.State.UNDEPLOYED)
    assert xcom(dag_run, "operator", "contact_center_insights_issue_model").endswith(
        "/issueModels/" + imported.rsplit("/", 1)[-1])
