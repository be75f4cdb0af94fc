"""Insights' Pub/Sub notifications, published by the emulator to a real Pub/Sub (Google's Pub/Sub emulator).

The definition (``Settings.pubsub_notification_settings``): "A map that maps a notification trigger to a
Pub/Sub topic. Each time a specified trigger occurs, Insights will notify the corresponding Pub/Sub topic",
with the triggers ``all-triggers`` ("each time any of the supported triggers occurs"), ``create-analysis``
("each time an analysis is created"), ``create-conversation``, ``export-insights-data`` ("each time an export
is complete"), ``ingest-conversations`` ("each time an IngestConversations LRO is complete"),
``update-conversation`` ("each time a conversation is updated via UpdateConversation") and
``upload-conversation`` ("when an UploadConversation LRO is complete").

Google does not document what a message holds. The emulator's message is its own (docs/emulator.md), and
the provider must not read it as more than "something happened in this project and location":

* data: JSON ``{"trigger": ..., "name": ...}``, the operation's name for the LRO triggers, the
  conversation's (or the analysis's) for the others;
* attributes: ``{"trigger": ...}``.

The emulator's reading where the definition says no more: an LRO trigger fires when the operation is done,
failed or not ("complete"); ``create-analysis`` fires for CreateAnalysis (not for each analysis of a bulk
analysis); ``create-conversation`` for CreateConversation and UploadConversation's conversation (not for
each conversation an ingest makes).

A notification never affects the call or the operation that caused it: with no Pub/Sub configured nothing
is published, and a topic that does not exist, or a Pub/Sub that is down, is logged and dropped.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["OPERATION_TRIGGERS", "PUBSUB_EMULATOR_HOST_ENV", "Notifier", "topics_for"]

log = logging.getLogger(__name__)

PUBSUB_EMULATOR_HOST_ENV = "PUBSUB_EMULATOR_HOST"
ALL_TRIGGERS = "all-triggers"
# The operations whose completion is a trigger, by their metadata type.
OPERATION_TRIGGERS = {
    "ExportInsightsDataMetadata": "export-insights-data",
    "IngestConversationsMetadata": "ingest-conversations",
    "UploadConversationMetadata": "upload-conversation",
    "CreateAnalysisOperationMetadata": "create-analysis",
}


def topics_for(settings: dict[str, str], trigger: str) -> list[str]:
    """The topics ``trigger`` is published to: its own and ``all-triggers``'s, each once."""
    return list(dict.fromkeys(topic for key in (trigger, ALL_TRIGGERS) if (topic := settings.get(key))))


class Notifier:
    """Publishes the emulator's notifications to the Pub/Sub at ``host`` (default: ``PUBSUB_EMULATOR_HOST``)."""

    def __init__(self, host: str | None = None) -> None:
        self._host = host if host is not None else os.environ.get(PUBSUB_EMULATOR_HOST_ENV) or None
        self._started_host = self._host
        self._client: Any = None
        self._lock = threading.Lock()
        self.published: dict[str, int] = {}  # topic -> messages handed to Pub/Sub (a control reads it)

    @property
    def host(self) -> str | None:
        return self._host

    def set_host(self, host: str | None) -> None:
        """Publish to another Pub/Sub from now on (None: publish nothing)."""
        with self._lock:
            self._host, self._client = host or None, None

    def keep_host(self) -> None:
        """The host now is the one ``reset`` goes back to (an emulator's own, not a test's)."""
        with self._lock:
            self._started_host = self._host

    def reset(self) -> None:
        """Publish where it did when made, and count from zero."""
        with self._lock:
            self._host, self._client = self._started_host, None
            self.published.clear()

    def notify(self, topics: Iterable[str], trigger: str, name: str) -> None:
        """Publish one message per topic; returns at once (the client publishes in its own threads)."""
        topics = list(topics)
        if not topics or self._host is None:
            return
        data = json.dumps({"trigger": trigger, "name": name}).encode()
        client = self._publisher()
        for topic in topics:
            try:
                future = client.publish(topic, data, trigger=trigger)
            except Exception as exc:  # a malformed topic the settings let through, a closed client
                log.warning("Notification %s for %s not published to %s: %s", trigger, name, topic, exc)
                continue
            future.add_done_callback(lambda done, topic=topic: self._published(done, topic, trigger, name))

    def _published(self, future: Any, topic: str, trigger: str, name: str) -> None:
        error = future.exception()
        if error is not None:
            # As a notification failure would not fail the operation: logged, dropped.
            log.warning("Notification %s for %s not published to %s: %s", trigger, name, topic, error)
            return
        with self._lock:
            self.published[topic] = self.published.get(topic, 0) + 1

    def _publisher(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.auth.credentials import AnonymousCredentials
                from google.cloud.pubsub_v1 import PublisherClient

                # What the client itself does with PUBSUB_EMULATOR_HOST, for a host named by a control too.
                self._client = PublisherClient(
                    client_options={"api_endpoint": self._host}, credentials=AnonymousCredentials())
            return self._client
