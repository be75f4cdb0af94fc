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

# The asyncio paths through Airflow: CI runs them on its other Python too (make pytest-python).
pytestmark = pytest.mark.python_smoke

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
    assert event["wait"]["polls"] == 2  # the first look, and the one the message's listing caused
    assert emulator_env.call_counts()["ListOperations"] == 1


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
    assert 1 <= pulled["messages"] <= 20
    # A message costs one listing of the location, whatever the number of waits; a wait looks only when the
    # listing no longer shows its operation running: its first look and the one that finds it done.
    assert [event["wait"]["polls"] for event in events] == [2] * 20
    assert emulator_env.call_counts()["GetOperation"] == 40
    assert emulator_env.call_counts()["ListOperations"] == pulled["listed"] <= pulled["wakes"] + pulled["sweeps"]


def test_a_message_for_another_operation_costs_one_listing_and_no_look(
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
    assert event["wait"]["polls"] == 2  # first look, its own end: the other's message found it running
    assert emulator_env.call_counts()["ListOperations"] == 2


def test_a_flood_of_messages_wakes_the_wait_a_few_times_not_ten_thousand(
    pubsub: PubSub, emulator_env: Emulator,
) -> None:
    topic, subscription = notified(pubsub)
    futures = [pubsub.publisher.publish(topic, b"{}") for _ in range(10_000)]
    for future in futures:
        future.result(timeout=60)
    # Started after the flood is published (which takes seconds on a busy machine), so the wait meets it.
    emulator_env.set_operation_seconds(3.0)
    name = export()

    async def wait() -> tuple[dict[str, Any], dict[str, int]]:
        return await first_event(trigger(name, subscription), timeout=60), wakeups.pulled(subscription, HookParams())

    event, pulled = asyncio.run(wait())

    assert event["status"] == "succeeded"
    assert pulled["messages"] == 10_001  # every message acknowledged once: none comes back
    assert pulled["wakes"] <= 5
    assert event["wait"]["polls"] == 2
    assert pulled["listed"] == pulled["wakes"] + pulled["sweeps"]


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


def test_a_lost_message_the_location_listing_finds_the_end(
    pubsub: PubSub, emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No message comes (as if lost: the location notifies nobody), the wait polls every 600 s: the listing made
    now and then without a message finds its end, one call for the location."""
    from ccai_airflow.core.polling import PollingPolicy

    monkeypatch.setattr(wakeups, "SWEEP_POLICY", PollingPolicy.fixed(1.0))
    monkeypatch.setattr(wakeups, "PULL_TIMEOUT_S", 1.0)
    _, subscription = pubsub.topic()  # a subscription nothing publishes to
    emulator_env.set_operation_seconds(2.0)
    names = [export() for _ in range(5)]

    async def wait() -> tuple[list[dict[str, Any]], dict[str, int]]:
        events = await asyncio.gather(*(first_event(trigger(name, subscription), timeout=30) for name in names))
        return events, wakeups.pulled(subscription, HookParams())

    events, pulled = asyncio.run(wait())

    assert {event["status"] for event in events} == {"succeeded"}
    assert pulled["messages"] == 0 and pulled["sweeps"] >= 1
    assert [event["wait"]["polls"] for event in events] == [2] * 5
    assert emulator_env.call_counts()["ListOperations"] == pulled["listed"] == pulled["sweeps"]


def test_a_listing_refused_each_wait_looks_itself(
    pubsub: PubSub, emulator_env: Emulator, caplog: pytest.LogCaptureFixture,
) -> None:
    _, subscription = notified(pubsub)
    emulator_env.inject_fault(rpc="ListOperations", code="PERMISSION_DENIED")
    emulator_env.set_operation_seconds(2.0)
    names = [export() for _ in range(3)]
    caplog.set_level(logging.INFO, logger=wakeups.__name__)

    async def wait() -> list[dict[str, Any]]:
        return await asyncio.gather(*(first_event(trigger(name, subscription), timeout=30) for name in names))

    events = asyncio.run(wait())

    assert {event["status"] for event in events} == {"succeeded"}
    refused = [r.getMessage() for r in caplog.records if r.name == wakeups.__name__ and r.levelno == logging.WARNING]
    assert refused and all(f"Cannot list the operations of {PARENT} (PermissionDenied" in m for m in refused)


def test_more_waits_than_a_page_the_listing_reads_the_pages_it_needs(
    pubsub: PubSub, emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wakeups, "PAGE_SIZE", 5)
    _, subscription = notified(pubsub)
    emulator_env.set_operation_seconds(600.0)
    running = [export() for _ in range(12)]  # never end within the test: each listing must read past them
    emulator_env.set_operation_seconds(2.0)
    mine = export()

    async def wait() -> tuple[dict[str, Any], dict[str, int]]:
        waits = [asyncio.ensure_future(first_event(trigger(name, subscription), timeout=60)) for name in running]
        try:
            event = await first_event(trigger(mine, subscription), timeout=30)
            return event, wakeups.pulled(subscription, HookParams())
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    event, pulled = asyncio.run(wait())

    assert event["status"] == "succeeded" and event["wait"]["polls"] == 2
    # 13 operations running when the message came: 3 pages of 5; the 12 that run on were not looked at.
    assert pulled["listed"] == 3 * (pulled["wakes"] + pulled["sweeps"])
    assert emulator_env.call_counts()["GetOperation"] == 13 + 1


def test_a_trigger_moved_to_another_triggerer_is_woken_there(pubsub: PubSub, emulator_env: Emulator) -> None:
    """The first triggerer stops mid-wait (its loop ends); the trigger rebuilt from its row on a second one (a new
    event loop and pull) is woken there by the notification and counts on from the first one's polls."""
    _, subscription = notified(pubsub)
    emulator_env.set_operation_seconds(4.0)
    name = export()
    first = trigger(name, subscription)

    async def stopped_midway() -> None:
        with pytest.raises(TimeoutError):
            await first_event(first, timeout=1.0)

    asyncio.run(stopped_midway())
    wakeups.reset()
    moved = ContactCenterInsightsOperationTrigger(**first.serialize()[1])

    event = asyncio.run(first_event(moved, timeout=30))

    assert event["status"] == "succeeded"
    assert event["wait"]["polls"] == 3  # a look on each triggerer, and the one the listing asked for


def test_a_server_that_refuses_the_filter_is_listed_without_it() -> None:
    """Narrow: the emulator serves ``done=false``; a server that refused it (INVALID_ARGUMENT) is asked again
    without the filter, once for the subscription's life."""
    from google.api_core.exceptions import InvalidArgument
    from google.longrunning import operations_pb2

    from ccai_airflow.core.sweep import Listing

    class Refusing:
        def __init__(self) -> None:
            self.filters: list[str] = []

        async def list_operations_page(self, parent: str, *, filter: str, page_size: int,
                                       page_token: str) -> operations_pb2.ListOperationsResponse:
            self.filters.append(filter)
            if filter:
                raise InvalidArgument(f"Invalid filter {filter!r}")
            return operations_pb2.ListOperationsResponse(
                operations=[operations_pb2.Operation(name=f"{PARENT}/operations/1", done=False)])

    state = wakeups._Subscription("projects/p/subscriptions/s", HookParams())
    server = Refusing()
    listing = Listing(frozenset({f"{PARENT}/operations/1", f"{PARENT}/operations/2"}))

    asyncio.run(wakeups._read(state, server, PARENT, listing))
    asyncio.run(wakeups._read(state, server, PARENT, Listing(frozenset({f"{PARENT}/operations/1"}))))

    assert server.filters == ["done=false", "", ""]
    assert listing.to_wake() == {f"{PARENT}/operations/2"}
