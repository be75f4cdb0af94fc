"""Waits woken by Insights' Pub/Sub notifications (hooks/wakeups.py): the real trigger, the Insights emulator publishing
to Google's Pub/Sub emulator, and what must not break (Pub/Sub down, messages for others, a flood)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud.contact_center_insights_v1 import types

from ccai_airflow.emulator import Emulator
from ccai_airflow.hooks import ContactCenterInsightsHook, shared_state, wakeups
from ccai_airflow.hooks.params import HookParams
from ccai_airflow.triggers import ContactCenterInsightsOperationTrigger
from tests.conftest import PARENT
from tests.helpers import first_event
from tests.pubsub import PubSub

FALLBACK = 600.0  # the polling interval: only a notification can end these waits within the tests' time


@pytest.fixture
def pubsub(pubsub_emulator: str, emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[PubSub]:
    """Notifications of the test location's exports to a topic of Google's Pub/Sub emulator; the connection
    anonymous, as the Google provider's Pub/Sub hook asks it for credentials."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"project": "test-project", "is_anonymous": True}}))
    emulator_env.set_pubsub_emulator_host(pubsub_emulator)
    shared_state.reset()
    wakeups.reset()
    made = PubSub()
    yield made
    made.close()
    wakeups.reset()


def notified(pubsub: PubSub) -> tuple[str, str]:
    topic, subscription = pubsub.topic()
    ContactCenterInsightsHook().update_pubsub_notification_settings(PARENT, {"export-insights-data": topic})
    return topic, subscription


def export() -> str:
    return str(ContactCenterInsightsHook().start_operation(types.ExportInsightsDataRequest(
        parent=PARENT, big_query_destination={"dataset": "insights", "table": "t"})).name)


def trigger(
    name: str, subscription: str | None, poll_interval: float = FALLBACK,
) -> ContactCenterInsightsOperationTrigger:
    return ContactCenterInsightsOperationTrigger(
        operation_name=name, poll_interval=poll_interval, notification_subscription=subscription)


def test_a_notification_ends_a_ten_minute_poll_within_seconds(pubsub: PubSub, emulator_env: Emulator) -> None:
    _, subscription = notified(pubsub)
    emulator_env.set_operation_seconds(2.0)
    name = export()
    started = time.monotonic()

    event = asyncio.run(first_event(trigger(name, subscription), timeout=30))

    assert event["status"] == "succeeded"
    assert time.monotonic() - started < 10
    assert event["wait"]["polls"] == 2  # the first look, and the one the message caused


def test_waits_on_one_subscription_share_one_pull_and_each_looks_once(pubsub: PubSub, emulator_env: Emulator) -> None:
    _, subscription = notified(pubsub)
    emulator_env.set_operation_seconds(2.0)
    names = [export() for _ in range(20)]

    async def all_of_them() -> tuple[list[dict[str, Any]], dict[str, int], int]:
        events = await asyncio.gather(*(first_event(trigger(name, subscription), timeout=30) for name in names))
        return events, wakeups.pulled(subscription, HookParams()), len(wakeups._subscriptions())

    events, pulled, pulls = asyncio.run(all_of_them())

    assert {event["status"] for event in events} == {"succeeded"}
    assert pulls == 1
    # The first pull brings some of the 20 exports' notifications and wakes every wait; those whose operation is
    # done end, and the pull ends with the last of them (what it did not pull stays for the next waits).
    assert 1 <= pulled["messages"] <= 20
    # Each message (or batch of them) wakes every wait once; a wait looks once per wake, within the budget.
    assert all(event["wait"]["polls"] <= 1 + pulled["wakes"] for event in events)
    assert emulator_env.call_counts()["GetOperation"] <= 20 * (1 + pulled["wakes"])


def test_a_message_for_another_operation_costs_one_look_and_the_wait_goes_on(
    pubsub: PubSub, emulator_env: Emulator,
) -> None:
    _, subscription = notified(pubsub)
    emulator_env.set_operation_seconds(1.0)
    other = export()  # its notification comes first
    emulator_env.set_operation_seconds(4.0)
    mine = export()

    event = asyncio.run(first_event(trigger(mine, subscription), timeout=30))

    assert event["status"] == "succeeded"
    assert event["operation_name"] == mine != other
    assert event["wait"]["polls"] == 3  # first look, the other's message, its own


def test_a_flood_of_messages_wakes_the_wait_a_few_times_not_ten_thousand(
    pubsub: PubSub, emulator_env: Emulator,
) -> None:
    topic, subscription = notified(pubsub)
    emulator_env.set_operation_seconds(3.0)
    name = export()
    futures = [pubsub.publisher.publish(topic, b"{}") for _ in range(10_000)]
    for future in futures:
        future.result(timeout=60)

    async def wait() -> tuple[dict[str, Any], dict[str, int]]:
        return await first_event(trigger(name, subscription), timeout=60), wakeups.pulled(subscription, HookParams())

    event, pulled = asyncio.run(wait())

    assert event["status"] == "succeeded"
    assert pulled["messages"] == 10_001  # every message acknowledged once: none comes back
    assert pulled["wakes"] <= 5
    assert event["wait"]["polls"] <= 1 + pulled["wakes"]


def test_pubsub_down_the_wait_polls_and_says_so_once(
    emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"project": "test-project", "is_anonymous": True}}))
    wakeups.reset()
    emulator_env.set_operation_seconds(2.0)
    name = export()
    caplog.set_level(logging.INFO, logger=wakeups.__name__)

    event = asyncio.run(first_event(trigger(name, "projects/p/subscriptions/exports", poll_interval=1.0), timeout=60))

    assert event["status"] == "succeeded"  # found by polling
    warnings = [r for r in caplog.records if r.name == wakeups.__name__ and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "projects/p/subscriptions/exports" in warnings[0].getMessage()


def test_the_subscription_crosses_into_the_triggerer_and_old_rows_have_none(emulator_env: Emulator) -> None:
    made = trigger(f"{PARENT}/operations/1", "projects/p/subscriptions/exports")
    _, kwargs = made.serialize()

    assert kwargs["notification_subscription"] == "projects/p/subscriptions/exports"
    assert ContactCenterInsightsOperationTrigger(**kwargs).wait == made.wait
    assert "notification_subscription" not in trigger(f"{PARENT}/operations/1", None).serialize()[1]
    with pytest.raises(ValueError, match=r"Invalid notification_subscription 'exports': expected projects/"):
        trigger(f"{PARENT}/operations/1", "exports")


def test_only_the_operators_insights_notifies_for_take_a_subscription() -> None:
    from ccai_airflow.operators import (
        ContactCenterInsightsCreateIssueModelOperator,
        ContactCenterInsightsExportInsightsDataOperator,
    )
    from ccai_airflow.sensors import ContactCenterInsightsOperationSensor

    export_op = ContactCenterInsightsExportInsightsDataOperator(
        task_id="export", big_query_destination={"dataset": "d", "table": "t"}, deferrable=True,
        notification_subscription="projects/p/subscriptions/exports")
    assert export_op.notification_subscription == "projects/p/subscriptions/exports"
    with pytest.raises(ValueError, match=r"Insights sends no notification for the operation of "
                                         r"ContactCenterInsightsCreateIssueModelOperator"):
        ContactCenterInsightsCreateIssueModelOperator(
            task_id="create", issue_model={}, notification_subscription="projects/p/subscriptions/exports")
    with pytest.raises(ValueError, match=r"Invalid notification_subscription 'projects/p/topics/t'"):
        ContactCenterInsightsOperationSensor(
            task_id="wait", operation_name=f"{PARENT}/operations/1", notification_subscription="projects/p/topics/t")


def test_pubsub_restarted_mid_wait_the_wait_polls_on_and_ends(
    emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """A restarted Pub/Sub emulator has lost the subscription: the pull fails (logged once), the wait polls."""
    from ccai_airflow.emulator.pubsub import INSTALL_HINT, PubSubEmulator, find_pubsub_emulator

    if find_pubsub_emulator() is None:
        pytest.skip(INSTALL_HINT)
    first = PubSubEmulator().start()
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", first.host)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"project": "test-project", "is_anonymous": True}}))
    emulator_env.set_pubsub_emulator_host(first.host)
    wakeups.reset()
    pubsub = PubSub()
    _, subscription = notified(pubsub)
    pubsub.close()
    emulator_env.set_operation_seconds(6.0)
    name = export()
    caplog.set_level(logging.INFO, logger=wakeups.__name__)

    async def wait_through_a_restart() -> dict[str, Any]:
        waiting = asyncio.ensure_future(first_event(trigger(name, subscription, poll_interval=2.0), timeout=60))
        await asyncio.sleep(1.0)
        first.stop()
        second = PubSubEmulator(port=first.port)
        await asyncio.to_thread(second.start)
        try:
            return await waiting
        finally:
            second.stop()

    try:
        event = asyncio.run(wait_through_a_restart())
    finally:
        first.stop()
        wakeups.reset()

    assert event["status"] == "succeeded"
    warnings = [r for r in caplog.records if r.name == wakeups.__name__ and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and subscription in warnings[0].getMessage()
