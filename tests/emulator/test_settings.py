"""The location-level methods (``settings.LocationMethods``): settings, the encryption spec, metrics, QA
scorecard tuning; both transports."""

from __future__ import annotations

import datetime

import pytest
from google.cloud import contact_center_insights_v1 as ci

from ccai_airflow.emulator import Emulator
from tests.conftest import PARENT
from tests.emulator.clients import Client, error_of, status_of, unpack, wait_done

# The same on every Airflow: CI runs it on the default minor only (see docs/development.md).
pytestmark = pytest.mark.airflow_independent


KEY = f"{PARENT}/keyRings/r/cryptoKeys/k"


SPEC = f"{PARENT}/encryptionSpec"


def _ago(days: float) -> str:
    moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def test_encryption_spec_needs_an_empty_location_a_local_key_and_is_immutable(
    emulator: Emulator, api: Client
) -> None:
    other = KEY.replace("us-central1", "europe-west1")
    err = error_of(lambda: api.initialize_encryption_spec(encryption_spec={"name": SPEC, "kms_key": other}))
    assert status_of(err) == "INVALID_ARGUMENT" and "location" in err.message, err
    op = wait_done(api, api.initialize_encryption_spec(encryption_spec={"name": SPEC, "kms_key": KEY}).operation.name)
    assert unpack(op.metadata, ci.InitializeEncryptionSpecMetadata).request.encryption_spec.kms_key == KEY
    err = error_of(lambda: api.initialize_encryption_spec(encryption_spec={"name": SPEC, "kms_key": KEY}))
    assert status_of(err) == "FAILED_PRECONDITION" and "immutable" in err.message, err
    elsewhere = "projects/test-project/locations/europe-west1"
    emulator.seed_conversations(elsewhere, 1)
    err = error_of(lambda: api.initialize_encryption_spec(
        encryption_spec={"name": f"{elsewhere}/encryptionSpec", "kms_key": other}))
    assert status_of(err) == "FAILED_PRECONDITION" and "already has 1 resources" in err.message, err


def test_query_metrics_counts_the_window_and_needs_one(emulator: Emulator, api: Client) -> None:
    emulator.seed_conversations(PARENT, 3, age_days=10)
    emulator.seed_conversations(PARENT, 2, age_days=100)
    window = f'create_time >= "{_ago(30)}" AND create_time < "{_ago(0)}"'
    op = wait_done(api, api.query_metrics(request={"location": PARENT, "filter": window}).operation.name)
    (only,) = unpack(op.response, ci.QueryMetricsResponse).slices
    assert only.total.conversation_measure.conversation_count == 3
    for fields, code in [({"filter": f'create_time >= "{_ago(30)}"'}, "INVALID_ARGUMENT"),
                         ({"filter": window, "dimensions": [{"dimension_key": "ISSUE"}] * 2}, "INVALID_ARGUMENT"),
                         ({"filter": window, "dimensions": [{"dimension_key": "ISSUE"}]}, "UNIMPLEMENTED")]:
        err = error_of(lambda fields=fields: api.query_metrics(request={"location": PARENT, **fields}))
        assert status_of(err) == code, (fields, err)


@pytest.mark.parametrize("validate_only", [False, True])
def test_tune_reports_validation_and_tuning_in_the_metadata(api: Client, validate_only: bool) -> None:
    revision = f"{PARENT}/qaScorecards/s/revisions/r"
    lro = api.tune_qa_scorecard_revision(parent=revision, filter='create_time > "x"', validate_only=validate_only)
    metadata = unpack(wait_done(api, lro.operation.name).metadata, ci.TuneQaScorecardRevisionMetadata)
    assert metadata.tuning_completion_ratio == 1.0
    assert len(metadata.qa_question_dataset_validation_results) == 2
    assert len(metadata.qa_question_dataset_tuning_metrics) == (0 if validate_only else 2)


def test_get_settings(api: Client) -> None:
    settings = api.get_settings(name=f"{PARENT}/settings")
    assert settings.name == f"{PARENT}/settings" and settings.create_time
