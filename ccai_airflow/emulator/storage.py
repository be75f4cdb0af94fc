"""The emulator's Cloud Storage: an in-memory bucket of the objects the API's methods write and read.

ExportIssueModel and BulkDownloadFeedbackLabels write objects here; ImportIssueModel and
BulkUploadFeedbackLabels read them; tests and demos seed and read them through the emulator's
controls (``Emulator.write_object`` / ``read_object``, ``POST|GET /emulator/v1/storageObjects``).
Nothing leaves the process.

URIs are ``gs://BUCKET/OBJECT``, as the request fields document them (``object_uri``: "Required.
Format: ``gs://<bucket-name>/<object-name>``"). Bucket and object names follow Cloud Storage's
naming rules (https://cloud.google.com/storage/docs/buckets#naming: 3 to 63 characters of lower-case
letters, digits, ``-``, ``_`` and ``.``, starting and ending with a letter or digit;
https://cloud.google.com/storage/docs/objects#naming: 1 to 1024 bytes of UTF-8, no carriage return
or line feed). Bucket names with dots may be longer on Cloud Storage; the emulator keeps to 63.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from google.api_core import exceptions

_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
MAX_OBJECT_BYTES = 64 * 1024 * 1024  # an emulator's bound, not Cloud Storage's (5 TiB)


def parse_object_uri(field_path: str, value: str) -> tuple[str, str]:
    """``gs://bucket/path/to/object`` -> ``("bucket", "path/to/object")``; INVALID_ARGUMENT naming the field else."""
    expected = f"Invalid {field_path} {value!r}: expected gs://<bucket-name>/<object-name>"
    if not value.startswith("gs://"):
        raise exceptions.InvalidArgument(f"{expected}.")
    bucket, slash, name = value[len("gs://"):].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise exceptions.InvalidArgument(
            f"{expected}; {bucket!r} is not a bucket name (3-63 of a-z 0-9 - _ ., starting and ending with a "
            "letter or digit)."
        )
    if not slash or not name or len(name.encode()) > 1024 or "\r" in name or "\n" in name:
        raise exceptions.InvalidArgument(f"{expected}; {name!r} is not an object name (1-1024 bytes, no CR/LF).")
    return bucket, name


@dataclass
class Storage:
    """Objects by URI. Safe to share between threads."""

    _objects: dict[str, bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, uri: str, data: bytes, field_path: str = "uri") -> None:
        parse_object_uri(field_path, uri)
        if len(data) > MAX_OBJECT_BYTES:
            raise exceptions.InvalidArgument(f"Invalid object {uri}: {len(data)} bytes, over {MAX_OBJECT_BYTES}.")
        with self._lock:
            self._objects[uri] = bytes(data)

    def read(self, uri: str, field_path: str = "uri") -> bytes:
        """The object's bytes; NOT_FOUND naming the URI when nothing wrote it."""
        parse_object_uri(field_path, uri)
        with self._lock:
            data = self._objects.get(uri)
        if data is None:
            raise exceptions.NotFound(f"Invalid {field_path} {uri!r}: no such Cloud Storage object.")
        return data

    def clear(self) -> None:
        with self._lock:
            self._objects.clear()

    def names(self, prefix: str = "gs://") -> list[str]:
        with self._lock:
            return sorted(uri for uri in self._objects if uri.startswith(prefix))
