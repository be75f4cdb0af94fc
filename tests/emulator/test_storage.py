"""The emulator's in-memory Cloud Storage: issue models exported and imported, feedback labels uploaded and
downloaded, issues of a model; over gRPC and REST with the real client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator import Emulator, EmulatorControl
from tests.conftest import PARENT
from tests.emulator.test_emulator import (
    Client,
    _grpc_client,
    _rest_client,
    error_of,
    status_of,
    trained_model,
    unpack,
    wait_done,
)

pytestmark = pytest.mark.airflow_independent

PROD = "projects/prod-project/locations/us-central1"
URI = "gs://models-bucket/exports/model.json"


@pytest.fixture(params=["grpc", "rest"])
def client(request: pytest.FixtureRequest, emulator: Emulator) -> Iterator[Client]:
    made, close = (_grpc_client if request.param == "grpc" else _rest_client)(emulator)
    yield made
    close()


@pytest.fixture
def grpc_client(emulator: Emulator) -> Iterator[Client]:
    made, close = _grpc_client(emulator)
    yield made
    close()


def _ok(client: Client, lro: Any) -> Any:
    op = wait_done(client, lro.operation.name)
    assert not op.HasField("error"), op.error
    return op


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


def test_import_of_an_object_nothing_wrote_is_not_found(client: Client, emulator: Emulator) -> None:
    err = error_of(lambda: client.import_issue_model(
        request={"parent": PROD, "gcs_source": {"object_uri": "gs://models-bucket/never-written.json"}}))
    assert status_of(err) == "NOT_FOUND" and "gs://models-bucket/never-written.json" in err.message
    emulator.write_object("gs://models-bucket/labels.json", "[]")
    err = error_of(lambda: client.import_issue_model(
        request={"parent": PROD, "gcs_source": {"object_uri": "gs://models-bucket/labels.json"}}))
    assert status_of(err) == "INVALID_ARGUMENT" and "not an issue model export" in err.message
    assert not emulator.backend._operations


@pytest.mark.parametrize("uri", ["models/m.json", "gs://", "gs://bucket", "gs://bucket/", "gs://Bucket/m",
                                 "gs://b/m", "s3://bucket/m", "gs://bucket/a\nb"])
def test_malformed_object_uris_are_invalid_argument(grpc_client: Client, emulator: Emulator, uri: str) -> None:
    model = trained_model(grpc_client)
    err = error_of(lambda: grpc_client.export_issue_model(
        request={"name": model.name, "gcs_destination": {"object_uri": uri}}))
    assert status_of(err) == "INVALID_ARGUMENT"
    assert f"Invalid gcs_destination.object_uri {uri!r}: expected gs://<bucket-name>/<object-name>" in err.message


def test_export_needs_a_destination_and_a_v2_model(grpc_client: Client) -> None:
    model = trained_model(grpc_client)
    err = error_of(lambda: grpc_client.export_issue_model(request={"name": model.name}))
    assert status_of(err) == "INVALID_ARGUMENT" and "gcs_destination" in err.message
    lro = grpc_client.create_issue_model(parent=PARENT, issue_model={"display_name": "v1", "model_type": "TYPE_V1"})
    v1 = unpack(_ok(grpc_client, lro).response, ci.IssueModel)
    err = error_of(lambda: grpc_client.export_issue_model(
        request={"name": v1.name, "gcs_destination": {"object_uri": URI}}))
    assert status_of(err) == "FAILED_PRECONDITION" and "TYPE_V1" in err.message


def test_feedback_labels_download_then_upload_elsewhere(client: Client, emulator: Emulator) -> None:
    control = EmulatorControl(emulator.rest_url)  # seeded as another process would, through the HTTP controls
    labels = [{"name": f"projects/x/locations/y/conversations/c{i}/feedbackLabels/l{i}",
               "labeledResource": f"{PARENT}/issueModels/1/issues/{i}", "label": f"topic-{i}"} for i in range(3)]
    control.write_object("gs://labels-bucket/seed.json", json.dumps([*labels, {"label": "no name"}]))
    upload = _ok(client, client.bulk_upload_feedback_labels(request={
        "parent": PARENT, "gcs_source": {"object_uri": "gs://labels-bucket/seed.json", "format_": "JSON"}}))
    stats = unpack(upload.metadata, ci.BulkUploadFeedbackLabelsMetadata)
    assert (stats.upload_stats.processed_object_count, stats.upload_stats.failed_validation_count,
            stats.upload_stats.successful_upload_count) == (4, 1, 3)
    assert len(stats.partial_errors) == 1 and "Record 3" in stats.partial_errors[0].message

    download = _ok(client, client.bulk_download_feedback_labels(request={
        "parent": PARENT, "gcs_destination": {"object_uri": "gs://labels-bucket/out", "format_": "CSV"}}))
    written = unpack(download.metadata, ci.BulkDownloadFeedbackLabelsMetadata).download_stats
    assert list(written.file_names) == ["gs://labels-bucket/out.csv"] and written.successful_download_count == 3
    assert control.read_object("gs://labels-bucket/out.csv").splitlines()[0] == "name,labeled_resource,label"

    again = _ok(client, client.bulk_upload_feedback_labels(request={
        "parent": PROD, "gcs_source": {"object_uri": "gs://labels-bucket/out.csv", "format_": "CSV"}}))
    assert unpack(again.metadata, ci.BulkUploadFeedbackLabelsMetadata).upload_stats.successful_upload_count == 3
    split = _ok(client, client.bulk_download_feedback_labels(request={
        "parent": PROD, "gcs_destination": {"object_uri": "gs://labels-bucket/prod", "format_": "JSON"}}))
    files = unpack(split.metadata, ci.BulkDownloadFeedbackLabelsMetadata).download_stats.file_names
    assert list(files) == [f"gs://labels-bucket/prod-0000{i}-of-00003.json" for i in (1, 2, 3)]  # 1 per JSON file
    assert json.loads(control.read_object(files[0]))[0]["name"].startswith(PROD + "/conversations/c0/")
    err = error_of(lambda: client.bulk_upload_feedback_labels(request={
        "parent": PARENT, "gcs_source": {"object_uri": "gs://labels-bucket/none.json", "format_": "JSON"}}))
    assert status_of(err) == "NOT_FOUND"
    control.close()


def test_validate_only_uploads_nothing(grpc_client: Client, emulator: Emulator) -> None:
    emulator.write_object("gs://labels-bucket/one.json", json.dumps(
        {"name": "projects/x/locations/y/conversations/c/feedbackLabels/l", "labeledResource": "r", "label": "a"}))
    op = _ok(grpc_client, grpc_client.bulk_upload_feedback_labels(request={
        "parent": PARENT, "validate_only": True,
        "gcs_source": {"object_uri": "gs://labels-bucket/one.json", "format_": "JSON"}}))
    assert unpack(op.metadata, ci.BulkUploadFeedbackLabelsMetadata).upload_stats.successful_upload_count == 0
    assert not emulator.backend._labels
