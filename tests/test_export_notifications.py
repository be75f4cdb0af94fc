"""Event-driven exports end to end on real neighbours: Insights' settings name a topic of Google's Pub/Sub
emulator, an export completes, the Google provider's PubsubPullTrigger (the AssetWatcher's trigger of
dags/ccai_export_notifications.py) fires as the triggerer would run it, and the DAG's task, given the asset
event Airflow records from it, asks the API which exports ended and checks their tables."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook
from tests.conftest import PARENT
from tests.test_example_dags import EXAMPLES


def example() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(str(EXAMPLES / "ccai_export_notifications.py"))
    assert bag.import_errors == {}
    return bag.get_dag("ccai_export_notifications")


@pytest.fixture
def subscription(pubsub_emulator: str, emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The example's subscription, of a topic the location's export-insights-data setting names; the default
    connection anonymous (the emulators take no credentials), with the Insights project."""
    from google.cloud import pubsub_v1

    from dags.ccai_export_notifications import PUBSUB_PROJECT, SUBSCRIPTION

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"project": "test-project", "is_anonymous": True}}))
    emulator_env.set_pubsub_emulator_host(pubsub_emulator)
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(PUBSUB_PROJECT, "insights-exports")
    path = subscriber.subscription_path(PUBSUB_PROJECT, SUBSCRIPTION)
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=path, topic=topic)
    ContactCenterInsightsHook().update_pubsub_notification_settings(PARENT, {"export-insights-data": topic})
    yield path
    subscriber.delete_subscription(subscription=path)
    publisher.delete_topic(topic=topic)
    publisher.stop()
    subscriber.close()


def test_an_export_wakes_the_watcher_and_the_dag_checks_what_the_api_says(
    subscription: str, airflow_db: str,
) -> None:
    from google.cloud.contact_center_insights_v1 import types

    dag = example()
    hook = ContactCenterInsightsHook()
    operation = hook.start_operation(types.ExportInsightsDataRequest(
        parent=PARENT, big_query_destination={"dataset": "insights", "table": "daily"}))

    from dags.ccai_export_notifications import EXPORT_NOTIFICATIONS

    trigger = EXPORT_NOTIFICATIONS.watchers[0].trigger

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    payload = asyncio.run(asyncio.wait_for(first_event(), 30))

    assert payload["status"] == "success" and len(payload["message"]) == 1
    # What Trigger.submit_event records as the asset event's extra, and what the task is handed.
    event = SimpleNamespace(extra={"from_trigger": True, "payload": payload})
    checked = dag.get_task("check_exports").python_callable(
        triggering_asset_events={EXPORT_NOTIFICATIONS.name: [event]})  # keyed by asset; the task reads values
    assert checked == [{"operation": operation.name, "table": "test-project.insights.daily", "ok": True}]


def test_the_watcher_is_an_event_trigger_with_explicit_pull_options(airflow_db: str) -> None:
    from airflow.providers.google.cloud.triggers.pubsub import PubsubPullTrigger

    from dags.ccai_export_notifications import EXPORT_NOTIFICATIONS, SUBSCRIPTION

    (watcher,) = EXPORT_NOTIFICATIONS.watchers
    trigger = watcher.trigger
    assert isinstance(trigger, PubsubPullTrigger)
    assert (trigger.subscription, trigger.ack_messages, trigger.return_immediately) == (SUBSCRIPTION, True, False)
    assert type(example().timetable).__name__ == "AssetTriggeredTimetable"  # on the asset, not on the clock


def test_bad_notification_settings_are_refused_before_any_call(emulator_env: Emulator) -> None:
    hook = ContactCenterInsightsHook(gcp_conn_id="google_cloud_default")

    with pytest.raises(ValueError, match=r"Invalid notification trigger 'export-insight-data': expected one of"):
        hook.update_pubsub_notification_settings(PARENT, {"export-insight-data": "projects/p/topics/exports"})
    with pytest.raises(ValueError, match=r"Invalid topic 'exports' for 'export-insights-data': expected projects/"):
        hook.update_pubsub_notification_settings(PARENT, {"export-insights-data": "exports"})
    with pytest.raises(ValueError, match=r"Invalid topic 'projects/p/topics/goog-x'"):
        hook.update_pubsub_notification_settings(PARENT, {"all-triggers": "projects/p/topics/goog-x"})
    assert "UpdateSettings" not in emulator_env.call_counts()
