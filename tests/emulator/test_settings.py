"""The location-level methods (``settings.LocationMethods``): settings, the encryption spec, metrics, QA
scorecard tuning; both transports."""

from __future__ import annotations

import datetime

import pytest
from google.cloud import contact_center_insights_v1 as ci
from google.protobuf import field_mask_pb2

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


# -- UpdateSettings (issue 23) ----------------------------------------------------------------------
SETTINGS = f"{PARENT}/settings"
TOPIC = "projects/test-project/topics/create-conversation-1a2b"


def test_update_settings_as_googles_samples_do(emulator: Emulator, api: Client) -> None:
    """set_project_ttl.py and enable_pubsub_notifications.py, then their tests' clean-ups (a value left unset with
    its path in the mask clears it)."""
    before = api.get_settings(name=SETTINGS)
    emulator.advance_clock(5)
    settings = ci.Settings(name=SETTINGS, conversation_ttl=datetime.timedelta(days=1))
    updated = api.update_settings(settings=settings, update_mask=field_mask_pb2.FieldMask(paths=["conversation_ttl"]))
    assert updated.conversation_ttl == datetime.timedelta(days=1) and updated.language_code == before.language_code
    assert updated.create_time == before.create_time and updated.update_time > before.update_time
    assert api.get_settings(name=SETTINGS).conversation_ttl == datetime.timedelta(days=1)
    notify = {"create-analysis": "projects/test-project/topics/create-analysis-1a2b", "create-conversation": TOPIC}
    updated = api.update_settings(settings={"name": SETTINGS, "pubsub_notification_settings": notify},
                                  update_mask={"paths": ["pubsub_notification_settings"]})
    assert dict(updated.pubsub_notification_settings) == notify and updated.conversation_ttl
    cleared = api.update_settings(settings={"name": SETTINGS}, update_mask={"paths": ["conversation_ttl"]})
    assert not cleared.conversation_ttl and dict(cleared.pubsub_notification_settings) == notify
    cleared = api.update_settings(settings={"name": SETTINGS, "pubsub_notification_settings": {}},
                                  update_mask={"paths": ["pubsub_notification_settings"]})
    assert not cleared.pubsub_notification_settings
    other = api.get_settings(name="projects/test-project/locations/europe-west1/settings")
    assert other.name.endswith("europe-west1/settings"), "each location has its own settings"


@pytest.mark.parametrize(("fields", "paths", "shown"), [
    ({"pubsub_notification_settings": {"delete-conversation": TOPIC}}, ["pubsub_notification_settings"],
     "Invalid settings.pubsub_notification_settings key 'delete-conversation'"),
    ({"pubsub_notification_settings": {"all-triggers": "topics/t1"}}, ["pubsub_notification_settings"],
     "Invalid settings.pubsub_notification_settings['all-triggers'] 'topics/t1'"),
    ({"pubsub_notification_settings": {"all-triggers": "projects/p/topics/goog-x"}},
     ["pubsub_notification_settings"], "'projects/p/topics/goog-x': expected a Pub/Sub topic"),
    ({"pubsub_notification_settings": {"all-triggers": "projects/p/topics/1x"}},
     ["pubsub_notification_settings"], "'projects/p/topics/1x'"),
    ({"conversation_ttl": {"seconds": -60}}, ["conversation_ttl"], "Invalid settings.conversation_ttl -60s"),
    ({"analysis_config": {"upload_conversation_analysis_percentage": 101}}, ["analysis_config"],
     "Invalid settings.analysis_config.upload_conversation_analysis_percentage 101"),
    ({"language_code": "fr-FR"}, ["language"], "Settings has no field 'language'"),
    ({"language_code": "fr-FR"}, [], "Invalid update_mask"),
])
def test_update_settings_refusals_change_nothing(
    api: Client, fields: dict[str, object], paths: list[str], shown: str
) -> None:
    before = api.get_settings(name=SETTINGS)
    err = error_of(lambda: api.update_settings(settings={"name": SETTINGS, **fields}, update_mask={"paths": paths}))
    assert status_of(err) == "INVALID_ARGUMENT" and shown in err.message, err
    assert api.get_settings(name=SETTINGS) == before


def test_the_settings_ttl_is_the_default_of_new_conversations(api: Client) -> None:
    """conversation_ttl: "The default TTL for newly-created conversations. If a conversation has a specified
    expiration, that value will be used instead. Changing this value will not change the expiration of existing
    conversations." """
    older = api.create_conversation(parent=PARENT, conversation={})
    api.update_settings(settings={"name": SETTINGS, "conversation_ttl": datetime.timedelta(hours=6)},
                        update_mask={"paths": ["conversation_ttl"]})
    plain = api.create_conversation(parent=PARENT, conversation={})
    assert plain.expire_time - plain.create_time == datetime.timedelta(hours=6)
    own = api.create_conversation(parent=PARENT, conversation={"ttl": datetime.timedelta(hours=1)})
    assert own.expire_time - own.create_time == datetime.timedelta(hours=1)
    lro = api.upload_conversation(request={"parent": PARENT, "conversation": {}})
    uploaded = unpack(wait_done(api, lro.operation.name).response, ci.Conversation)
    assert uploaded.expire_time - uploaded.create_time == datetime.timedelta(hours=6)
    assert not api.get_conversation(name=older.name).expire_time
    elsewhere = api.create_conversation(parent="projects/test-project/locations/europe-west1", conversation={})
    assert not elsewhere.expire_time, "another location's settings"


def test_a_phrase_matcher_is_a_resource_the_encryption_spec_needs_absent(api: Client) -> None:
    api.create_phrase_matcher(parent=PARENT, phrase_matcher={"type_": "ANY_OF"})
    err = error_of(lambda: api.initialize_encryption_spec(encryption_spec={"name": SPEC, "kms_key": KEY}))
    assert status_of(err) == "FAILED_PRECONDITION" and "phraseMatchers" in err.message, err
