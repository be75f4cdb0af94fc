"""Issues of a model and moving a model through the emulator's Cloud Storage (``transfer.IssueModelTransfer``):
ExportIssueModel, ImportIssueModel, GetIssue, ListIssues; over gRPC and REST with the real client."""

from __future__ import annotations

import json

import pytest
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT
from tests.emulator.clients import Client, _ok, error_of, status_of, trained_model, unpack

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


PROD = "projects/prod-project/locations/us-central1"


URI = "gs://models-bucket/exports/model.json"


def test_a_trained_model_has_the_issues_of_its_stats(client: Client) -> None:
    model = trained_model(client)
    issues = client.list_issues(parent=model.name).issues
    stats = model.training_stats.issue_stats
    assert len(issues) == model.issue_count == len(stats)
    assert {i.name: i.display_name for i in issues} == {k: v.display_name for k, v in stats.items()}
    assert client.get_issue(name=issues[0].name) == issues[0]
    assert status_of(error_of(lambda: client.get_issue(name=f"{model.name}/issues/0"))) == "NOT_FOUND"


def test_export_then_import_into_another_project_round_trips_the_issues(client: Client, emulator: Emulator) -> None:
    model = trained_model(client)
    export = _ok(client, client.export_issue_model(
        request={"name": model.name, "gcs_destination": {"object_uri": URI}}))
    metadata = unpack(export.metadata, ci.ExportIssueModelMetadata)
    assert metadata.request.gcs_destination.object_uri == URI and metadata.end_time
    unpack(export.response, ci.ExportIssueModelResponse)
    assert json.loads(emulator.read_object(URI))["issueModel"]["name"] == model.name

    imported = _ok(client, client.import_issue_model(
        request={"parent": PROD, "gcs_source": {"object_uri": URI}, "create_new_model": True}))
    unpack(imported.response, ci.ImportIssueModelResponse)
    (new,) = client.list_issue_models(parent=PROD).issue_models
    assert new.name != model.name and new.name.startswith(PROD + "/issueModels/")
    assert new.state == ci.IssueModel.State.UNDEPLOYED and new.display_name == model.display_name
    old_stats = sorted((s.display_name, s.labeled_conversations_count)
                       for s in model.training_stats.issue_stats.values())
    new_stats = sorted((s.display_name, s.labeled_conversations_count) for s in new.training_stats.issue_stats.values())
    assert new_stats == old_stats
    issues = client.list_issues(parent=new.name).issues
    assert sorted(i.display_name for i in issues) == sorted(name for name, _ in old_stats)
    assert all(i.name.startswith(new.name + "/issues/") for i in issues)


def test_import_without_create_new_model_replaces_the_same_id_in_its_project(client: Client) -> None:
    model = trained_model(client)
    _ok(client, client.export_issue_model(request={"name": model.name, "gcs_destination": {"object_uri": URI}}))
    _ok(client, client.import_issue_model(request={"parent": PARENT, "gcs_source": {"object_uri": URI}}))
    (replaced,) = client.list_issue_models(parent=PARENT).issue_models
    assert replaced.name == model.name and replaced.create_time == model.create_time
    assert replaced.update_time >= model.update_time


def test_export_needs_a_destination_and_a_v2_model(grpc_client: Client) -> None:
    model = trained_model(grpc_client)
    err = error_of(lambda: grpc_client.export_issue_model(request={"name": model.name}))
    assert status_of(err) == "INVALID_ARGUMENT" and "gcs_destination" in err.message
    lro = grpc_client.create_issue_model(parent=PARENT, issue_model={"display_name": "v1", "model_type": "TYPE_V1"})
    v1 = unpack(_ok(grpc_client, lro).response, ci.IssueModel)
    err = error_of(lambda: grpc_client.export_issue_model(
        request={"name": v1.name, "gcs_destination": {"object_uri": URI}}))
    assert status_of(err) == "FAILED_PRECONDITION" and "TYPE_V1" in err.message
