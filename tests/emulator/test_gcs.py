"""A real Cloud Storage beside the emulator (emulator/gcs.py): the launcher of gcp-storage-emulator, GcsStorage's
round trip and errors (the in-memory Storage's, to the message), and the Insights emulator keeping its objects there.
The DAG that exports, senses and imports through it: tests/test_gcs_roundtrip.py."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Iterator

import pytest
from google.api_core import exceptions
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.emulator import Emulator, gcs
from ccai_airflow.emulator.backend import Backend
from ccai_airflow.emulator.gcs import GcsStorage, StorageEmulator, storage_for, storage_from_environment
from ccai_airflow.emulator.storage import Storage
from tests.conftest import PARENT
from tests.emulator.clients import _grpc_client
from tests.gcs import running_storage_emulator, storage_client

pytestmark = pytest.mark.airflow_independent


@pytest.fixture(scope="module")
def emulated_gcs() -> Iterator[StorageEmulator]:
    with running_storage_emulator() as emulator:
        yield emulator


@pytest.fixture
def store(emulated_gcs: StorageEmulator) -> GcsStorage:
    """A GcsStorage on an empty Cloud Storage emulator (no objects, no buckets)."""
    emulated_gcs.wipe()
    return GcsStorage(emulated_gcs.host)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- the launcher ---------------------------------------------------------------------------------------------------
def test_the_launcher_serves_on_loopback_until_stopped_by_its_pid() -> None:
    with running_storage_emulator() as emulator:
        assert emulator.host == f"http://127.0.0.1:{emulator.port}"
        assert emulator.process is not None
        pid = emulator.process.pid
        with urllib.request.urlopen(f"{emulator.host}/storage/v1/b?project=p", timeout=5) as answer:
            assert json.loads(answer.read()).get("items", []) == []
    assert emulator.process is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{emulator.host}/", timeout=2)


def test_a_taken_port_fails_the_start_at_once_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        launcher = StorageEmulator(port=port, startup_timeout=20)
        with pytest.raises(RuntimeError, match=f"(?s)did not start on http://127.0.0.1:{port}: .*Address already"):
            launcher.start()
    assert launcher.process is None


def test_without_the_package_the_start_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcs, "MODULE", "no_such_storage_emulator")

    assert not gcs.find_storage_emulator()
    with pytest.raises(FileNotFoundError, match="pip install gcp-storage-emulator"):
        StorageEmulator().start()


# -- GcsStorage: Storage's methods and errors, on the Cloud Storage emulator -----------------------------------------
def test_objects_round_trip_and_are_what_googles_client_sees(store: GcsStorage) -> None:
    store.write("gs://models-bucket/a/model.json", b'{"a": 1}')
    store.write("gs://models-bucket/a/model.json", b'{"a": 2}')  # overwritten, as Cloud Storage does
    store.write("gs://models-bucket/b/labels.csv", "é,ü\n".encode())
    store.write("gs://labels-bucket/x.json", b"[]")

    assert store.read("gs://models-bucket/a/model.json") == b'{"a": 2}'
    client = storage_client(store.host)
    assert client.bucket("models-bucket").blob("b/labels.csv").download_as_bytes() == "é,ü\n".encode()
    client.bucket("labels-bucket").blob("y.json").upload_from_string(b"{}")  # a user's object, seen too
    assert store.read("gs://labels-bucket/y.json") == b"{}"
    assert store.names() == ["gs://labels-bucket/x.json", "gs://labels-bucket/y.json",
                             "gs://models-bucket/a/model.json", "gs://models-bucket/b/labels.csv"]
    assert store.names("gs://models-bucket/a/") == ["gs://models-bucket/a/model.json"]
    assert store.names("gs://label") == ["gs://labels-bucket/x.json", "gs://labels-bucket/y.json"]
    assert store.names("gs://no-such-bucket/") == [] == store.names("s3://")


def test_buckets_are_made_on_demand_and_clear_keeps_them(store: GcsStorage) -> None:
    client = storage_client(store.host)
    assert [b.name for b in client.list_buckets()] == []

    store.write("gs://new-bucket/o", b"x")
    store.clear()

    assert [b.name for b in client.list_buckets()] == ["new-bucket"]
    assert store.names() == []


def test_errors_are_the_in_memory_storages(store: GcsStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    memory = Storage()
    store.write("gs://models-bucket/there", b"x")
    for uri, field_path in [("gs://models-bucket/missing", "gcs_source.object_uri"), ("gs://no-bucket/o", "uri")]:
        with pytest.raises(exceptions.NotFound) as in_memory:
            memory.read(uri, field_path)
        with pytest.raises(exceptions.NotFound) as in_gcs:
            store.read(uri, field_path)
        assert in_gcs.value.message == in_memory.value.message
        assert uri in in_gcs.value.message
    for bad in ("models/o", "gs://B/o", "gs://models-bucket/", "gs://models-bucket/a\nb"):
        with pytest.raises(exceptions.InvalidArgument) as refused_in_memory:
            memory.write(bad, b"x", "gcs_destination.object_uri")
        with pytest.raises(exceptions.InvalidArgument) as refused_in_gcs:
            store.write(bad, b"x", "gcs_destination.object_uri")
        assert refused_in_gcs.value.message == refused_in_memory.value.message
    monkeypatch.setattr(gcs, "MAX_OBJECT_BYTES", 4)
    with pytest.raises(exceptions.InvalidArgument, match="5 bytes, over 4"):
        store.write("gs://models-bucket/big", b"12345")


def test_an_unreachable_cloud_storage_is_unavailable_naming_it() -> None:
    host = f"http://127.0.0.1:{_free_port()}"
    down = GcsStorage(host)

    for call in (lambda: down.read("gs://b-1/o"), lambda: down.write("gs://b-1/o", b"x"), down.names):
        with pytest.raises(exceptions.ServiceUnavailable, match=f"Cloud Storage emulator at {host} is unreachable"):
            call()


def test_hosts_are_urls_and_the_environment_picks_the_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    assert GcsStorage("127.0.0.1:9023").host == "http://127.0.0.1:9023"
    assert GcsStorage("http://[::1]:9023/").host == "http://[::1]:9023"
    assert GcsStorage("http://gcs").host == "http://gcs"  # a URL may leave the port to its scheme
    for bad in ("", "http://", "127.0.0.1", "ftp://h:1", "h:1/path", "http://h:1/path"):
        with pytest.raises(exceptions.InvalidArgument, match="Invalid host"):
            GcsStorage(bad)
    assert type(storage_for(None)) is Storage and type(storage_for("")) is Storage

    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    assert type(storage_from_environment()) is Storage
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9023")
    made = storage_from_environment()
    assert isinstance(made, GcsStorage) and made.host == "http://127.0.0.1:9023"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "gcs emulator")
    with pytest.raises(exceptions.InvalidArgument, match="Invalid STORAGE_EMULATOR_HOST 'gcs emulator'"):
        storage_from_environment()


def test_gcs_storage_overrides_every_method_of_the_in_memory_one() -> None:
    public = {name for name in vars(Storage) if not name.startswith("_") and callable(getattr(Storage, name))}
    assert public >= {"write", "read", "names"}
    assert sorted(name for name in public if name not in vars(GcsStorage)) == []


# -- the Insights emulator with its objects in the Cloud Storage emulator --------------------------------------------
def test_the_backend_keeps_its_objects_where_it_is_told(
    emulated_gcs: StorageEmulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulated_gcs.wipe()
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    backend = Backend()
    assert backend.storage_emulator_host is None  # in memory by default
    backend.write_object("gs://seed-bucket/memory.json", "[]")

    backend.set_storage_emulator_host(emulated_gcs.host)
    backend.write_object("gs://seed-bucket/labels.json", "[1]")

    assert backend.storage_emulator_host == emulated_gcs.host
    assert backend.object_control(prefix="gs://seed-bucket/") == {"uris": ["gs://seed-bucket/labels.json"]}
    assert storage_client(emulated_gcs.host).bucket("seed-bucket").blob("labels.json").download_as_bytes() == b"[1]"
    with pytest.raises(exceptions.InvalidArgument, match="Invalid host 'nowhere'"):
        backend.set_storage_emulator_host("nowhere")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulated_gcs.host)
    assert Backend().storage_emulator_host == emulated_gcs.host  # the environment's, when it is made


def test_an_export_is_written_to_cloud_storage_and_an_import_reads_a_users_object(
    emulated_gcs: StorageEmulator,
) -> None:
    emulated_gcs.wipe()
    with Emulator(operation_seconds=0.0, seed=1) as emulator:
        emulator.backend.set_storage_emulator_host(emulated_gcs.host)
        client, close = _grpc_client(emulator)
        try:
            model = client.create_issue_model(
                parent=PARENT, issue_model=types.IssueModel(display_name="topics")).result(10)
            client.export_issue_model(request=types.ExportIssueModelRequest(
                name=model.name, gcs_destination={"object_uri": "gs://exports-bucket/m.json"})).result(10)
            blob = storage_client(emulated_gcs.host).bucket("exports-bucket").blob("m.json")
            exported = json.loads(blob.download_as_bytes())
            assert exported["issueModel"]["name"] == model.name
            exported["issueModel"]["displayName"] = "edited in Cloud Storage"
            storage_client(emulated_gcs.host).bucket("exports-bucket").blob("copy.json").upload_from_string(
                json.dumps(exported))
            client.import_issue_model(request=types.ImportIssueModelRequest(
                parent=PARENT, gcs_source={"object_uri": "gs://exports-bucket/copy.json"},
                create_new_model=True)).result(10)

            names = {m.display_name for m in client.list_issue_models(parent=PARENT).issue_models}
            assert names == {"topics", "edited in Cloud Storage"}
            with pytest.raises(exceptions.NotFound, match=r"gs://exports-bucket/none\.json"):
                client.import_issue_model(request=types.ImportIssueModelRequest(
                    parent=PARENT, gcs_source={"object_uri": "gs://exports-bucket/none.json"}))
            emulator.backend.reset()
            assert emulator.list_objects() == []  # reset empties the Cloud Storage emulator's objects too
        finally:
            close()


def test_an_export_to_a_cloud_storage_that_is_down_fails_the_operation_naming_it() -> None:
    with Emulator(operation_seconds=0.0, seed=1) as emulator:
        client, close = _grpc_client(emulator)
        try:
            model = client.create_issue_model(
                parent=PARENT, issue_model=types.IssueModel(display_name="topics")).result(10)
            emulator.set_storage_emulator_host("http://127.0.0.1:9")  # nothing listens on the discard port
            operation = client.export_issue_model(request=types.ExportIssueModelRequest(
                name=model.name, gcs_destination={"object_uri": "gs://exports-bucket/m.json"}))
            with pytest.raises(exceptions.ServiceUnavailable, match=r"127\.0\.0\.1:9"):
                operation.result(30)
            assert operation.done() and operation.operation.error.code == 14  # UNAVAILABLE, not done with nothing

            emulator.reset()  # back to the storage it started with: in memory
            assert emulator.backend.storage_emulator_host is None
        finally:
            close()
