"""Insights' Pub/Sub notifications (emulator/notifications.py), published to Google's own Pub/Sub emulator and
pulled back with Google's Pub/Sub client: Google's sample flow, each trigger, and what must not break."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from google.cloud import contact_center_insights_v1 as ci
from google.protobuf import field_mask_pb2

from ccai_airflow.emulator import Emulator
from ccai_airflow.emulator.notifications import Notifier, topics_for
from tests.conftest import PARENT
from tests.emulator.clients import Client
from tests.pubsub import PROJECT, PubSub

pytestmark = pytest.mark.airflow_independent

@pytest.fixture
def pubsub(pubsub_emulator: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[PubSub]:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    emulator.set_pubsub_emulator_host(pubsub_emulator)
    made = PubSub()
    yield made
    made.close()


def notify(client: Client, settings: dict[str, str]) -> None:
    client.update_settings(
        settings=ci.Settings(name=f"{PARENT}/settings", pubsub_notification_settings=settings),
        update_mask=field_mask_pb2.FieldMask(paths=["pubsub_notification_settings"]),
    )


def export(client: Client) -> str:
    return str(client.export_insights_data(request=ci.ExportInsightsDataRequest(
        parent=PARENT, big_query_destination={"dataset": "insights", "table": "daily"})).operation.name)


def test_googles_sample_flow_an_export_notifies_the_topic_its_settings_name(
    pubsub: PubSub, emulator: Emulator, grpc_client: Client,
) -> None:
    topic, subscription = pubsub.topic()
    notify(grpc_client, {"export-insights-data": topic})

    name = export(grpc_client)

    # No one asks for the operation: the emulator ends it at its due time and publishes then.
    (message,) = pubsub.pull(subscription, expect=1)
    assert message == {"data": {"trigger": "export-insights-data", "name": name},
                       "attributes": {"trigger": "export-insights-data"}}
    assert pubsub.pull(subscription, expect=1, wait_s=1.0) == []  # once
    assert emulator.notifications_published() == {topic: 1}


def test_settings_without_the_key_publish_nothing(pubsub: PubSub, emulator: Emulator, grpc_client: Client) -> None:
    topic, subscription = pubsub.topic()
    notify(grpc_client, {"ingest-conversations": topic})

    export(grpc_client)
    time.sleep(1.0)

    assert pubsub.pull(subscription, expect=1, wait_s=1.0) == []
    assert emulator.notifications_published() == {}


def test_each_trigger_and_all_triggers(pubsub: PubSub, emulator: Emulator, client: Client) -> None:
    """Over gRPC and REST: each documented trigger once on its topic, and each on the all-triggers topic."""
    topics = {key: pubsub.topic() for key in ("export-insights-data", "create-conversation", "update-conversation",
                                              "upload-conversation", "create-analysis", "all-triggers")}
    notify(client, {key: topic for key, (topic, _) in topics.items()})

    export_name = export(client)
    created = client.create_conversation(parent=PARENT, conversation=ci.Conversation(medium="CHAT"))
    client.update_conversation(conversation=ci.Conversation(name=created.name, language_code="fr-FR"),
                               update_mask=field_mask_pb2.FieldMask(paths=["language_code"]))
    upload = client.upload_conversation(request=ci.UploadConversationRequest(
        parent=PARENT, conversation=ci.Conversation(medium="CHAT")))
    analysis = client.create_analysis(parent=created.name, analysis=ci.Analysis())
    uploaded = upload.result(timeout=30)
    analysis.result(timeout=30)

    def names(key: str, expect: int) -> list[tuple[str, str]]:
        return sorted((m["data"]["trigger"], m["data"]["name"]) for m in pubsub.pull(topics[key][1], expect))

    assert names("export-insights-data", 1) == [("export-insights-data", export_name)]
    assert names("create-conversation", 2) == sorted(
        [("create-conversation", created.name), ("create-conversation", uploaded.name)])
    assert names("update-conversation", 1) == [("update-conversation", created.name)]
    assert names("upload-conversation", 1) == [("upload-conversation", upload.operation.name)]
    assert names("create-analysis", 1) == [("create-analysis", analysis.operation.name)]
    assert [trigger for trigger, _ in names("all-triggers", 6)] == sorted(
        ["export-insights-data", "create-conversation", "create-conversation", "update-conversation",
         "upload-conversation", "create-analysis"])


def test_a_failed_export_is_complete_too(pubsub: PubSub, emulator: Emulator, grpc_client: Client) -> None:
    topic, subscription = pubsub.topic()
    notify(grpc_client, {"export-insights-data": topic})
    emulator.fail_next_operations(1, code="INTERNAL")

    name = export(grpc_client)

    assert [m["data"]["name"] for m in pubsub.pull(subscription, expect=1)] == [name]


def test_a_topic_that_does_not_exist_is_logged_and_the_operation_is_unaffected(
    pubsub: PubSub, emulator: Emulator, grpc_client: Client, caplog: pytest.LogCaptureFixture,
) -> None:
    missing = f"projects/{PROJECT}/topics/never-created"
    notify(grpc_client, {"export-insights-data": missing})

    operation = grpc_client.export_insights_data(request=ci.ExportInsightsDataRequest(
        parent=PARENT, big_query_destination={"dataset": "insights", "table": "daily"}))
    operation.result(timeout=30)

    deadline = time.monotonic() + 10
    while "never-created" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"not published to {missing}" in caplog.text
    assert emulator.notifications_published() == {}


def test_without_pubsub_nothing_is_published_and_the_emulator_stays_lazy(emulator: Emulator,
                                                                          grpc_client: Client) -> None:
    notify(grpc_client, {"export-insights-data": f"projects/{PROJECT}/topics/insights"})

    export(grpc_client)

    assert emulator.backend.notifier.host is None
    assert emulator.notifications_published() == {}


def test_topics_for_a_trigger_and_all_triggers_each_once() -> None:
    settings = {"export-insights-data": "projects/p/topics/a", "all-triggers": "projects/p/topics/a",
                "ingest-conversations": "projects/p/topics/b"}

    assert topics_for(settings, "export-insights-data") == ["projects/p/topics/a"]
    assert topics_for(settings, "ingest-conversations") == ["projects/p/topics/b", "projects/p/topics/a"]
    assert topics_for({}, "create-analysis") == []


def test_a_bad_pubsub_host_is_refused_naming_it(emulator: Emulator) -> None:
    from google.api_core import exceptions

    with pytest.raises(exceptions.InvalidArgument, match=r"Invalid host 'localhost': expected HOST:PORT"):
        emulator.set_pubsub_emulator_host("localhost")
    assert Notifier(host="127.0.0.1:1").host == "127.0.0.1:1"
