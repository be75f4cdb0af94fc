"""Cloud Storage beside the emulator, end to end in Airflow: tests/dags/ccai_gcs_roundtrip.py exports a model, the
Google provider's GCSObjectExistenceSensor sees the object in the Cloud Storage emulator (gcp-storage-emulator, through
STORAGE_EMULATOR_HOST and an anonymous google_cloud_default), and ImportIssueModel reads it back from there."""

from __future__ import annotations

import json

import pytest

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.gcs import StorageEmulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from ccai_airflow.testing import CcaiEmulator
from tests.conftest import PARENT
from tests.gcs import storage_client
from tests.helpers import run_dag, states, xcom


@pytest.fixture
def gcs_emulator_env(ccai_gcs: CcaiEmulator) -> Emulator:
    """The test kit's ``ccai_gcs``: the emulator with its objects in the Cloud Storage emulator (empty), and the
    Google provider's GCS hooks pointed there (``STORAGE_EMULATOR_HOST``, the kit's anonymous default connection)."""
    assert ccai_gcs.emulator is not None
    return ccai_gcs.emulator


@pytest.fixture
def emulated_gcs(ccai_storage_emulator_session: StorageEmulator) -> StorageEmulator:
    return ccai_storage_emulator_session


def test_an_exported_model_is_sensed_in_cloud_storage_and_imported_back(
    gcs_emulator_env: Emulator, emulated_gcs: StorageEmulator, airflow_db: str,
) -> None:
    dag_run = run_dag("ccai_gcs_roundtrip")

    assert states(dag_run) == dict.fromkeys(["create", "export", "exists", "exists_by_glob", "import"], "success")
    trained = xcom(dag_run, "create", "issue_model_name")
    name = f"models/{dag_run.logical_date.strftime('%Y-%m-%d')}/topics.json"
    assert xcom(dag_run, "export", "object_uri") == f"gs://ccai-gcs-roundtrip/{name}"
    # In the Cloud Storage emulator, where anyone's client reads it, and nowhere else.
    exported = json.loads(storage_client(emulated_gcs.host).bucket("ccai-gcs-roundtrip").blob(name).download_as_bytes())
    assert exported["issueModel"]["name"] == trained
    assert gcs_emulator_env.list_objects() == [f"gs://ccai-gcs-roundtrip/{name}"]
    assert xcom(dag_run, "exists") is True and xcom(dag_run, "exists_by_glob") is True
    imported = xcom(dag_run, "import", "issue_model_name")
    assert imported != trained
    models = {m.name: m.display_name for m in ContactCenterInsightsHook().list_issue_models(PARENT)}
    assert models == {trained: exported["issueModel"]["displayName"], imported: exported["issueModel"]["displayName"]}


def test_the_gcs_hook_finds_only_what_is_there(gcs_emulator_env: Emulator, airflow_db: str) -> None:
    """What the sensor asks (GCSHook.exists, and GCSHook.list with match_glob for use_glob=True) is answered, not just
    said yes to: an object the emulator's control wrote is there, others are not, a glob matching nothing lists
    nothing (fake-gcs-server 1.54 ignores matchGlob and lists everything: docs/emulator.md, "Cloud Storage")."""
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    hook = GCSHook()
    gcs_emulator_env.write_object("gs://ccai-gcs-roundtrip/other/x.json", "{}")

    assert hook.exists("ccai-gcs-roundtrip", "other/x.json")
    assert not hook.exists("ccai-gcs-roundtrip", "models/2026-01-01/topics.json")
    assert hook.list("ccai-gcs-roundtrip", match_glob="models/*/topics.json") == []
    assert hook.list("ccai-gcs-roundtrip", match_glob="other/*.json") == ["other/x.json"]
