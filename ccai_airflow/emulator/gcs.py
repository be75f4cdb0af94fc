"""A real Cloud Storage beside the emulator: ``gcp-storage-emulator`` started on a free loopback port and stopped by
its PID (:class:`StorageEmulator`), and the Insights emulator's objects kept there (:class:`GcsStorage`).

``gcp-storage-emulator`` (PyPI, pure Python) serves Cloud Storage's JSON API; Google's ``google-cloud-storage``
client, the Google provider's ``GCSHook`` and ``GCSObjectExistenceSensor`` (and its trigger, through
``gcloud-aio-storage``) talk to it unchanged when ``STORAGE_EMULATOR_HOST`` names it (``http://127.0.0.1:PORT``:
despite its name the variable holds a URL). Why this one and not ``fake-gcs-server``: docs/emulator.md, "Cloud
Storage". Install it with ``pip install gcp-storage-emulator`` (it is in the ``test`` extra).

The Insights emulator keeps its objects (ExportIssueModel, ImportIssueModel, the feedback label bulk methods, the
``storageObjects`` controls) in memory by default (``storage.Storage``); with a Cloud Storage emulator named
(``STORAGE_EMULATOR_HOST`` when the emulator starts, or ``Backend.set_storage_emulator_host``) in a
:class:`GcsStorage` with the same methods and errors, where a DAG's GCS tasks see them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile
import time
import urllib.request
from typing import Any

import requests
from google.api_core import exceptions

from ccai_airflow.emulator.neighbour import NeighbourProcess, free_port
from ccai_airflow.emulator.storage import MAX_OBJECT_BYTES, Storage, parse_object_uri

__all__ = [
    "INSTALL_HINT", "STORAGE_EMULATOR_HOST_ENV", "GcsStorage", "StorageEmulator", "find_storage_emulator",
    "storage_for", "storage_from_environment",
]

STORAGE_EMULATOR_HOST_ENV = "STORAGE_EMULATOR_HOST"
MODULE = "gcp_storage_emulator"
INSTALL_HINT = ("The Cloud Storage emulator is not installed: pip install gcp-storage-emulator "
                "(or pip install 'ccai-airflow[test]')")
# What GcsStorage's buckets are created under; the emulator ignores the project (and Cloud Storage's bucket names are
# global anyway).
PROJECT = "ccai-emulator"
TIMEOUT_S = 10.0  # one call to the Cloud Storage emulator (loopback: milliseconds); the Insights emulator waits on it
_NAME = r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)"  # a host name, an IPv4 address or a bracketed IPv6 one
_HOST = re.compile(rf"https?://{_NAME}(:\d{{1,5}})?|{_NAME}:\d{{1,5}}")  # a URL, or HOST:PORT


# -- the Insights emulator's objects in a Cloud Storage emulator ---------------------------------------------------
def normalized_host(host: str) -> str:
    """``127.0.0.1:9023``, ``http://127.0.0.1:9023/`` -> ``http://127.0.0.1:9023`` (``http://gcs`` stays);
    INVALID_ARGUMENT naming it else."""
    if not isinstance(host, str) or not _HOST.fullmatch(host.rstrip("/")):
        raise exceptions.InvalidArgument(
            f"Invalid host {host!r}: expected the Cloud Storage emulator's URL, e.g. http://127.0.0.1:9023.")
    host = host.rstrip("/")
    return host if host.startswith(("http://", "https://")) else f"http://{host}"


def storage_for(host: str | None) -> Storage:
    """A :class:`GcsStorage` on the Cloud Storage emulator at ``host``; None or empty: the in-memory ``Storage``."""
    return GcsStorage(host) if host else Storage()


def storage_from_environment() -> Storage:
    """The emulator's default storage: the Cloud Storage emulator ``STORAGE_EMULATOR_HOST`` names, else in memory."""
    host = os.environ.get(STORAGE_EMULATOR_HOST_ENV) or None
    try:
        return storage_for(host)
    except exceptions.InvalidArgument:
        raise exceptions.InvalidArgument(
            f"Invalid {STORAGE_EMULATOR_HOST_ENV} {host!r}: expected the Cloud Storage emulator's URL, e.g. "
            "http://127.0.0.1:9023.") from None


class GcsStorage(Storage):
    """``storage.Storage``'s methods and errors, on the Cloud Storage emulator at ``host``.

    A bucket is created the first time an object is written to it: the emulator's convenience (on Cloud Storage
    the bucket must exist before anything, Insights included, writes to it). ``names`` and
    ``clear`` see every object of the Cloud Storage emulator, whoever wrote it; ``clear`` keeps the buckets.
    Each call blocks the emulator (at most ``TIMEOUT_S``); an emulator that does not answer is UNAVAILABLE naming it.
    """

    def __init__(self, host: str) -> None:
        super().__init__()
        self.host = normalized_host(host)
        self._client: Any = None

    def __repr__(self) -> str:
        return f"GcsStorage({self.host!r})"

    def write(self, uri: str, data: bytes, field_path: str = "uri") -> None:
        bucket, name = parse_object_uri(field_path, uri)
        if len(data) > MAX_OBJECT_BYTES:
            raise exceptions.InvalidArgument(f"Invalid object {uri}: {len(data)} bytes, over {MAX_OBJECT_BYTES}.")
        with self._calling(uri):
            blob = self.client().bucket(bucket).blob(name)
            try:
                blob.upload_from_string(bytes(data), retry=None, timeout=TIMEOUT_S)
            except exceptions.NotFound:  # no such bucket: made on demand
                with contextlib.suppress(exceptions.Conflict):  # made by another writer meanwhile
                    self.client().create_bucket(bucket, retry=None, timeout=TIMEOUT_S)
                blob.upload_from_string(bytes(data), retry=None, timeout=TIMEOUT_S)

    def read(self, uri: str, field_path: str = "uri") -> bytes:
        """The object's bytes; NOT_FOUND naming the URI when nothing wrote it (or its bucket does not exist)."""
        bucket, name = parse_object_uri(field_path, uri)
        try:
            with self._calling(uri):
                return bytes(self.client().bucket(bucket).blob(name).download_as_bytes(retry=None, timeout=TIMEOUT_S))
        except exceptions.NotFound:
            raise exceptions.NotFound(f"Invalid {field_path} {uri!r}: no such Cloud Storage object.") from None

    def names(self, prefix: str = "gs://") -> list[str]:
        """Every object's ``gs://`` URI that starts with ``prefix``, sorted, as ``Storage.names``."""
        if "gs://".startswith(prefix):
            bucket_prefix, slash, object_prefix = "", "", ""
        elif prefix.startswith("gs://"):
            bucket_prefix, slash, object_prefix = prefix[len("gs://"):].partition("/")
        else:
            return []
        with self._calling(prefix):
            if slash:  # one bucket: gs://BUCKET/PREFIX
                buckets = [bucket_prefix]
            else:
                buckets = [b.name for b in self.client().list_buckets(retry=None, timeout=TIMEOUT_S)
                           if b.name.startswith(bucket_prefix)]
            found: list[str] = []
            for bucket in buckets:
                try:
                    found += [f"gs://{bucket}/{blob.name}" for blob in self.client().list_blobs(
                        bucket, prefix=object_prefix or None, retry=None, timeout=TIMEOUT_S)]
                except exceptions.NotFound:  # no such bucket: nothing under it
                    continue
        return sorted(found)

    def clear(self) -> None:
        """Delete every object of the Cloud Storage emulator (``reset``); the buckets stay."""
        for uri in self.names():
            bucket, name = parse_object_uri("uri", uri)
            with self._calling(uri), contextlib.suppress(exceptions.NotFound):
                self.client().bucket(bucket).blob(name).delete(retry=None, timeout=TIMEOUT_S)

    def client(self) -> Any:
        """Google's Cloud Storage client on ``host``, anonymous (made on first use)."""
        with self._lock:
            if self._client is None:
                from google.auth.credentials import AnonymousCredentials
                from google.cloud import storage

                self._client = storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                                              client_options={"api_endpoint": self.host})
            return self._client

    @contextlib.contextmanager
    def _calling(self, what: str) -> Any:
        """Errors of the Cloud Storage emulator as the API's: NOT_FOUND passes, unreachable is UNAVAILABLE naming the
        host, any other refusal INTERNAL naming what was asked (the emulator checked the URI before)."""
        try:
            yield
        except exceptions.NotFound:
            raise
        except requests.exceptions.RequestException as exc:
            raise exceptions.ServiceUnavailable(
                f"The Cloud Storage emulator at {self.host} is unreachable ({type(exc).__name__}) for {what}.") from exc
        except exceptions.GoogleAPICallError as exc:
            raise exceptions.InternalServerError(
                f"The Cloud Storage emulator at {self.host} refused {what}: {exc.code} {exc.message}") from exc


# -- the Cloud Storage emulator as a child process -----------------------------------------------------------------
def find_storage_emulator() -> bool:
    """Whether ``gcp-storage-emulator`` is installed for this interpreter."""
    return importlib.util.find_spec(MODULE) is not None


class StorageEmulator(NeighbourProcess):
    """``with StorageEmulator() as gcs: os.environ["STORAGE_EMULATOR_HOST"] = gcs.host``.

    Runs ``python -m gcp_storage_emulator start --in-memory`` (this interpreter's) in its own process group, in a
    temporary working directory, bound to 127.0.0.1; ready when its health check (``GET /``) answers.

    :param port: 0 for a free one (another is tried if the first was taken meanwhile).
    :param startup_timeout: seconds to wait for it to answer.
    :param default_bucket: a bucket it creates at start.
    """

    log_prefix = "gcs-emulator-"

    def __init__(self, port: int = 0, startup_timeout: float = 30.0, default_bucket: str | None = None) -> None:
        super().__init__()
        self._fixed_port = port
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.default_bucket = default_bucket
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def host(self) -> str:
        """What ``STORAGE_EMULATOR_HOST`` takes: ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StorageEmulator:
        if not find_storage_emulator():
            raise FileNotFoundError(INSTALL_HINT)
        deadline = time.monotonic() + self.startup_timeout
        for _ in range(3):
            if self._start_once(deadline):
                return self
            taken = b"Address already in use" in self.output()
            if not taken or self._fixed_port or time.monotonic() >= deadline:
                break
            self.stop()
            self.port = free_port()  # another process took the free port between the probe and the bind
        tail = self.output()[-2000:].decode(errors="replace")
        self.stop()
        raise RuntimeError(f"The Cloud Storage emulator did not start on {self.host}: {tail}")

    def _start_once(self, deadline: float) -> bool:
        self._workdir = tempfile.TemporaryDirectory(prefix="gcs-emulator-")
        args = [sys.executable, "-m", MODULE, "start", "--host", "127.0.0.1", "--port", str(self.port),
                "--in-memory", "--quiet"]
        if self.default_bucket:
            args += ["--default-bucket", self.default_bucket]
        # Its own working directory: nothing it writes stays.
        process = self._spawn(args, cwd=self._workdir.name)
        while time.monotonic() < deadline:
            if self._answers():
                return True
            if process.poll() is not None or b"Address already in use" in self.output():
                return False  # exited, or its server thread died on the bind (the process then never serves)
            time.sleep(0.05)
        return False

    def wipe(self, keep_buckets: bool = False) -> None:
        """Delete every object (and bucket, unless ``keep_buckets``): ``gcp-storage-emulator``'s own ``GET /wipe``."""
        query = "?keep-buckets=1" if keep_buckets else ""
        with urllib.request.urlopen(f"{self.host}/wipe{query}", timeout=TIMEOUT_S) as answer:
            answer.read()

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.host}/", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        super().stop()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
