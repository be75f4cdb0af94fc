"""Google's Pub/Sub emulator as the tests, e2e and the demo start it (emulator/pubsub.py): found beside gcloud,
on a free loopback port, stopped by its process group, and a clear error where it is not installed."""

from __future__ import annotations

import os

import pytest

from ccai_airflow.emulator import pubsub
from ccai_airflow.emulator.pubsub import INSTALL_HINT, PubSubEmulator, find_pubsub_emulator

pytestmark = pytest.mark.airflow_independent


def test_it_starts_on_loopback_answers_googles_client_and_stops_by_its_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    if find_pubsub_emulator() is None:
        pytest.skip(INSTALL_HINT)
    from google.cloud import pubsub_v1

    emulator = PubSubEmulator().start()
    try:
        assert emulator.host.startswith("127.0.0.1:")
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
        publisher = pubsub_v1.PublisherClient()
        topic = publisher.create_topic(name=publisher.topic_path("p", "probe")).name
        assert topic == "projects/p/topics/probe"
        publisher.stop()
        pid = emulator.process.pid if emulator.process else 0
    finally:
        emulator.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the group (the script and its java) is gone


def test_without_the_component_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pubsub, "find_pubsub_emulator", lambda: None)

    with pytest.raises(FileNotFoundError, match="gcloud components install pubsub-emulator"):
        PubSubEmulator().start()
