"""The emulator's in-memory Cloud Storage (``storage.py``): ``gs://BUCKET/OBJECT`` URIs checked by Cloud Storage's
naming rules, objects nothing wrote are NOT_FOUND, objects listed by prefix; through the client and the controls."""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from ccai_airflow.emulator import Emulator, EmulatorControl
from tests.emulator.clients import Client, error_of, status_of, trained_model

pytestmark = pytest.mark.airflow_independent

PROD = "projects/prod-project/locations/us-central1"


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


def test_objects_are_listed_by_prefix_and_a_bad_uri_is_refused_at_write(emulator: Emulator) -> None:
    emulator.write_object("gs://labels-bucket/b.json", "[]")
    emulator.write_object("gs://labels-bucket/a.json", "[1]")
    emulator.write_object("gs://other-bucket/a.json", "{}")
    with EmulatorControl(emulator.rest_url) as control:  # the same store, as another process sees it
        assert control.list_objects("gs://labels-bucket/") == ["gs://labels-bucket/a.json", "gs://labels-bucket/b.json"]
        assert control.read_object("gs://labels-bucket/a.json") == "[1]"
        with pytest.raises(exceptions.InvalidArgument, match="'gs://Labels/x'"):
            control.write_object("gs://Labels/x", "[]")
        with pytest.raises(exceptions.NotFound, match="no such Cloud Storage object"):
            control.read_object("gs://labels-bucket/c.json")
    assert emulator.list_objects() == [
        "gs://labels-bucket/a.json", "gs://labels-bucket/b.json", "gs://other-bucket/a.json"]
