"""Shared fixtures: a live emulator on free loopback ports, always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ccai_airflow.emulator import Emulator

PARENT = "projects/test-project/locations/us-central1"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(operation_seconds=0.3, seed=1234) as emu:
        yield emu
