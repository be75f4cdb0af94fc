"""The Cloud Storage emulator from the tests' side: started once per module (one per pytest-xdist worker), skipped
with how to install it where it is missing, and read back through Google's own client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from ccai_airflow.emulator.gcs import INSTALL_HINT, StorageEmulator, find_storage_emulator


@contextlib.contextmanager
def running_storage_emulator() -> Iterator[StorageEmulator]:
    """``gcp-storage-emulator`` on a free loopback port, or a skip naming how to install it."""
    if not find_storage_emulator():
        pytest.skip(INSTALL_HINT)
    with StorageEmulator() as gcs:
        yield gcs


def storage_client(host: str) -> Any:
    """Google's Cloud Storage client on the emulator at ``host``, anonymous, as a user's code would make it."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test-project", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": host})
