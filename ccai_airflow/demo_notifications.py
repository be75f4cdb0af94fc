"""``make demo ARGS="--pubsub"``: Google's Pub/Sub emulator beside the Insights emulator, the location's notifications
pointed at a topic of it, and what arrived on its subscription printed after the run.

The demo's DAG runs unchanged; its tasks see ``PUBSUB_EMULATOR_HOST``. The messages are counted by their
``trigger`` attribute (the Insights emulator's, docs/emulator.md): Google documents no payload, so nothing else of
a message is read.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections import Counter

from ccai_airflow.emulator.pubsub import INSTALL_HINT, PubSubEmulator, find_pubsub_emulator

__all__ = ["SUBSCRIPTION_ID", "TOPIC_ID", "DemoNotifications"]

TOPIC_ID = "insights-demo"
SUBSCRIPTION_ID = "insights-demo-airflow"
LOCATION = "us-central1"


class DemoNotifications:
    """Start with :meth:`start` (the Pub/Sub emulator, the topic, its subscription), point the location's
    settings at it with :meth:`notify`, read the messages with :meth:`pulled`, end with :meth:`stop`."""

    def __init__(self, project: str) -> None:
        if find_pubsub_emulator() is None:
            raise SystemExit(f"Invalid --pubsub: {INSTALL_HINT}.")
        self.project = project
        self.topic = f"projects/{project}/topics/{TOPIC_ID}"
        self.subscription = f"projects/{project}/subscriptions/{SUBSCRIPTION_ID}"
        self.pubsub = PubSubEmulator()

    @property
    def host(self) -> str:
        return self.pubsub.host

    def start(self) -> DemoNotifications:
        """Pub/Sub up, the topic and its subscription made. Before the Insights emulator starts: its publisher
        reads ``PUBSUB_EMULATOR_HOST`` from the environment it inherits."""
        from google.cloud import pubsub_v1

        self.pubsub.start()
        os.environ["PUBSUB_EMULATOR_HOST"] = self.pubsub.host  # Google's clients read it when they are made
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        try:
            publisher.create_topic(name=self.topic)
            subscriber.create_subscription(name=self.subscription, topic=self.topic)
        finally:
            publisher.stop()
            subscriber.close()
        return self

    def notify(self, insights_rest_url: str) -> None:
        """Every Insights trigger of the location sent to the topic, as Google's Pub/Sub guide sets it."""
        body = json.dumps({"pubsub_notification_settings": {"all-triggers": self.topic}}).encode()
        request = urllib.request.Request(
            f"{insights_rest_url}/v1/projects/{self.project}/locations/{LOCATION}/settings"
            "?updateMask=pubsub_notification_settings",
            data=body, method="PATCH", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30):
            pass

    def pulled(self) -> Counter[str]:
        """The messages waiting on the subscription, acknowledged, counted by trigger."""
        from google.api_core.exceptions import DeadlineExceeded
        from google.cloud import pubsub_v1

        counts: Counter[str] = Counter()
        subscriber = pubsub_v1.SubscriberClient()
        try:
            while True:
                try:  # a pull that waits: one that returns at once may come back empty while messages wait
                    answer = subscriber.pull(subscription=self.subscription, max_messages=1000, timeout=5)
                except DeadlineExceeded:
                    return counts
                if not answer.received_messages:
                    return counts
                subscriber.acknowledge(subscription=self.subscription,
                                       ack_ids=[m.ack_id for m in answer.received_messages])
                counts.update(m.message.attributes.get("trigger", "?") for m in answer.received_messages)
        finally:
            subscriber.close()

    def summary(self, counts: Counter[str]) -> list[str]:
        """What the demo prints: the topic and what came, by trigger."""
        total = sum(counts.values())
        lines = [f"  Pub/Sub (Google's emulator, {self.host}): {total} notification(s) on {self.topic}"
                 + ("" if total else " (this DAG's operations are not among the ones Insights notifies for; "
                    "try --dag-id ccai_bulk_analyze_and_export)")]
        lines += [f"    {trigger}: {count}" for trigger, count in sorted(counts.items())]
        return lines

    def stop(self) -> None:
        self.pubsub.stop()
