"""Google's Pub/Sub emulator from the tests' side: topics, subscriptions and pulls through Google's own client."""

from __future__ import annotations

import json
import time
from typing import Any

PROJECT = "test-project"


class PubSub:
    """Topics and subscriptions on the Pub/Sub emulator, through Google's client (PUBSUB_EMULATOR_HOST)."""

    def __init__(self) -> None:
        from google.cloud import pubsub_v1

        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()
        self._count = 0

    def topic(self) -> tuple[str, str]:
        """A new topic and a subscription of it: (topic, subscription)."""
        self._count += 1
        suffix = f"{time.monotonic_ns()}-{self._count}"
        topic = self.publisher.topic_path(PROJECT, f"insights-{suffix}")
        subscription = self.subscriber.subscription_path(PROJECT, f"sub-{suffix}")
        self.publisher.create_topic(name=topic)
        self.subscriber.create_subscription(name=subscription, topic=topic)
        return topic, subscription

    def pull(self, subscription: str, expect: int, wait_s: float = 10.0) -> list[dict[str, Any]]:
        """The messages of ``subscription`` (acknowledged) once ``expect`` came, or all that came in ``wait_s``."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait_s
        while len(found) < expect and time.monotonic() < deadline:
            answer = self.subscriber.pull(subscription=subscription, max_messages=100, timeout=5,
                                          return_immediately=True)
            if answer.received_messages:
                self.subscriber.acknowledge(subscription=subscription,
                                            ack_ids=[m.ack_id for m in answer.received_messages])
            found += [{"data": json.loads(m.message.data), "attributes": dict(m.message.attributes)}
                      for m in answer.received_messages]
            time.sleep(0.1)
        return found

    def close(self) -> None:
        self.publisher.stop()
        self.subscriber.close()
