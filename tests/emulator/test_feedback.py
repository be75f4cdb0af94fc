"""Feedback labels in bulk through the emulator's Cloud Storage (``feedback.FeedbackLabels``): upload, download,
validation; over gRPC and REST with the real client."""

from __future__ import annotations

import json

import pytest
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.control import EmulatorControl
from tests.conftest import PARENT
from tests.emulator.clients import Client, _ok, error_of, status_of, unpack

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


PROD = "projects/prod-project/locations/us-central1"


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
